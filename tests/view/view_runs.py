"""Runs for the viewer's tests: a real small sweep, and a Value-Spectrum run directory.

The sweep is real: `SweepRunner` on the shared local Ray, the HTTP environment over the
test corpus, the offline MiniLM viewer, a learning feed and its frozen twin (so the summary
has a contrast), the simple and ISQ strategies.

The spectrum run is assembled from real parts without a vector store (building one takes
minutes here): a stand-in retrieval (the first corpus items, not nearest neighbours: a test
double of retrieval, named as such in its rows' `platform`), then the real arms
(`answer_items` with the `random:0.5` and `always:yes` CPU controls and a caption + LLM
pair), the real results table, summary and report figures.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
VSPEC = [sys.executable, "-m", "valuespectrum.cli"]
SHOTS = ROOT / "docs" / "images"
SCROLLS, WINDOW, TRIALS = 10, 5, 2


def real_sweep(out: Path, corpus_dir: Path) -> Path:
    """Run a 2 x 2 cell sweep (2 trials x 10 scrolls each) into `out`; returns `out`."""
    from valuespectrum.sweep.driver import SweepRunner
    from valuespectrum.sweep.spec import load_sweep_spec

    spec_path = out.parent / f"{out.name}.yaml"
    spec_path.write_text(yaml.safe_dump({
        "kind": "sweep", "name": out.name, "persona_dir": str(ROOT / "personas"),
        "personas": ["pet_owner"], "models": ["embed:minilm"],
        "platforms": ["tiktok", "tiktok-frozen"], "strategies": ["simple", "isq"],
        "environment": "http", "trials": TRIALS, "scrolls": SCROLLS, "window": WINDOW,
        "seed": 1, "concurrency": 4, "corpus": str(corpus_dir), "cache_dir": None,
        "output": str(out)}, sort_keys=False))
    outcome = SweepRunner(load_sweep_spec(spec_path)).run()
    assert outcome.fatal is None and set(outcome.statuses) == {"done"}, outcome
    return out


def spectrum_run(out: Path, corpus) -> Path:
    """A Value-Spectrum run directory answered by CPU controls; returns `out`."""
    from valuespectrum.models.spec import ModelSpec
    from valuespectrum.report.spectrum import write_spectrum_report, write_summary
    from valuespectrum.runs import Plan, RunDirectory, arrow_schema, write_table
    from valuespectrum.spectrum.arms import (
        Arm,
        ArmConfig,
        ResultRow,
        SpectrumItem,
        answer_items,
        load_images,
    )
    from valuespectrum.strategies import load_prompts
    from valuespectrum.sweep.driver import prompt_context
    from valuespectrum.values import load_values

    items_all = corpus.items
    items = []
    for n, (value, keyword) in enumerate(load_values().pairs()):
        for rank in range(2):
            it = items_all[(2 * n + rank) % len(items_all)]
            items.append(SpectrumItem(
                value=value, keyword=keyword, rank=rank, image_id=it.item_id,
                path=str(corpus.image_path(it.item_id)), caption=it.caption,
                platform="stand-in retrieval (test double)", distance=0.5 + rank / 10))
    coin = ModelSpec.parse({"spec": "random:0.5", "name": "coin"})
    yes = ModelSpec.parse({"spec": "always:yes", "name": "yes-man"})
    arms = [Arm(label="coin", strategy="plain", model=coin, vlm_label="coin"),
            Arm(label="yes-man", strategy="plain", model=yes, vlm_label="yes-man"),
            Arm(label="coin+yes-man", strategy="caption_llm", model=coin, text_model=yes,
                vlm_label="coin")]
    run = RunDirectory(out, "spectrum")
    run.acquire()
    try:
        prompts = load_prompts()
        spec = {"kind": "spectrum", "name": out.name, "embedder": "minilm", "top_k": 2,
                "followups": False, "models": [coin.model_dump(mode="json"),
                                               yes.model_dump(mode="json")],
                "caption_llm": [{"vlm": coin.model_dump(mode="json"),
                                 "llm": yes.model_dump(mode="json")}]}
        run.begin(spec, Plan(context={"prompts": prompt_context(prompts)}, entries={}))
        write_table(out / "retrieval.parquet", [i.model_dump(mode="json") for i in items],
                    arrow_schema(SpectrumItem))
        images = load_images([i.path for i in items], 256)
        cfg = ArmConfig(run_name=out.name, followups=False, concurrency=4, prompts=prompts)

        async def answer(arm: Arm) -> list[dict]:
            return [r.model_dump(mode="json") async for r in answer_items(arm, items, images, cfg)]

        rows = []
        for arm in arms:
            got = asyncio.run(answer(arm))
            run.journal(arm.label).append(*got)
            rows += got
        write_table(out / "results.parquet", rows, arrow_schema(ResultRow))
        write_summary(out, arms, {})
        write_spectrum_report(out)
    finally:
        run.release()
    return out


def start_viewer(paths: list[Path]) -> tuple[subprocess.Popen, str]:
    """`vspec view PATHS --port 0` as a user starts it; returns the process and its URL."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    errors = tempfile.TemporaryFile("w+")  # a file, not a pipe: a chatty server never blocks
    proc = subprocess.Popen([*VSPEC, "view", *map(str, paths), "--port", "0"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=errors, text=True)
    line = proc.stdout.readline()  # the first line names the URL (or the process died)
    m = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if m is None:
        proc.kill()
        proc.wait()
        errors.seek(0)
        raise AssertionError(f"vspec view did not start: {line}{errors.read()}")
    return proc, m.group(0)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def doc_shot(page, name: str) -> None:
    """Save a screenshot for docs/viewer.md when VSPEC_DOC_SCREENSHOTS=1 (never in CI)."""
    if os.environ.get("VSPEC_DOC_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"view-{name}.png"))


def synthetic_sweep(out: Path, trials: int = 2, scrolls: int = 6) -> Path:
    """A small finished sweep written with the real record types and the real summary.

    Decisions alternate by step; every step has a tiny JPEG screenshot. Fast, for the tests
    that need a run directory but not a real sweep.
    """
    import io

    from PIL import Image

    from valuespectrum.runs import Plan, RunDirectory
    from valuespectrum.strategies import load_prompts
    from valuespectrum.sweep.driver import prompt_context
    from valuespectrum.sweep.results import SweepResults, TrialRecord
    from valuespectrum.sweep.spec import expand, sweep_spec_from_data
    from valuespectrum.sweep.summary import write_summary
    from valuespectrum.types import StepRecord, screenshot_path

    spec = sweep_spec_from_data({
        "name": out.name, "persona_dir": str(ROOT / "personas"), "personas": ["pet_owner"],
        "models": ["random:0.5"], "platforms": ["tiktok", "tiktok-frozen"],
        "strategies": ["simple"], "trials": trials, "scrolls": scrolls, "window": scrolls // 2,
        "environment": "http"}, ROOT, "synthetic")
    planned = expand(spec)
    buf = io.BytesIO()
    Image.new("RGB", (39, 84), (200, 120, 40)).save(buf, format="JPEG")
    run = RunDirectory(out, "sweep")
    run.acquire()
    try:
        run.begin(spec.saved(), Plan(context={"prompts": prompt_context(load_prompts())},
                                     entries={t.trial_id: "synthetic" for t in planned}))
        results = SweepResults(run)
        for t in planned:
            for s in range(scrolls):
                results.stage_step(StepRecord(
                    trial_id=t.trial_id, cell=t.cell, persona="pet_owner", model=t.model.label,
                    platform=t.platform.label, strategy="simple", step=s,
                    decision=(s + t.index) % 2,
                    answers='{"interested": "%s"}' % ("Yes." if (s + t.index) % 2 else "No."),
                    item_id=f"oc-{s}", value_match=s % 3 == 0, relevant=s % 2 == 0,
                    prompt_version="vs-prompts-2",
                    screenshot_path=screenshot_path(t.trial_id, s)), buf.getvalue())
            results.finish_trial(TrialRecord(
                trial_id=t.trial_id, cell=t.cell, persona="pet_owner", model=t.model.label,
                platform=t.platform.label, strategy="simple", index=t.index, seed=t.seed,
                status="done", steps=scrolls))
        ids = [t.trial_id for t in planned]
        results.consolidate(ids)
        write_summary(out, spec, ids)
    finally:
        run.release()
    return out

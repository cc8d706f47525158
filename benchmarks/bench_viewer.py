"""How `vspec view` copes with a large run: 10 cells x 100 trials x 100 scrolls (100,000 steps).

Writes a synthetic finished sweep with the real record types and the real pipeline code
(journals as the driver writes them, every step with a screenshot file, `consolidate` for
steps.parquet and trials.parquet, `write_summary` for summary.json), starts `vspec view` on
it in a subprocess, and times over HTTP: the runs page, the run page, a cell page (its chart
reads the cell's 10,000 steps), and paging through the filmstrips of 20 trials. Then the same
with the run read as in progress (from its 1,000 journals). Prints the server's memory after
the first page and its peak after paging (VmHWM): paging through trials must not grow it
toward the size of the run. Goals: the run opens (server start + runs page) in under 2 s.

    python benchmarks/bench_viewer.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = ("tiktok", "tiktok-frozen", "youtube", "youtube-frozen", "random")
STRATEGIES = ("simple", "isq")
TRIALS, SCROLLS, WINDOW = 100, 100, 50


def write_run(root: Path) -> None:
    """The synthetic run (see the module docstring); answers drift up on learning feeds."""
    import io

    from PIL import Image

    from valuespectrum.runs import Plan, RunDirectory
    from valuespectrum.strategies import load_prompts
    from valuespectrum.sweep.driver import prompt_context
    from valuespectrum.sweep.results import SweepResults, TrialRecord
    from valuespectrum.sweep.spec import sweep_spec_from_data
    from valuespectrum.sweep.summary import write_summary
    from valuespectrum.types import StepRecord

    spec = sweep_spec_from_data({
        "name": root.name, "persona_dir": str(ROOT / "personas"), "personas": ["pet_owner"],
        "models": ["embed:minilm"], "platforms": list(PLATFORMS), "strategies": list(STRATEGIES),
        "trials": TRIALS, "scrolls": SCROLLS, "window": WINDOW, "environment": "http"},
        ROOT, "bench")
    buf = io.BytesIO()
    Image.new("RGB", (390, 844), (236, 232, 224)).save(buf, format="JPEG", quality=80)
    rng = np.random.default_rng(0)
    run = RunDirectory(root, "sweep")
    run.acquire()
    results = SweepResults(run)
    ids = []
    try:
        run.begin(spec.saved(), Plan(context={"prompts": prompt_context(load_prompts())},
                                     entries={}))
        for platform in PLATFORMS:
            rise = 0.0 if platform.endswith("frozen") or platform == "random" else 0.2
            p = 0.25 + rise * np.linspace(0, 1, SCROLLS)
            for strategy in STRATEGIES:
                cell = f"pet_owner|embed-minilm|{platform}|{strategy}"
                for i in range(TRIALS):
                    tid = f"pet_owner.embed-minilm.{platform}.{strategy}.{i:03d}"
                    ids.append(tid)
                    yes = rng.random(SCROLLS) < p
                    folder = results.screens_dir / tid
                    folder.mkdir(parents=True, exist_ok=True)
                    rows = []
                    first = folder / "0000.jpg"
                    first.write_bytes(buf.getvalue())
                    for s in range(SCROLLS):
                        if s:  # one image per trial, hard-linked: 100,000 files, little disk
                            os.link(first, folder / f"{s:04d}.jpg")
                        rows.append(StepRecord(
                            trial_id=tid, cell=cell, persona="pet_owner", model="embed-minilm",
                            platform=platform, strategy=strategy, step=s, decision=int(yes[s]),
                            item_id=f"oc-{rng.integers(8000):05d}", category="animals",
                            value_tags=("benevolence",) if rng.random() < 0.2 else (),
                            answers='{"interested": "%s"}' % ("Yes." if yes[s] else "No."),
                            prompt_version="vs-prompts-2", latency_s=0.1,
                            screenshot_path=f"screens/{tid}/{s:04d}.jpg"
                        ).model_dump(mode="json"))
                    run.journal(tid).append(*rows)
                    results.finish_trial(TrialRecord(
                        trial_id=tid, cell=cell, persona="pet_owner", model="embed-minilm",
                        platform=platform, strategy=strategy, index=i, seed=i, status="done",
                        steps=SCROLLS))
        results.consolidate(ids)
        write_summary(root, spec, ids)
    finally:
        run.release()


def start(run_dir: Path) -> tuple[subprocess.Popen, str, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "valuespectrum.cli", "view", str(run_dir),
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    line = proc.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if m is None:
        proc.kill()
        raise SystemExit(f"vspec view did not start: {line}")
    return proc, m.group(0), time.perf_counter() - t0


def memory_mb(pid: int, field: str = "VmHWM") -> float:
    """The process's peak (VmHWM) or current (VmRSS) resident memory."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(run_dir: Path, label: str) -> None:
    import httpx

    proc, url, ready = start(run_dir)
    rid = run_dir.name
    try:
        with httpx.Client(base_url=url, timeout=120) as http:
            def get(path: str) -> float:
                t0 = time.perf_counter()
                r = http.get(path)
                r.raise_for_status()
                return time.perf_counter() - t0

            first = get("/")
            after_first = memory_mb(proc.pid, "VmRSS")
            run = get(f"/run/{rid}")
            cell = get(f"/run/{rid}/cell?id={quote('pet_owner|embed-minilm|tiktok|isq')}")
            pages = []
            for k in range(20):
                platform = PLATFORMS[k % len(PLATFORMS)]
                tid = f"pet_owner.embed-minilm.{platform}.simple.{k * 5:03d}"
                pages += [get(f"/run/{rid}/trial/{tid}"), get(f"/run/{rid}/trial/{tid}?page=1")]
            step = get(f"/run/{rid}/trial/pet_owner.embed-minilm.tiktok.isq.042/step/57")
        print(f"{label}: server ready {ready:.2f} s after start (Python imports included); "
              f"runs page {first:.2f} s; run page {run:.2f} s; cell page {cell:.2f} s; "
              f"filmstrip pages (40, 20 trials) median {statistics.median(pages):.3f} s, "
              f"max {max(pages):.3f} s; step page {step:.3f} s; server memory after the runs "
              f"page {after_first:.0f} MB, peak after paging {memory_mb(proc.pid):.0f} MB")
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="write the run here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = (args.keep or Path(tmp)) / "bench-100k"
        if not (run_dir / "summary.json").exists():
            t0 = time.perf_counter()
            write_run(run_dir)
            print(f"wrote a run of {len(PLATFORMS) * len(STRATEGIES) * TRIALS * SCROLLS:,} steps "
                  f"in {time.perf_counter() - t0:.0f} s ({run_dir})")
        measure(run_dir, "finished (Parquet)")
        journal = next((run_dir / "journal").glob("pet_owner*.jsonl"))
        os.utime(journal)  # a journal newer than the tables: read as a run in progress
        measure(run_dir, "in progress (journals)")
        os.utime(run_dir / "steps.parquet")
        os.utime(run_dir / "trials.parquet")


if __name__ == "__main__":
    main()

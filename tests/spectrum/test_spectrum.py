"""A full Value-Spectrum run on a small openclipart corpus: Table 1, figures, resume."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from PIL import Image

from valuespectrum.config import ConfigError
from valuespectrum.report.spectrum import table1_markdown, write_spectrum_report
from valuespectrum.runs import PlanChanged
from valuespectrum.spectrum.run import SpectrumRun
from valuespectrum.spectrum.spec import load_spectrum_spec
from valuespectrum.values import load_values

SCRIPTED = {"spec": "scripted:unused", "name": "scripted",
            "params": {"replies": ["Yes.", "No.", "Hmm.", "Hmm."]}}
FIGURES = ["fig2_abundance.png", "fig5_radar.png", "fig6_ranked_means.png",
           "fig7_std_per_model.png", "fig9_vlm_vs_llm.png"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A 60-image openclipart corpus and a store directory shared by the module's runs."""
    from valuespectrum.feed.sources import build_openclipart

    root = tmp_path_factory.mktemp("spectrum")
    build_openclipart(root / "corpus", limit=60, seed=3)
    return root


def write_spec(world: Path, out: str, **fields) -> Path:
    spec = {"kind": "spectrum", "name": out, "store": "store.db",  # inputs: beside the spec
            "embedder": "minilm", "ingest": {"corpus": "corpus"},
            "top_k": 2, "followups": False, "parallel": "local", "concurrency": 1,
            "cache_dir": None, "output": str(world / "{name}"), **fields}
    path = world / f"{out}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def hand_scores(rows: list[dict], arm: str) -> dict[str, tuple[float, float, int]]:
    """Mean over answered images and population std of per-keyword yes rates."""
    out = {}
    for value in dict.fromkeys(r["value"] for r in rows if r["arm"] == arm):
        mine = [r for r in rows if r["arm"] == arm and r["value"] == value]
        answered = [r["yes"] for r in mine if r["yes"] is not None]
        rates = []
        for kw in dict.fromkeys(r["keyword"] for r in mine):
            a = [r["yes"] for r in mine if r["keyword"] == kw and r["yes"] is not None]
            if a:
                rates.append(sum(a) / len(a))
        out[value] = (sum(answered) / len(answered), statistics.pstdev(rates),
                      len(mine) - len(answered))
    return out


def test_table1_equals_hand_computation_and_all_figures_are_written(world):
    spec = load_spectrum_spec(write_spec(
        world, "scripted-run", models=[SCRIPTED],
        caption_llm=[{"vlm": SCRIPTED, "llm": {"spec": "scripted:No.", "name": "llm-no"}}]))
    summary = SpectrumRun(spec).run(progress=False)
    rows = pq.read_table(spec.output_dir() / "results.parquet").to_pylist()
    n_keywords = len(load_values().pairs())
    assert summary["images_per_arm"] == 2 * n_keywords
    assert [a["label"] for a in summary["arms"]] == ["scripted", "scripted+llm-no"]
    assert sum(r["arm"] == "scripted" for r in rows) == 2 * n_keywords
    # the script makes every third answer unreadable: recorded as null, never as "no"
    invalid = [r for r in rows if r["arm"] == "scripted" and r["yes"] is None]
    assert len(invalid) == pytest.approx(2 * n_keywords / 3, abs=1)
    assert all(r["error"] == "invalid" for r in invalid)
    assert all(json.loads(r["answers"]) for r in rows)

    hand = hand_scores(rows, "scripted")
    got = summary["scores"]["scripted"]
    assert set(hand) == set(got) and len(hand) == 10
    for value, (mean, std, n_invalid) in hand.items():
        assert got[value]["mean"] == pytest.approx(mean, abs=1e-12)
        assert got[value]["std"] == pytest.approx(std, abs=1e-12)
        assert got[value]["invalid"] == n_invalid
    assert all(s["mean"] == 0.0 for s in summary["scores"]["scripted+llm-no"].values())

    report = write_spectrum_report(spec.output_dir())
    text = report.read_text()
    mean, std, _ = hand["hedonism"]
    assert f"| Hedonism | {100 * mean:.0f} ± {100 * std:.0f} |" in text
    for name in FIGURES:
        path = spec.output_dir() / "figures" / name
        assert f"figures/{name}" in text
        with Image.open(path) as im:
            assert im.format == "PNG" and im.width >= 500 and im.height >= 300
    assert yaml.safe_load((spec.output_dir() / "spec.yaml").read_text())["kind"] == "spectrum"
    assert json.loads((spec.output_dir() / "summary.json").read_text())["kind"] == "spectrum"


def test_rerunning_resumes_to_identical_tables_and_the_saved_spec_reruns(world, capsys):
    models = [{"spec": "embed:minilm", "name": "minilm-viewer"},
              {"spec": "random:0.5", "name": "coin"}]
    a = load_spectrum_spec(write_spec(world, "full", models=models, top_k=1, concurrency=4))
    b = load_spectrum_spec(write_spec(world, "resumed", models=models, top_k=1, concurrency=4))
    full = SpectrumRun(a).run(progress=False)
    SpectrumRun(b).run(progress=False)
    # simulate a crash: half of every journal lost, a torn last line, tables gone
    for journal in (b.output_dir() / "journal").glob("*.jsonl"):
        lines = journal.read_text().splitlines(keepends=True)
        journal.write_text("".join(lines[: len(lines) // 2]) + '{"arm": "torn')
    (b.output_dir() / "summary.json").unlink()
    for name in ("results.parquet", "retrieval.parquet"):  # power loss: truncated tables
        path = b.output_dir() / name
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    capsys.readouterr()
    run = SpectrumRun(b)  # rerunning the same spec resumes
    resumed = run.run(progress=True)
    assert set(run.repaired) == {"minilm-viewer", "coin"}  # the torn lines were cut
    said = " ".join(capsys.readouterr().out.split())
    assert "repaired: cut a torn last line from 2 journal(s): coin (" in said
    assert "repaired: retrieval.parquet was unreadable (truncated?); it is retrieved again" in said
    assert "repaired: results.parquet was unreadable (truncated?); it is rebuilt" in said

    def table(root):
        path = root / "results.parquet"
        return pq.read_table(path).drop_columns(["latency_s"]).to_pylist()

    assert table(a.output_dir()) == table(b.output_dir())
    assert len(table(a.output_dir())) == 2 * len(load_values().pairs())
    assert resumed["scores"] == full["scores"] and resumed["complete"]
    assert table1_markdown(*_scores(full)) == table1_markdown(*_scores(resumed))

    # the saved spec reruns as it is, into a new folder, to the same tables
    saved = load_spectrum_spec(b.output_dir() / "spec.yaml")
    again = SpectrumRun(saved, output=world / "again").run(progress=False)
    assert again["scores"] == full["scores"]
    assert table(world / "again") == table(a.output_dir())


def test_a_changed_plan_is_refused_naming_the_change_and_restart_starts_over(world):
    models = [{"spec": "random:0.5", "name": "coin"}]
    first = load_spectrum_spec(write_spec(world, "plan", models=models, top_k=1))
    SpectrumRun(first).run(progress=False)
    changed = load_spectrum_spec(write_spec(world, "plan", models=models, top_k=2))
    with pytest.raises(PlanChanged, match=r"entries? .*Changed: top_k: 1 -> 2"):
        SpectrumRun(changed).run(progress=False)
    redo = SpectrumRun(changed, restart=True).run(progress=False)
    assert redo["images_per_arm"] == 2 * len(load_values().pairs())


def _scores(summary):
    from valuespectrum.report.spectrum import ValueScore

    scores = {a: {v: ValueScore(**s) for v, s in per.items()}
              for a, per in summary["scores"].items()}
    return scores, [a["label"] for a in summary["arms"]]


def test_spec_errors_name_the_file_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: spectrum\nstore: s.db\nmodels: [embed:minilm]\noutput: out\n"
                   "topk: 5\n")
    with pytest.raises(ConfigError) as e:
        load_spectrum_spec(bad)
    assert "bad.yaml:5: topk: unknown field" in str(e.value)
    bad.write_text("kind: spectrum\nstore: s.db\nmodels: [nope:x]\noutput: out\n")
    with pytest.raises(ConfigError, match="unknown provider"):
        load_spectrum_spec(bad)


def test_shipped_specs_load(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    root = Path(__file__).parents[2] / "experiments"
    paper = load_spectrum_spec(root / "spectrum.yaml")
    demo = load_spectrum_spec(root / "spectrum-demo.yaml")
    assert paper.top_k == 5 and len(paper.models) == 6 and len(paper.caption_llm) == 3
    assert demo.embedder == "minilm" and all(m.is_baseline for m in demo.models)


@pytest.mark.slow
def test_models_run_in_parallel_on_ray_with_the_same_answers(world, ray_session):
    models = [{"spec": "embed:minilm", "name": "minilm-viewer"},
              {"spec": "random:0.5", "name": "coin"}]
    local = load_spectrum_spec(write_spec(world, "local1", models=models, top_k=1))
    on_ray = load_spectrum_spec(write_spec(world, "ray1", models=models, top_k=1,
                                           parallel="ray"))
    a = SpectrumRun(local).run(progress=False)
    b = SpectrumRun(on_ray).run(progress=False)
    assert a["scores"] == b["scores"] and b["complete"]


def test_missing_api_key_fails_before_any_work(world, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    spec = load_spectrum_spec(write_spec(world, "keys", models=["openai:gpt-4o"]))
    with pytest.raises(ConfigError, match=r"openai:gpt-4o needs \$OPENAI_API_KEY"):
        SpectrumRun(spec).run(progress=False)
    assert not (spec.output_dir() / "retrieval.parquet").exists()


def test_filters_matching_nothing_are_an_error(world):
    spec = load_spectrum_spec(write_spec(world, "nothing", models=["random:0.5"],
                                         filters={"platforms": ["nowhere"]}))
    with pytest.raises(ConfigError, match="no screenshot matches the filters"):
        SpectrumRun(spec).run(progress=False)


@pytest.mark.slow
def test_ingest_then_ray_arms_start_reliably_in_one_process_several_times(world, tmp_path):
    """Each `vspec run` ingests into a fresh store and runs its arms on a fresh local Ray.

    Before the store moved into a StoreActor, a Ray started after the ingest in the same
    process failed in about 1 run in 3 (a forked GCS server aborting; docs/cluster.md).
    """
    import shutil

    from vspec_helpers import run_vspec

    models = [{"spec": "random:0.5", "name": "coin"}]
    shutil.copytree(world / "corpus", tmp_path / "corpus")
    scores = []
    for i in range(3):
        path = write_spec(tmp_path, f"rep{i}", models=models, top_k=1, parallel="ray",
                          store=f"store{i}.db")
        proc = run_vspec(["run", str(path), "--no-report"], tmp_path, timeout=600)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert "timed out" not in proc.stderr and "return code -6" not in proc.stderr
        scores.append(json.loads((tmp_path / f"rep{i}" / "summary.json").read_text())["scores"])
    assert scores[0] == scores[1] == scores[2]


# ---------------------------------------------------------------- faults (the engine's pool)

#: a slow arm (the scripted TEST DOUBLE: 0.15 s per answer, always "Yes.") beside a fast,
#: seeded CPU control, so a fault can land while units are still being answered
SLOW_ARMS = [{"spec": "scripted:unused", "name": "slow",
              "params": {"replies": ["Yes."], "latency_s": 0.15}},
             {"spec": "random:0.5", "name": "coin"}]


def _journaled(root: Path, arm: str) -> int:
    from valuespectrum.runs import read_jsonl

    return len(read_jsonl(root / "journal" / f"{arm}.jsonl"))


def _wait_for(cond, timeout: float, what: str) -> None:
    import time

    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def undisturbed(world):
    spec = load_spectrum_spec(write_spec(world, "undisturbed", models=SLOW_ARMS))
    summary = SpectrumRun(spec).run(progress=False)
    assert summary["complete"]
    return summary


@pytest.mark.slow
@pytest.mark.parametrize("restart", [True, False], ids=["ray-restarts-it", "dead-for-good"])
def test_an_answer_actor_killed_mid_run_is_replaced_and_the_run_completes(
        world, ray_session, undisturbed, restart, caplog):
    import threading

    name = f"killed-{restart}"
    run = SpectrumRun(load_spectrum_spec(write_spec(world, name, models=SLOW_ARMS,
                                                    parallel="ray")))
    killed = []

    def kill() -> None:
        _wait_for(lambda: run.pool is not None and _journaled(run.root, "slow") >= 3, 300,
                  "the slow arm's first answers")
        killed.append(run.pool.actors[0])  # the slow arm's actor (models' order)
        ray_session.kill(run.pool.actors[0], no_restart=not restart)

    fault = threading.Thread(target=kill)
    fault.start()
    summary = run.run(progress=False)
    fault.join()
    assert killed and summary["complete"] and not summary["stopped"]
    assert run.restarts >= 1  # the unit in flight was asked again
    # an actor Ray restarts is waited for and reused; one dead for good is replaced
    assert run.pool.replaced == (0 if restart else 1)
    assert ("gone for good" in caplog.text) == (not restart), caplog.text
    rows = pq.read_table(run.root / "results.parquet").to_pylist()
    keys = [(r["arm"], r["value"], r["keyword"], r["rank"]) for r in rows]
    assert len(keys) == len(set(keys))  # each image answered once per arm, none lost
    assert _scores(summary) == _scores(undisturbed)


@pytest.mark.slow
def test_a_benchmark_whose_driver_is_killed_resumes_to_the_same_table1(world, undisturbed):
    import os
    import signal
    import subprocess

    from vspec_helpers import VSPEC, run_vspec, vspec_env

    spec = write_spec(world, "sigkilled", models=SLOW_ARMS, parallel="ray")
    root = world / "sigkilled"
    proc = subprocess.Popen([*VSPEC, "run", str(spec), "--no-report"], env=vspec_env(world),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:  # kill the driver (and its local Ray) part-way through the slow arm
        _wait_for(lambda: proc.poll() is None and root.exists()
                  and _journaled(root, "slow") >= 5, 300, "answers to be journaled")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = _journaled(root, "slow")
    assert not (root / "summary.json").exists(), "the run ended before it was killed"

    again = run_vspec(["run", str(spec), "--no-report"], world, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    summary = json.loads((root / "summary.json").read_text())
    assert summary["complete"] and _scores(summary) == _scores(undisturbed)
    rows = pq.read_table(root / "results.parquet").to_pylist()
    images = len(pq.read_table(root / "retrieval.parquet"))
    assert len([r for r in rows if r["arm"] == "slow"]) == images > before
    assert len(rows) == 2 * images  # each image answered once per arm
    assert table1_markdown(_scores(summary)[0], ["slow", "coin"]) == \
        table1_markdown(_scores(undisturbed)[0], ["slow", "coin"])

"""A short persona sweep on local Ray with real Chromium, as `vspec run` runs it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from vspec_helpers import VSPEC, run_vspec, vspec_env, write_spec

from valuespectrum.runs import read_jsonl
from valuespectrum.runs import read_table as load_table

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCROLLS, WINDOW, TRIALS = 12, 5, 2
GRID = dict(personas=["pet_owner", "foodie_traveler"], models=["embed:minilm"],
            platforms=["tiktok", "random"], strategies=["simple", "isq"])
N_TRIALS = 2 * 2 * 2 * TRIALS
# columns that must not depend on timing, caching or interruption
STABLE = ("trial_id", "step", "item_id", "category", "value_tags", "value_match", "decision",
          "score", "isq_visual_appeal", "isq_action_desire", "answers", "action", "dwell_s",
          "watched_s", "watch_ratio", "screenshot_path")


def spec_for(tmp: Path, corpus: Path, name: str) -> Path:
    return write_spec(tmp / f"{name}.yaml", name=name, **GRID, environment="playwright",
                      trials=TRIALS, scrolls=SCROLLS, window=WINDOW, seed=3, concurrency=4,
                      corpus=str(corpus), output=str(tmp / name))


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, corpus_dir) -> Path:
    tmp = tmp_path_factory.mktemp("sweep")
    proc = run_vspec(["run", str(spec_for(tmp, corpus_dir, "full")), "--plain"], tmp)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return tmp / "full"


def stable_rows(run_dir: Path) -> list[tuple]:
    return [tuple(r[c] for c in STABLE) for r in load_table(run_dir / "steps.parquet")]


def test_every_scroll_is_recorded_with_its_screenshot(full_run):
    steps = load_table(full_run / "steps.parquet")
    trials = load_table(full_run / "trials.parquet")
    assert len(trials) == N_TRIALS and {t["status"] for t in trials} == {"done"}
    assert len(steps) == N_TRIALS * SCROLLS
    keys = {(r["trial_id"], r["step"]) for r in steps}
    assert keys == {(t["trial_id"], s) for t in trials for s in range(SCROLLS)}
    for r in steps:
        assert r["item_id"] and r["category"]
        assert r["decision"] in (0, 1)
        assert (r["action"] == "stay") == (r["decision"] == 1)
        assert (full_run / r["screenshot_path"]).read_bytes()[:2] == b"\xff\xd8"
    isq = [r for r in steps if r["strategy"] == "isq"]
    assert all(r["isq_visual_appeal"] is not None and r["score"] is not None for r in isq)
    # a viewer never sees the same post twice in a trial
    for t in trials:
        items = [r["item_id"] for r in steps if r["trial_id"] == t["trial_id"]]
        assert len(set(items)) == len(items)


def test_trials_start_round_robin_over_the_cells(full_run):
    """Trial 0 of every cell starts before any trial 1: a stop or a drifting endpoint hits
    every arm alike."""
    trials = sorted(load_table(full_run / "trials.parquet"), key=lambda t: t["started"])
    indices = [t["index"] for t in trials]
    assert indices == sorted(indices) and indices.count(0) == N_TRIALS // TRIALS


def test_i_avg_in_the_summary_equals_a_hand_computation(full_run):
    steps = load_table(full_run / "steps.parquet")
    summary = json.loads((full_run / "summary.json").read_text())
    for g in summary["groups"]:
        increases = []
        for tid in sorted({r["trial_id"] for r in steps if (r["model"], r["platform"], r["strategy"])
                           == (g["model"], g["platform"], g["strategy"])}):
            d = [r["decision"] for r in sorted(steps, key=lambda r: r["step"]) if r["trial_id"] == tid]
            first, last = sum(d[:WINDOW]), sum(d[-WINDOW:])
            if first:
                increases.append((last - first) / first)
        expected = 100 * sum(increases) / len(increases) if increases else None
        assert g["trials"] == TRIALS * 2  # two personas pooled
        if expected is None:
            assert g["i_avg"]["value"] is None
        else:
            assert g["i_avg"]["value"] == pytest.approx(expected, abs=1e-4)
    report = run_vspec(["report", str(full_run)], full_run.parent)
    assert report.returncode == 0, report.stderr
    text = (full_run / "report.md").read_text()
    assert "figures/delta.png" in text and (full_run / "figures" / "delta.png").stat().st_size > 10_000
    assert "I_avg" in text  # the paper's number is still reported, beside Δ


def test_killed_runner_resumes_to_the_same_tables(full_run, tmp_path, corpus_dir):
    spec = spec_for(tmp_path, corpus_dir, "resumed")
    run_dir = tmp_path / "resumed"
    proc = subprocess.Popen([*VSPEC, "run", str(spec), "--plain"], env=vspec_env(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)

    trials_journal = run_dir / "journal" / "_trials.jsonl"

    def partial() -> list[Path]:
        return [p for p in (run_dir / "journal").glob("*.jsonl")
                if p != trials_journal and 0 < len(read_jsonl(p)) < SCROLLS - 2]

    deadline = time.time() + 600
    try:  # kill it once some trials are done and another is part-way through
        while time.time() < deadline and not (
            len(read_jsonl(trials_journal)) >= 2 and partial()
        ):
            assert proc.poll() is None, "runner ended before it could be interrupted"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished = len(read_jsonl(trials_journal))
    assert 2 <= finished < N_TRIALS
    assert partial(), "expected a trial interrupted mid-way"

    again = run_vspec(["run", str(spec), "--plain"], tmp_path)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"resuming: {finished} of {N_TRIALS} trials already done" in again.stdout
    assert stable_rows(run_dir) == stable_rows(full_run)
    assert len(load_table(run_dir / "trials.parquet")) == N_TRIALS
    shutil.rmtree(run_dir / "screens")  # keep the test's disk use small


def test_the_saved_spec_reruns_into_a_new_folder_with_identical_tables(full_run, tmp_path):
    proc = run_vspec(["run", str(full_run / "spec.yaml"), "--plain", "--no-report",
                      "--output", str(tmp_path / "again")], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert stable_rows(tmp_path / "again") == stable_rows(full_run)
    shutil.rmtree(tmp_path / "again" / "screens")


def test_a_second_runner_on_the_same_directory_is_refused(full_run, tmp_path):
    from valuespectrum.runs import RunDirectory

    rd = RunDirectory(tmp_path / "locked", "sweep")
    rd.acquire()
    spec = write_spec(tmp_path / "l.yaml", name="l", **GRID, trials=1, scrolls=5, window=2,
                      output=str(tmp_path / "locked"))
    proc = run_vspec(["run", str(spec), "--plain"], tmp_path, timeout=120)
    rd.release()
    assert proc.returncode == 2
    assert f"run directory {tmp_path / 'locked'} is being written by pid" in proc.stderr

import multiprocessing as mp

import pytest

from valuespectrum.experiments.results import (
    RunDirectory,
    RunLockedError,
    TrialRecord,
    load_table,
    read_jsonl,
)
from valuespectrum.types import StepRecord


def rec(tid: str, step: int, decision: int | None = 1) -> StepRecord:
    return StepRecord(trial_id=tid, cell="c", persona="p", model="m", platform="tiktok",
                      strategy="simple", step=step, decision=decision)


def trial(tid: str, status: str = "done", steps: int = 2) -> TrialRecord:
    return TrialRecord(trial_id=tid, cell="c", persona="p", model="m", platform="tiktok",
                       strategy="simple", index=0, seed=1, status=status, steps=steps)


def _try_lock(path, q):
    try:
        RunDirectory(path).acquire()
        q.put("acquired")
    except RunLockedError as e:
        q.put(str(e))


def test_second_writer_is_refused_with_the_holder_named(tmp_path):
    rd = RunDirectory(tmp_path / "run")
    rd.acquire()
    q = mp.get_context("spawn").Queue()
    p = mp.get_context("spawn").Process(target=_try_lock, args=(tmp_path / "run", q))
    p.start()
    p.join(30)
    msg = q.get(timeout=5)
    assert "is being written by pid" in msg
    rd.release()


def test_torn_last_line_is_ignored_and_resume_skips_done_trials(tmp_path):
    rd = RunDirectory(tmp_path)
    rd.acquire()
    rd.start_trial("a")
    rd.append_step(rec("a", 0))
    rd.append_step(rec("a", 1, None), jpeg=b"\xff\xd8fakejpeg")
    rd.finish_trial(trial("a"))
    rd.start_trial("b")
    rd.append_step(rec("b", 0))
    with rd.journal_path("b").open("a") as f:  # a crash in the middle of writing a line
        f.write('{"trial_id": "b", "st')
    assert len(read_jsonl(rd.journal_path("b"))) == 1
    assert rd.completed() == {"a"}
    # a rerun redoes "b" from scratch
    rd.start_trial("b")
    assert not rd.journal_path("b").exists()
    rows = rd.step_rows()
    assert [(r["trial_id"], r["step"]) for r in rows] == [("a", 0), ("a", 1)]
    assert rows[1]["screenshot_path"] == "screens/a/0001.jpg"
    assert (tmp_path / "screens/a/0001.jpg").read_bytes().startswith(b"\xff\xd8")


def test_done_trial_with_missing_steps_is_not_complete(tmp_path):
    rd = RunDirectory(tmp_path)
    rd.acquire()
    rd.append_step(rec("a", 0))
    rd.finish_trial(trial("a", steps=2))
    assert rd.completed() == set()


def test_consolidate_writes_typed_tables_with_invalid_kept(tmp_path):
    rd = RunDirectory(tmp_path)
    rd.acquire()
    rd.append_step(rec("a", 1, None))
    rd.append_step(rec("a", 0, 0))
    rd.finish_trial(trial("a", "failed"))
    steps_p, trials_p = rd.consolidate()
    steps = load_table(steps_p)
    assert [r["step"] for r in steps] == [0, 1]
    assert [r["decision"] for r in steps] == [0, None]
    assert load_table(trials_p)[0]["status"] == "failed"


@pytest.mark.parametrize("n", [0])
def test_empty_run_consolidates(tmp_path, n):
    rd = RunDirectory(tmp_path)
    rd.acquire()
    steps_p, _ = rd.consolidate()
    assert load_table(steps_p) == []

"""A sweep's records in its run directory: journals, screenshots, resume, tables."""

from pathlib import Path

import pytest

from valuespectrum.runs import RunDirectory, read_table
from valuespectrum.sweep.results import SweepResults, TrialRecord
from valuespectrum.types import StepRecord, screenshot_path


def rec(tid: str, step: int, decision: int | None = 1, shot: bool = False) -> StepRecord:
    return StepRecord(trial_id=tid, cell="c", persona="p", model="m", platform="tiktok",
                      strategy="simple", step=step, decision=decision,
                      screenshot_path=screenshot_path(tid, step) if shot else None)


def trial(tid: str, status: str = "done", steps: int = 2) -> TrialRecord:
    return TrialRecord(trial_id=tid, cell="c", persona="p", model="m", platform="tiktok",
                       strategy="simple", index=0, seed=1, status=status, steps=steps)


@pytest.fixture
def results(tmp_path):
    rd = RunDirectory(tmp_path, "sweep")
    rd.acquire()
    yield SweepResults(rd)
    rd.release()


def test_torn_last_line_is_ignored_and_resume_skips_done_trials(results, tmp_path):
    results.start_trial("a")
    results.stage_step(rec("a", 0))
    results.stage_step(rec("a", 1, None, shot=True), jpeg=b"\xff\xd8fakejpeg")
    results.finish_trial(trial("a"))  # commits the staged steps first
    results.start_trial("b")
    results.stage_step(rec("b", 0))
    results.commit()
    journal = results.run.journal("b")
    with journal.path.open("a") as f:  # a crash in the middle of writing a line
        f.write('{"trial_id": "b", "st')
    assert len(journal.rows()) == 1
    assert results.completed() == {"a"}
    assert results.repair() == {"b": len('{"trial_id": "b", "st')}
    # a rerun redoes "b" from scratch
    results.start_trial("b")
    assert not journal.path.exists()
    rows = results.step_rows()
    assert [(r["trial_id"], r["step"]) for r in rows] == [("a", 0), ("a", 1)]
    assert rows[1]["screenshot_path"] == "screens/a/0001.jpg"
    assert (tmp_path / "screens/a/0001.jpg").read_bytes().startswith(b"\xff\xd8")


def test_done_trial_with_missing_steps_is_not_complete(results):
    results.stage_step(rec("a", 0))
    results.finish_trial(trial("a", steps=2))
    assert results.completed() == set()


def test_consolidate_writes_typed_tables_with_invalid_kept(results):
    results.stage_step(rec("a", 1, None))
    results.stage_step(rec("a", 0, 0))
    results.finish_trial(trial("a", "failed"))
    steps_p, trials_p = results.consolidate(["a"])
    steps = read_table(steps_p)
    assert [r["step"] for r in steps] == [0, 1]
    assert [r["decision"] for r in steps] == [0, None]
    assert {r["trial_status"] for r in steps} == {"failed"}
    assert read_table(trials_p)[0]["status"] == "failed"


def test_planned_trials_without_records_are_unfinished_and_others_left_out(results):
    results.stage_step(rec("a", 0))
    results.stage_step(rec("old", 0))  # a trial of an earlier plan
    steps_p, trials_p = results.consolidate(["a", "b"])
    assert [(r["trial_id"], r["trial_status"]) for r in read_table(steps_p)] == [("a", "unfinished")]
    assert read_table(trials_p) == []


def test_group_commit_staged_steps_reach_disk_before_their_trial_record(results, tmp_path):
    results.start_trial("a")
    results.stage_step(rec("a", 0))
    staged = results.stage_step(rec("a", 1, shot=True), jpeg=b"\xff\xd8staged")
    assert staged.screenshot_path == "screens/a/0001.jpg"
    # staged, not yet committed: a crash now loses them, and nothing says the trial is done
    assert results.staged() == 2 and results.step_rows() == []
    assert not (tmp_path / "screens/a/0001.jpg").exists()
    results.finish_trial(trial("a"))  # commits the steps first, then records the trial
    assert results.staged() == 0
    assert [r["step"] for r in results.step_rows()] == [0, 1]
    assert (tmp_path / "screens/a/0001.jpg").read_bytes() == b"\xff\xd8staged"
    assert results.completed() == {"a"}


def test_a_restarted_trial_drops_its_staged_steps(results):
    results.stage_step(rec("a", 0))
    results.start_trial("a")  # the trial starts over: its staged steps are forgotten
    results.stage_step(rec("a", 0, 0))
    assert results.commit() == 1
    assert [r["decision"] for r in results.step_rows()] == [0]


def test_a_screenshot_and_its_path_travel_together(results):
    """The agent names where its screenshot goes; the run directory refuses a mismatch
    rather than store a picture no row points to, or a row pointing at nothing."""
    with pytest.raises(ValueError, match="step 1 of trial a: a screenshot but no"):
        results.stage_step(rec("a", 1), jpeg=b"\xff\xd8")
    with pytest.raises(ValueError, match="screenshot_path 'screens/a/0001.jpg' but no"):
        results.stage_step(rec("a", 1, shot=True))
    assert results.staged() == 0


def test_the_agent_records_each_posts_relevance_and_steps_parquet_keeps_it(results):
    """Relevance is set by the agent where category and value tags are, from the post's
    ground truth in the observation and the persona's labels, and reaches steps.parquet as a
    boolean column (null: no labels, or a post the feed does not know)."""
    from pathlib import Path

    import pyarrow.parquet as pq

    from valuespectrum.agents.viewer import StepOutcome, ViewerAgent, step_record
    from valuespectrum.personas import PersonaLibrary
    from valuespectrum.types import Decision, FeedItem, Observation, Skip, StepResult

    def post(item_id: str, path: str, caption: str, tags=()) -> FeedItem:
        return FeedItem(item_id=item_id, image_path=f"images/{path}", caption=caption,
                        creator="@c", category=path.split("/")[0], duration_s=10,
                        posted="2024-08-01", popularity=0.5, value_tags=tags)

    posts = {p.item_id: p for p in (post("dog", "animals/mammals/dogs/d.png", "Dog",
                                         ("benevolence",)),
                                    post("cone", "food/desserts/c.png", "Ice Cream Cone"))}
    pet = PersonaLibrary(Path(__file__).resolve().parents[2] / "personas").get("pet_owner")
    assert "benevolence" in pet.values
    unlabelled = pet.model_copy(update={"relevant": None})
    out = []
    for step, (item_id, who) in enumerate([("dog", pet), ("cone", pet), ("dog", unlabelled),
                                           ("gone", pet)]):
        obs = Observation(screenshot_png=b"", image_format="none", item_id=item_id,
                          ground_truth=posts.get(item_id))
        agent = ViewerAgent(who, backend=None, strategy=None, env=None)
        matches, relevant = agent.judge(obs)
        outcome = StepOutcome(step, obs, Decision(yes=False), Skip(),
                              StepResult(observation=obs, watched_s=0, watch_ratio=0), 0.0,
                              value_match=matches, relevant=relevant)
        out.append(step_record(outcome, trial_id="a", cell="c", persona=who.name, model="m",
                               platform="tiktok", strategy="simple"))
    assert [r.relevant for r in out] == [True, False, None, None]
    assert [r.value_match for r in out] == [True, False, True, None]
    assert [r.category for r in out] == ["animals", "food", "animals", None]
    assert [r.value_tags for r in out] == [("benevolence",), (), ("benevolence",), ()]
    for r in out:
        results.stage_step(r)
    results.finish_trial(trial("a", steps=4))
    steps_p, _ = results.consolidate(["a"])
    table = pq.read_table(steps_p)
    assert str(table.schema.field("relevant").type) == "bool"
    assert table.column("relevant").to_pylist() == [True, False, None, None]
    assert table.column("value_match").to_pylist() == [True, False, True, None]


def test_a_trials_strategy_and_feed_params_land_in_trials_parquet_as_json(results, tmp_path):
    import json

    results.start_trial("a")
    results.finish_trial(trial("a", steps=0).model_copy(update={
        "strategy": "isq", "strategy_params": {"mode": "turns"}, "feed": "tiktok",
        "feed_params": {"top_k": 8, "warmup_views": 10.0}}))
    # a trial recorded before the params were (an older run resumed): no params, not {}
    results.run.journal("_trials").append({**trial("b", steps=0).model_dump(mode="json"),
                                           **dict.fromkeys(("strategy_params", "feed",
                                                            "feed_params"))})
    results.consolidate(["a", "b"])
    rows = {r["trial_id"]: r for r in read_table(tmp_path / "trials.parquet")}
    assert json.loads(rows["a"]["strategy_params"]) == {"mode": "turns"}
    assert (rows["a"]["feed"], json.loads(rows["a"]["feed_params"])["warmup_views"]) == (
        "tiktok", 10.0)
    assert (rows["b"]["strategy_params"], rows["b"]["feed"], rows["b"]["feed_params"]) == (
        None, None, None)
    # read back from the journal as dicts
    back = results.trial_records()
    assert back["a"].strategy_params == {"mode": "turns"} and back["b"].strategy_params is None
    # a resumed run fills in what its plan says the old records ran with, and only those
    plan = {"strategy_params": {}, "feed": "random", "feed_params": {}}
    results.consolidate(["a", "b"], {"a": plan, "b": plan})
    rows = {r["trial_id"]: r for r in read_table(tmp_path / "trials.parquet")}
    assert (rows["a"]["strategy_params"], rows["a"]["feed"]) == ('{"mode": "turns"}', "tiktok")
    assert (rows["b"]["strategy_params"], rows["b"]["feed"], rows["b"]["feed_params"]) == (
        "{}", "random", "{}")


def test_a_commit_that_fails_midway_writes_no_line_twice_when_retried(results):
    """The group commit writes trial after trial: one failing leaves those written before it
    in their journals, not staged again (the retry would write them twice)."""
    results.stage_step(rec("a", 0))
    results.stage_step(rec("b", 0))
    blocker = results.run.journal("b").path
    blocker.mkdir(parents=True)  # b's journal cannot be opened for writing
    with pytest.raises(Exception, match="cannot write"):
        results.commit()
    assert [r["step"] for r in results.run.journal("a").rows()] == [0]
    assert results.staged() == 1  # b's step only
    blocker.rmdir()
    results.stage_step(rec("a", 1))
    results.finish_trial(trial("a"))
    assert [r["step"] for r in results.run.journal("a").rows()] == [0, 1]
    assert [r["step"] for r in results.run.journal("b").rows()] == [0]
    assert results.completed() == {"a"}


def test_a_write_cut_short_leaves_no_torn_line_in_the_middle(results, monkeypatch):
    """A full disk mid-write: the journal is cut back to its last whole line, so the retry's
    lines follow whole ones (a torn line in the middle would hide every line after it)."""
    import errno
    import os

    from valuespectrum.sweep import results as module

    results.stage_step(rec("a", 0))
    results.commit()
    real_write = os.write

    def half_then_full(fd, data):  # as the kernel does: what fits, then ENOSPC
        if len(data) > 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(module.os, "write", half_then_full)
    results.stage_step(rec("a", 1))
    with pytest.raises(Exception, match="No space left"):
        results.commit()
    monkeypatch.setattr(module.os, "write", real_write)
    results.stage_step(rec("a", 2))
    results.commit()
    assert [r["step"] for r in results.run.journal("a").rows()] == [0, 1, 2]


def test_a_restarted_trials_journal_is_a_new_file_even_while_kept_open(results):
    results.start_trial("a")
    results.stage_step(rec("a", 0))
    results.stage_step(rec("a", 1))
    results.commit()  # a's journal is now kept open
    results.start_trial("a")  # the environment crashed: the trial starts again
    results.stage_step(rec("a", 0, 0))
    results.commit()
    rows = results.run.journal("a").rows()
    assert [(r["step"], r["decision"]) for r in rows] == [(0, 0)]


def test_journals_are_written_alike_with_no_file_kept_open(results):
    results._max_open = 0  # a process with few file descriptors to spare
    for step in range(3):
        results.stage_step(rec("a", step))
        results.commit()
    results.finish_trial(trial("a", steps=3))
    assert results.completed() == {"a"} and not results._fds


def test_a_trial_is_recorded_only_after_the_steps_of_a_failed_sync_are_synced(results,
                                                                              monkeypatch):
    """The sync of a commit failed (its lines are in the journal, not yet durable): the
    next commit syncs that journal before it records the trial, even with no step of its
    own to write."""
    from valuespectrum.sweep import results as module

    synced: list[list[str]] = []

    def failing_sync(paths):
        raise OSError(5, "Input/output error")

    results.stage_step(rec("a", 0))
    monkeypatch.setattr(module, "sync_files", failing_sync)
    with pytest.raises(Exception, match="Input/output error"):
        results.commit()
    monkeypatch.setattr(module, "sync_files", lambda paths: synced.append(
        [Path(p).name for p in paths]))
    results.finish_trial(trial("a", steps=1))  # no step staged: only the trial's record
    assert synced == [["a.jsonl"]]
    assert results.completed() == {"a"}

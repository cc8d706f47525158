from pathlib import Path

import pytest

from valuespectrum.runs import RunDirectory, read_table
from valuespectrum.sweep.results import SweepResults, TrialRecord
from valuespectrum.sweep.spec import SweepSpec
from valuespectrum.sweep.summary import summarize
from valuespectrum.types import StepRecord

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def rd(tmp_path):
    run = RunDirectory(tmp_path, "sweep")
    run.acquire()
    yield SweepResults(run)
    run.release()


def record_trial(rd: SweepResults, tid: str, model: str, platform: str, decisions, status="done"):
    for i, d in enumerate(decisions):
        rd.append_step(StepRecord(trial_id=tid, cell=f"p|{model}|{platform}|simple", persona="p",
                                  model=model, platform=platform, strategy="simple", step=i,
                                  decision=d))
    rd.finish_trial(TrialRecord(trial_id=tid, cell=f"p|{model}|{platform}|simple", persona="p",
                                model=model, platform=platform, strategy="simple", index=0,
                                seed=0, status=status, steps=len(decisions)))


def spec() -> SweepSpec:
    return SweepSpec(name="s", personas=["pet_owner"], persona_dir=str(ROOT / "personas"),
                          models=["embed:minilm", "random:0.5", "always:no"],
                          platforms=["tiktok", "random"], scrolls=4, window=2)


def test_controls_are_the_random_feed_and_the_non_looking_viewers(tmp_path, rd):
    record_trial(rd, "a", "embed-minilm", "tiktok", [1, 0, 1, 1])
    record_trial(rd, "b", "embed-minilm", "random", [1, 0, 1, 1])
    record_trial(rd, "c", "random-0.5", "tiktok", [1, 0, 1, 1])
    record_trial(rd, "d", "always-no", "tiktok", [0, 0, 0, 0])
    groups = {(g["model"], g["platform"]): g for g in summarize(tmp_path, spec())["groups"]}
    assert groups[("embed-minilm", "tiktok")]["control"] is False
    assert groups[("embed-minilm", "random")]["control"] is True
    assert groups[("random-0.5", "tiktok")]["control"] is True
    assert groups[("always-no", "tiktok")]["control"] is True
    assert groups[("embed-minilm", "tiktok")]["i_avg_count"] == 100.0
    assert groups[("embed-minilm", "tiktok")]["increase_pooled"] == 100.0
    assert groups[("always-no", "tiktok")]["i_avg_count"] is None  # excluded, not infinite


def test_only_planned_trials_count_and_partial_steps_are_marked(tmp_path, rd):
    record_trial(rd, "a", "embed-minilm", "tiktok", [1, 0, 1, 1])
    record_trial(rd, "old", "embed-minilm", "tiktok", [0, 1, 1, 1])  # not in the plan now
    rd.append_step(StepRecord(trial_id="b", cell="c", persona="p", model="embed-minilm",
                              platform="tiktok", strategy="simple", step=0, decision=1))
    g = summarize(tmp_path, spec(), trial_ids=["a", "b"])["groups"][0]
    assert g["trials"] == 1 and g["i_avg_count"] == 100.0
    rd.consolidate(["a", "b"])
    steps = read_table(tmp_path / "steps.parquet")
    assert {r["trial_id"] for r in steps} == {"a", "b"}
    assert {r["trial_id"]: r["trial_status"] for r in steps} == {"a": "done", "b": "unfinished"}

"""A trial records its strategy and its feed as {name, params}; the viewer replays from them,
and a run from before they were recorded still replays and reports."""

from __future__ import annotations

import json
import os
import shutil

import pyarrow.parquet as pq
import pytest
import yaml
from vspec_helpers import run_vspec, sweep_spec

from valuespectrum.report.sweep import write_sweep_report
from valuespectrum.runs import read_jsonl, read_table
from valuespectrum.sweep.driver import SweepRunner
from valuespectrum.sweep.spec import load_sweep_spec
from valuespectrum.view import open_runs

NEW_COLUMNS = ("strategy_params", "feed", "feed_params")


@pytest.fixture(scope="module")
def run_dir(ray_session, tmp_path_factory, corpus_dir):
    tmp = tmp_path_factory.mktemp("trial-params")
    spec = sweep_spec(
        tmp / "params.yaml", name="params", personas=["pet_owner"], models=["random:0.5"],
        platforms=[{"style": "tiktok", "environment": "http"},
                   {"style": "random", "environment": "http"}],
        strategies=["plain", "isq", "simple"],
        strategy_options={"followups": True, "isq_format": "turns"},
        recommenders={"tiktok": {"warmup_views": 25}},
        trials=1, scrolls=4, window=2, seed=2, concurrency=4, agents_per_actor=4,
        screenshots=False, cache_dir=None, corpus=str(corpus_dir), output=str(tmp / "params"))
    SweepRunner(spec).run()
    return tmp / "params"


def test_each_trial_stores_its_strategy_and_feed_with_their_params(run_dir):
    trials = read_table(run_dir / "trials.parquet")
    assert len(trials) == 6 and {t["status"] for t in trials} == {"done"}
    params = {t["strategy"]: json.loads(t["strategy_params"]) for t in trials}
    # each strategy keeps only the options it takes, from the one strategy_options block
    assert params == {"plain": {"followups": True}, "isq": {"mode": "turns"}, "simple": {}}
    feeds = {t["platform"]: (t["feed"], json.loads(t["feed_params"])) for t in trials}
    assert feeds["random"] == ("random", {})
    style, tiktok = feeds["tiktok"]
    assert style == "tiktok" and tiktok["warmup_views"] == 25 and tiktok["top_k"] == 8
    # the cell label and key stay the strategy's name: the params are extra columns
    assert {t["cell"].split("|")[3] for t in trials} == {"plain", "isq", "simple"}
    # the actors asked with these params: plain its follow-ups, isq one question per turn
    steps = read_table(run_dir / "steps.parquet")
    assert all("reason" in json.loads(s["answers"]) for s in steps if s["strategy"] == "plain")
    assert {s["isq_format"] for s in steps if s["strategy"] == "isq"} == {"turns"}


def _user_turns(source, row):
    import asyncio

    replay = asyncio.run(source.replayer().replay(row))
    assert replay.error is None, replay.error
    return sum(t.role == "user" for chat in replay.conversations for t in chat)


def _plain_step(source):
    tid = next(t for t, r in source.trial_records().items() if r.strategy == "plain")
    return source.step(tid, 0)


def test_replay_rebuilds_the_strategy_from_the_stored_params(run_dir, tmp_path):
    copy = tmp_path / "edited"
    shutil.copytree(run_dir, copy)
    spec_file = copy / "spec.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["strategy_options"]["followups"] = False  # the spec now says otherwise
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    source = open_runs([copy])["edited"]
    assert not source.live()
    # three questions (the stored followups: true), not the one the spec now implies
    assert _user_turns(source, _plain_step(source)) == 3


def _as_before_the_columns(run: str) -> None:
    """Remove the recorded params from trials.parquet and the trials journal."""
    journal = os.path.join(run, "journal", "_trials.jsonl")
    rows = [{k: v for k, v in r.items() if k not in NEW_COLUMNS} for r in read_jsonl(journal)]
    with open(journal, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    table = pq.read_table(os.path.join(run, "trials.parquet"))
    pq.write_table(table.drop_columns(list(NEW_COLUMNS)), os.path.join(run, "trials.parquet"))
    tables = min(os.stat(os.path.join(run, t)).st_mtime for t in ("trials.parquet",
                                                                   "steps.parquet"))
    for name in os.listdir(os.path.join(run, "journal")):  # the tables stay the newer
        os.utime(os.path.join(run, "journal", name), (tables - 60, tables - 60))


def test_a_run_without_the_params_columns_still_replays_and_reports(run_dir, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    _as_before_the_columns(str(old))
    assert not set(NEW_COLUMNS) & set(pq.read_schema(old / "trials.parquet").names)
    source = open_runs([old])["old"]
    assert not source.live()
    # from the spec's strategy_options (followups: true), as the sweep derived them
    assert _user_turns(source, _plain_step(source)) == 3
    isq = next(t for t, r in source.trial_records().items() if r.strategy == "isq")
    assert _user_turns(source, source.step(isq, 0)) >= 6  # turns: one question per turn
    report = write_sweep_report(old).read_text()
    assert "pet_owner|random-0.5|tiktok|plain" in report
    done = run_vspec(["report", str(old)], tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    # resumed (nothing left to run), its tables get the params its plan says it ran with
    outcome = SweepRunner(load_sweep_spec(old / "spec.yaml"), output=old).run()
    assert outcome.skipped == 6
    recorded = {t["trial_id"]: [t[c] for c in NEW_COLUMNS]
                for t in read_table(run_dir / "trials.parquet")}
    assert {t["trial_id"]: [t[c] for c in NEW_COLUMNS]
            for t in read_table(old / "trials.parquet")} == recorded

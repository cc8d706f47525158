"""How a sweep ends when the model cannot go on: budget exhausted, endpoint dead."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
from vspec_helpers import run_vspec, sweep_spec, write_spec

from valuespectrum.runs import PlanChanged
from valuespectrum.runs import read_table as load_table
from valuespectrum.sweep.driver import SweepRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from openai_test_server import OpenAITestServer  # noqa: E402 - test double beside the model tests

pytestmark = pytest.mark.slow


@pytest.fixture
def ray_local(ray_session):
    return ray_session


def test_budget_cap_stops_new_calls_and_keeps_what_was_recorded(ray_local, tmp_path,
                                                                   corpus_dir, monkeypatch):
    monkeypatch.setenv("VSPEC_TEST_API_KEY", "sk-test-not-a-secret")
    server = OpenAITestServer("Yes, I would watch this.").start()
    try:
        fields = dict(
            name="budget", personas=["pet_owner"],
            models=[{"spec": "openai:test-model", "base_url": server.url,
                     "api_key_env": "VSPEC_TEST_API_KEY", "cache": False,
                     "price": {"input_per_mtok": 1000.0, "output_per_mtok": 1000.0}}],
            platforms=[{"style": "tiktok", "environment": "http"}], strategies=["simple"],
            trials=4, scrolls=50, window=10, concurrency=2, budget_usd=0.5,
            corpus=str(corpus_dir), output=str(tmp_path / "run"),
            cache_dir=str(tmp_path / "cache"),
        )
        spec = sweep_spec(tmp_path / "budget.yaml", **fields)
        outcome = SweepRunner(spec).run()
    finally:
        server.stop()
    assert outcome.fatal and "budget" in outcome.fatal
    trials = load_table(tmp_path / "run" / "trials.parquet")
    assert "budget" in {t["status"] for t in trials}
    steps = load_table(tmp_path / "run" / "steps.parquet")
    spent = sum(r["cost_usd"] for r in steps)
    assert steps and spent >= 0.5
    # calls stop at the cap: at most one call in flight per agent goes past it
    per_call = max(r["cost_usd"] for r in steps)
    assert spent <= 0.5 + 2 * per_call
    assert len(server.requests) <= len(steps) + 2
    assert all(r["decision"] == 1 for r in steps)
    assert "sk-test-not-a-secret" not in (tmp_path / "run" / "steps.parquet").read_bytes().decode("latin-1")

    # resuming counts what was already spent: the cap is reached, so no new call is made
    server = OpenAITestServer("Yes, I would watch this.").start()
    try:
        fields["models"][0]["base_url"] = server.url  # where the model is reached may change
        again = SweepRunner(sweep_spec(tmp_path / "budget.yaml", **fields)).run()
    finally:
        server.stop()
    assert again.fatal and "budget" in again.fatal
    assert server.requests == []
    # the key reached the actors, but no Ray log holds it
    import ray

    session = Path(ray._private.worker._global_node.get_session_dir_path())
    leaked = [p for p in session.rglob("*") if p.is_file() and p.stat().st_size < 50_000_000
              and b"sk-test-not-a-secret" in p.read_bytes()]
    assert leaked == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dead_endpoint_is_a_clear_fatal_error_not_an_endless_retry(tmp_path, corpus_dir):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    spec = write_spec(
        tmp_path / "dead.yaml", name="dead", personas=["pet_owner"],
        models=[{"spec": "openai:gpt-4o", "base_url": dead, "api_key_env": "HOME",
                 "retries": 1, "backoff_s": 0.1}],
        platforms=["tiktok"], environment="http", trials=6, scrolls=10, window=5,
        concurrency=2, corpus=str(corpus_dir), output=str(tmp_path / "run"),
    )
    proc = run_vspec(["run", str(spec), "--plain"], tmp_path, timeout=300)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "the run stopped early" in proc.stderr and "unavailable" in proc.stderr
    assert "Traceback" not in proc.stderr
    trials = load_table(tmp_path / "run" / "trials.parquet")
    assert len(trials) < 6  # it stopped instead of trying every trial
    assert all(t["status"] == "failed" for t in trials)


def test_missing_api_key_is_reported_before_anything_starts(tmp_path):
    spec = write_spec(
        tmp_path / "nokey.yaml", name="nokey", personas=["pet_owner"],
        models=[{"spec": "openai:gpt-4o", "api_key_env": "VSPEC_SURELY_UNSET_KEY"}],
        platforms=["tiktok"], trials=1, scrolls=5, window=2, output=str(tmp_path / "run"),
    )
    proc = run_vspec(["run", str(spec), "--plain"], tmp_path, timeout=120)
    assert proc.returncode == 2
    assert "openai:gpt-4o needs $VSPEC_SURELY_UNSET_KEY" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_trial_over_its_timeout_is_recorded_as_timeout(ray_local, tmp_path, corpus_dir):
    spec = sweep_spec(
        tmp_path / "slow.yaml", name="slow", personas=["pet_owner"],
        models=[{"spec": "scripted:Yes.", "params": {"latency_s": 0.5}}],
        platforms=[{"style": "tiktok", "environment": "http"}], strategies=["simple"],
        # 40 scrolls at 0.5 s a reply need 20 s; 8 s leaves room for a loaded machine to set
        # up the environment (with 3 s, a trial under load could end before its first step)
        trials=2, scrolls=40, window=5, concurrency=2, trial_timeout_s=8,
        corpus=str(corpus_dir), output=str(tmp_path / "run"),
    )
    outcome = SweepRunner(spec).run()
    assert outcome.statuses == {"timeout": 2}
    trials = load_table(tmp_path / "run" / "trials.parquet")
    assert all(t["status"] == "timeout" and "exceeded 8 s" in t["error"] for t in trials)
    assert all(0 < t["steps"] < 40 for t in trials)
    summary = (tmp_path / "run" / "summary.json").read_text()
    assert '"timeout": 2' in summary


def test_resuming_under_an_edited_spec_is_refused_and_the_run_is_left_alone(
        ray_local, tmp_path, corpus_dir):
    base = dict(name="edit", personas=["pet_owner"],
                models=["always:yes"], platforms=[{"style": "tiktok", "environment": "http"}],
                strategies=["simple"], trials=1, scrolls=4, window=2, corpus=str(corpus_dir),
                output=str(tmp_path / "run"))

    def spec(**changes):
        return sweep_spec(tmp_path / "edit.yaml", **{**base, **changes})

    assert SweepRunner(spec()).run().statuses == {"done": 1}
    before = (tmp_path / "run" / "steps.parquet").read_bytes()

    with pytest.raises(PlanChanged, match=r"different plan\. Changed: scrolls: 4 -> 6"):
        SweepRunner(spec(scrolls=6)).run()
    assert (tmp_path / "run" / "steps.parquet").read_bytes() == before
    with pytest.raises(PlanChanged, match=r"recommenders\.tiktok\.warmup_views: .* -> 3"):
        SweepRunner(spec(recommenders={"tiktok": {"warmup_views": 3}})).run()

    # the declared analysis plan and its window were fixed before the results were seen
    with pytest.raises(PlanChanged, match=r"different plan\. Changed: window: 2 -> 1"):
        SweepRunner(spec(window=1)).run()
    with pytest.raises(PlanChanged, match=r"Changed: analysis\.estimand: 'session' -> 'delta'"):
        SweepRunner(spec(analysis={"estimand": "delta"})).run()
    plan = json.loads((tmp_path / "run" / "plan.json").read_text())
    assert plan["context"]["analysis"]["estimand"] == "session"
    assert plan["context"]["window"] == 2 and "analysis" in plan["entries"]
    assert (tmp_path / "run" / "steps.parquet").read_bytes() == before

    # settings that do not change what was recorded may change; the done trial is kept
    again = SweepRunner(spec(concurrency=2)).run()
    assert again.skipped == 1 and again.statuses == {}

    # --restart starts over under the new plan
    fresh = SweepRunner(spec(scrolls=6), restart=True).run()
    assert fresh.skipped == 0 and fresh.statuses == {"done": 1}
    assert len(load_table(tmp_path / "run" / "steps.parquet")) == 6


def test_resuming_on_a_changed_corpus_is_refused_naming_the_corpus(ray_local, tmp_path,
                                                                   corpus_dir):
    import shutil

    import pyarrow.parquet as pq

    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_dir, corpus, symlinks=True)
    base = dict(name="corp", personas=["pet_owner"], models=["always:yes"],
                platforms=[{"style": "tiktok", "environment": "http"}], strategies=["simple"],
                trials=1, scrolls=4, window=2, corpus=str(corpus), output=str(tmp_path / "run"))
    spec = sweep_spec(tmp_path / "corp.yaml", **base)
    assert SweepRunner(spec).run().statuses == {"done": 1}
    # the same path, other content: one caption edited in the manifest
    table = pq.read_table(corpus / "manifest.parquet").to_pylist()
    table[0]["caption"] += " (edited)"
    pq.write_table(pq.read_table(corpus / "manifest.parquet").from_pylist(
        table, schema=pq.read_schema(corpus / "manifest.parquet")), corpus / "manifest.parquet")
    with pytest.raises(PlanChanged, match=r"Changed: corpus: '[0-9a-f]{16}' -> '[0-9a-f]{16}'"):
        SweepRunner(sweep_spec(tmp_path / "corp.yaml", **base)).run()

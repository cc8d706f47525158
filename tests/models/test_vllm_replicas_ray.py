"""A sweep on Ray with two replicas of one vllm: model, each a shared Ray actor.

The servers are the scripted OpenAI test server (a TEST DOUBLE of `vllm serve`) with a
fixed latency per answer, counting on ``/test/stats`` the requests each one received.
Two viewer actors (one agent each) build their own backends, so the spread is measured
across processes, as on a cluster.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from vspec_helpers import sweep_spec

from valuespectrum.models.shared import lease_shared_actor, release_shared_actors
from valuespectrum.models.vllm import actor_name
from valuespectrum.runs import read_table
from valuespectrum.sweep.driver import SweepRunner

pytestmark = pytest.mark.slow
SERVER = str(Path(__file__).with_name("openai_test_server.py"))
TRIALS, SCROLLS = 4, 15


def fields(tmp: Path, corpus: Path, name: str, model: str, latency_s: float) -> dict:
    command = [sys.executable, SERVER, "--host", "{host}", "--port", "{port}", "--model",
               "{model}", "--latency", str(latency_s)]
    spec = {"spec": f"vllm:{model}", "cache": False, "backoff_s": 0.05,
            "vllm": {"command": command, "num_gpus": 0, "startup_timeout_s": 60, "replicas": 2}}
    return dict(name=name, personas=["pet_owner", "foodie_traveler"], models=[spec],
                platforms=[{"style": "tiktok", "environment": "http"}], strategies=["simple"],
                trials=TRIALS // 2, scrolls=SCROLLS, window=5, seed=5, concurrency=2,
                agents_per_actor=1, screenshots=False, cache_dir=None, corpus=str(corpus),
                output=str(tmp / name))


def replica(ray, model: str, index: int) -> dict:
    """The replica's health (url, pid) from its owning actor."""
    handle = ray.get_actor(actor_name(model, index), namespace="valuespectrum")
    return ray.get(handle.health.remote(), timeout=30)


def stats(url: str) -> dict:
    return httpx.get(url.removesuffix("/v1") + "/test/stats", timeout=5).json()


def alive(ray, name: str) -> bool:
    try:
        ray.get_actor(name, namespace="valuespectrum")
        return True
    except ValueError:
        return False


def assert_every_step_answered(run_dir: Path) -> list[dict]:
    steps = read_table(run_dir / "steps.parquet")
    keys = [(s["trial_id"], s["step"]) for s in steps]
    assert len(keys) == len(set(keys)), "a step is duplicated"
    assert len(keys) == TRIALS * SCROLLS, "a step is missing"
    assert {s["decision"] for s in steps} == {1}, "a step has no answer from the model"
    assert {t["status"] for t in read_table(run_dir / "trials.parquet")} == {"done"}
    return steps


def test_one_sweeps_requests_reach_every_replica_near_evenly(ray_session, tmp_path, corpus_dir):
    model = "stand-in/spread"
    # a second holder keeps the replicas up after the run releases its own leases, so their
    # counts can be read
    for i in range(2):
        lease_shared_actor(actor_name(model, i), "test-spread-reader")
    try:
        spec = sweep_spec(tmp_path / "s.yaml", **fields(tmp_path, corpus_dir, "spread", model, 0.02))
        outcome = SweepRunner(spec).run()
        assert outcome.statuses == {"done": TRIALS}
        assert_every_step_answered(tmp_path / "spread")
        urls = [replica(ray_session, model, i)["url"] for i in range(2)]
        counts = [stats(u)["answered"] for u in urls]
        assert len(set(urls)) == 2
        assert sum(counts) >= TRIALS * SCROLLS  # one request per step (simple strategy)
        assert min(counts) >= 0.4 * sum(counts), counts  # near even: 40-60 %
    finally:
        assert release_shared_actors("test-spread-reader") == 2
    assert not any(alive(ray_session, actor_name(model, i)) for i in range(2))


class KillReplicaAt:
    """Progress sink that SIGKILLs replica 1's server after `n` steps, once a request of
    the sweep is in flight on it (counted on the server)."""

    def __init__(self, ray, model: str, n: int) -> None:
        self.ray, self.model, self.n = ray, model, n
        self.steps, self.in_flight_at_kill = 0, None
        self.thread: threading.Thread | None = None

    def step(self, trial, record) -> None:
        self.steps += 1
        if self.steps == self.n:  # not joined: the driver keeps consuming events meanwhile
            self.thread = threading.Thread(target=self.kill)
            self.thread.start()

    def kill(self) -> None:
        health = replica(self.ray, self.model, 1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            s = stats(health["url"])
            if s["requests"] > s["answered"]:
                os.kill(health["pid"], signal.SIGKILL)
                self.in_flight_at_kill = s["requests"] - s["answered"]
                return
            time.sleep(0.01)


def test_a_replica_killed_mid_run_loses_and_duplicates_no_step(ray_session, tmp_path, corpus_dir):
    model = "stand-in/killed"
    spec = sweep_spec(tmp_path / "k.yaml", **fields(tmp_path, corpus_dir, "killed", model, 0.2))
    sink = KillReplicaAt(ray_session, model, n=8)
    outcome = SweepRunner(spec, progress=sink).run()
    sink.thread.join()
    assert sink.in_flight_at_kill, "the kill must land while replica 1 answers a request"
    assert outcome.statuses == {"done": TRIALS}
    assert_every_step_answered(tmp_path / "killed")
    trials = read_table(tmp_path / "killed" / "trials.parquet")
    assert sum(t["restarts"] for t in trials) == 0, "the failover is the backend's, not a restart"
    # the run's leases covered both replicas: its release stopped them
    assert not any(alive(ray_session, actor_name(model, i)) for i in range(2))

"""Several replicas of one vllm: model, without Ray: the backend owns N stand-in servers.

The servers are the scripted OpenAI test server (a TEST DOUBLE of `vllm serve`), each
counting on ``/test/stats`` the requests it received and answered.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest
from vspec_helpers import sweep_spec

from valuespectrum.config import ConfigError
from valuespectrum.models import BackendUnavailable, ModelSpec, build_backend
from valuespectrum.models.replicas import Replica, ReplicaPool
from valuespectrum.types import Completion, GenerateConfig, Message

SERVER = str(Path(__file__).with_name("openai_test_server.py"))
ASK = [Message.text("user", "Would you watch this?")]


@pytest.fixture(autouse=True)
def no_ray(monkeypatch):
    """The backend owns its servers here (the Ray-shared replicas: test_vllm_replicas_ray)."""
    monkeypatch.setattr("valuespectrum.models.vllm.ray_ready", lambda: False)


def replicated(n: int, *extra: str) -> dict:
    command = [sys.executable, SERVER, "--host", "{host}", "--port", "{port}", "--model",
               "{model}", *extra]
    return {"spec": "vllm:stand-in/replicated", "retries": 0,
            "vllm": {"command": command, "num_gpus": 0, "startup_timeout_s": 30, "replicas": n}}


def served(url: str) -> dict:
    return httpx.get(url.removesuffix("/v1") + "/test/stats", timeout=5).json()


@pytest.mark.parametrize(("replicas", "message"), [
    (0, "vllm.replicas: Input should be greater than or equal to 1"),
    (1.5, "vllm.replicas: Input should be a valid integer"),
    (True, "vllm.replicas: Input should be a valid integer"),
    ("2", "vllm.replicas: Input should be a valid integer"),
])
def test_replicas_must_be_a_whole_number_from_one(replicas, message):
    with pytest.raises(ConfigError, match=f"exp.yaml: {message}"):
        ModelSpec.parse({"spec": "vllm:m", "vllm": {"replicas": replicas}}, source="exp.yaml")


def test_replicas_conflicting_with_one_server_are_refused():
    with pytest.raises(ConfigError, match="base_url attaches to one running server"):
        ModelSpec.parse({"spec": "vllm:m", "base_url": "http://gpu:8000/v1",
                         "vllm": {"replicas": 2}})
    with pytest.raises(ConfigError, match="vllm: .*leave it unset with replicas > 1"):
        ModelSpec.parse({"spec": "vllm:m", "vllm": {"replicas": 2, "port": 8000}})


def test_a_bad_replicas_in_a_sweep_file_names_file_line_and_field(tmp_path):
    with pytest.raises(ConfigError) as err:
        sweep_spec(tmp_path / "bad.yaml", name="bad", personas=["pet_owner"],
                   models=[{"spec": "vllm:m", "vllm": {"replicas": 0}}],
                   platforms=[{"style": "tiktok", "environment": "http"}])
    where = str(tmp_path / "bad.yaml")
    assert str(err.value).startswith(where + ":"), err.value
    assert "models: " in str(err.value) and "vllm.replicas: " in str(err.value)
    assert "greater than or equal to 1" in str(err.value)


async def test_requests_reach_every_replica_evenly():
    backend = build_backend(replicated(3))
    try:
        # Start the servers first. Requests sent during the start wait on its lock and pass
        # it one by one, so an early answer could free a replica before the last of them
        # picks (least busy first): CI once counted [14, 13, 15].
        await backend.generate(ASK, GenerateConfig())
        await asyncio.gather(*(backend.generate(ASK, GenerateConfig()) for _ in range(29)))
        for _ in range(12):  # one at a time too: equal replicas take turns
            await backend.generate(ASK, GenerateConfig())
        urls = [r.url for r in backend.unwrap().pool.replicas]
        counts = [served(u)["answered"] for u in urls]
        assert len(set(urls)) == 3 and sum(counts) == 42
        assert counts == [14, 14, 14], counts
    finally:
        await backend.aclose()


async def test_a_replica_killed_mid_request_loses_nothing():
    backend = build_backend(replicated(2, "--latency", "0.4"))
    pool = None
    try:
        await backend.generate(ASK, GenerateConfig())  # starts both servers
        pool = backend.unwrap().pool
        victim = pool.replicas[0]
        (server,) = [s for s in backend.unwrap()._local if f":{s.port}/" in victim.url]
        asks = [asyncio.create_task(backend.generate(ASK, GenerateConfig())) for _ in range(10)]
        while served(victim.url)["requests"] <= served(victim.url)["answered"]:
            await asyncio.sleep(0.02)  # until a request is in flight on replica 0
        os.kill(server.proc.pid, signal.SIGKILL)
        answers = await asyncio.gather(*asks)
        assert [a.text for a in answers] == ["Yes."] * 10
        assert not victim.in_flight and victim.death == "exit code -9"
        survivor = pool.replicas[1]
        before = served(survivor.url)["answered"]
        for _ in range(4):  # out of rotation: the survivor answers everything now
            await backend.generate(ASK, GenerateConfig())
        assert served(survivor.url)["answered"] == before + 4
        assert [r["alive"] for r in pool.snapshot()] == [False, True]
    finally:
        await backend.aclose()


async def test_when_every_replica_is_dead_the_error_is_fatal_and_names_them():
    backend = build_backend(replicated(2))
    try:
        await backend.generate(ASK, GenerateConfig())
        for server in backend.unwrap()._local:
            os.kill(server.proc.pid, signal.SIGKILL)
            server.proc.wait()
        with pytest.raises(BackendUnavailable,
                           match=r"all 2 vLLM servers died \(replica 0: exit code -9; "
                                 r"replica 1: exit code -9\)"):
            await backend.generate(ASK, GenerateConfig())
    finally:
        await backend.aclose()


class SlowOrFast:
    """A TEST DOUBLE replica client answering after a fixed delay."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    async def generate(self, messages, config) -> Completion:
        await asyncio.sleep(self.delay_s)
        return Completion(text="Yes.", model="m")

    async def aclose(self) -> None:
        pass


async def test_a_slow_replica_gets_fewer_requests_than_a_fast_one():
    """Least requests in flight: round robin would hand each replica half."""
    pool = ReplicaPool("vllm:m", [Replica(0, "slow", SlowOrFast(0.2)),
                                  Replica(1, "fast", SlowOrFast(0.02))])

    async def agent() -> None:
        for _ in range(10):
            await pool.generate(ASK, GenerateConfig())

    await asyncio.gather(*(agent() for _ in range(4)))
    slow, fast = (r["served"] for r in pool.snapshot())
    assert slow + fast == 40
    assert slow <= 0.3 * 40, (slow, fast)  # measured 9 of 40; round robin gives 20

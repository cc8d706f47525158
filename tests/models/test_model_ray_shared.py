"""Budget, rate limit and vLLM server shared by viewer actors through named Ray actors."""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import pytest

from valuespectrum.models import SharedBudget, release_shared_actors

pytestmark = pytest.mark.slow
SERVER = str(Path(__file__).with_name("openai_test_server.py"))


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             namespace="vspec-tests", configure_logging=False)
    yield ray
    release_shared_actors()
    ray.shutdown()


def agent_class(ray):
    """A stand-in viewer actor: builds its own backend from a spec, like ViewerHost does."""

    @ray.remote(num_cpus=0)
    class Agent:
        async def run(self, spec, n, budget_usd=None, budget_name=None):
            from valuespectrum.models import BudgetExceeded, build_backend
            from valuespectrum.types import GenerateConfig, Message

            backend = build_backend(spec, budget_usd=budget_usd, budget_name=budget_name)
            done, stopped = 0, False
            try:
                for i in range(n):
                    await backend.generate([Message.text("user", f"{os.getpid()} {i}")],
                                           GenerateConfig())
                    done += 1
            except BudgetExceeded:
                stopped = True
            finally:
                url = getattr(backend.unwrap(), "_client", None)
                url = getattr(url, "base_url", None)
                await backend.aclose()
            return {"done": done, "stopped": stopped, "url": url}

    return Agent


@pytest.fixture(scope="module")
def agents(ray_cluster):
    """Three stand-in viewer actors, started once for the module (actor start-up is slow)."""
    return [agent_class(ray_cluster).remote() for _ in range(3)]


def test_budget_is_shared_across_actors(ray_cluster, agents, openai_server):
    ray = ray_cluster
    spec = {"spec": "openai:test-model", "base_url": openai_server.url,
            "price": {"input_per_mtok": 100_000, "output_per_mtok": 0}}  # "x" -> 2 tokens: $0.2
    results = ray.get([a.run.remote(spec, 20, 1.0, "shared-run") for a in agents[:2]])
    assert all(r["stopped"] for r in results), "both actors must hit the shared cap"
    total = sum(r["done"] for r in results)
    snap = ray.get(ray.get_actor("vspec-budget-shared-run", namespace="valuespectrum").snapshot.remote())
    per_call = snap["spent_usd"] / snap["calls"]
    assert snap["calls"] == total == len(openai_server.requests)
    # a shared ledger stops near the cap; two separate ledgers would allow twice as many calls
    assert math.ceil(1.0 / per_call) <= total <= math.ceil(1.0 / per_call) + 1


def test_rate_limit_holds_across_actors(ray_cluster, agents, openai_server):
    ray = ray_cluster
    spec = {"spec": "openai:test-model", "base_url": openai_server.url, "rate_limit_rpm": 600}
    t0 = time.perf_counter()
    ray.get([a.run.remote(spec, 5, None, None) for a in agents[:2]])
    # 10 requests at 10/s through one bucket take >= 0.9 s; two buckets would take ~0.4 s
    assert time.perf_counter() - t0 >= 0.85


def test_vllm_server_is_shared_and_released(ray_cluster, agents):
    ray = ray_cluster
    spec = {"spec": "vllm:shared-test-model", "vllm": {
        "num_gpus": 0, "startup_timeout_s": 60,
        "command": [sys.executable, SERVER, "--host", "{host}", "--port", "{port}",
                    "--model", "{model}"]}}
    results = ray.get([a.run.remote(spec, 2) for a in agents])
    assert all(r["done"] == 2 for r in results)
    assert len({str(r["url"]) for r in results}) == 1, "all agents must use one server"
    handle = ray.get_actor("vspec-vllm-shared-test-model", namespace="valuespectrum")
    pid = ray.get(handle.health.remote())["pid"]
    os.kill(pid, 0)  # still running after the agents closed their backends
    assert release_shared_actors() >= 1
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_budget_handle_pickles_without_live_state():
    import pickle

    b = SharedBudget(1.0, "x")
    b._local = object()
    clone = pickle.loads(pickle.dumps(b))
    assert clone.limit_usd == 1.0 and clone.name == "x" and clone._local is None


def test_vllm_start_failure_reaches_the_agent_as_fatal(ray_cluster, agents):
    ray = ray_cluster
    spec = {"spec": "vllm:broken-model", "vllm": {"num_gpus": 0, "command": [
        sys.executable, "-c", "print('torch.OutOfMemoryError: CUDA out of memory'); raise SystemExit(2)"]}}
    from valuespectrum.models import BackendUnavailable

    with pytest.raises(BackendUnavailable, match=r"(?s)exited with code 2.*CUDA out of memory"):
        ray.get(agents[0].run.remote(spec, 1))
    release_shared_actors()


def test_vllm_needs_gpus_the_cluster_lacks(ray_cluster, agents):
    from valuespectrum.models import BackendUnavailable

    with pytest.raises(BackendUnavailable, match=r"needs 1 GPU\(s\) but the Ray cluster has 0"):
        ray_cluster.get(agents[0].run.remote({"spec": "vllm:Qwen/Qwen2-VL-7B-Instruct"}, 1))

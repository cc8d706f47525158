"""Budget, rate limit and vLLM server shared by viewer actors through named Ray actors."""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import pytest

from valuespectrum.models import BudgetExceeded, SharedBudget, release_shared_actors
from valuespectrum.models.shared import SharedRateLimit, lease_shared_actor, run_scope

pytestmark = pytest.mark.slow
SERVER = str(Path(__file__).with_name("openai_test_server.py"))


@pytest.fixture(scope="module")
def ray_cluster(ray_session):
    yield ray_session
    release_shared_actors()


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
                pool = getattr(backend.unwrap(), "pool", None)  # vllm: its replicas' URLs
                url = [r.url for r in pool.replicas] if pool is not None else None
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
    # the agents' backends lease the server for run "scope-v"; another run leases it too
    results = ray.get([a.run.remote(spec, 2, None, "scope-v") for a in agents])
    assert all(r["done"] == 2 for r in results)
    assert results[0]["url"] and len({str(r["url"]) for r in results}) == 1, \
        "all agents must use one server"
    name = "vspec-vllm-shared-test-model"
    lease_shared_actor(name, "scope-w")
    handle = ray.get_actor(name, namespace="valuespectrum")
    pid = ray.get(handle.health.remote())["pid"]
    os.kill(pid, 0)  # still running after the agents closed their backends
    release_shared_actors("scope-v")
    os.kill(pid, 0)  # still running: run "scope-w" holds it
    assert release_shared_actors("scope-w") == 1
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


def _alive(ray, name):
    try:
        ray.get_actor(name, namespace="valuespectrum")
        return True
    except ValueError:
        return False


async def test_budgets_of_two_runs_are_independent_and_released_by_scope(ray_cluster):
    a, b = SharedBudget(1.0, "scope-a"), SharedBudget(1.0, "scope-b")
    await a.charge(0.25)
    await b.charge(0.5)
    await b.charge(0.125)
    assert (await a.snapshot())["spent_usd"] == 0.25
    assert (await b.snapshot())["spent_usd"] == 0.625
    assert release_shared_actors("scope-a") == 1
    assert not _alive(ray_cluster, "vspec-budget-scope-a")
    assert (await SharedBudget(1.0, "scope-b").snapshot())["spent_usd"] == 0.625  # untouched
    assert release_shared_actors("scope-b") == 1
    assert not _alive(ray_cluster, "vspec-budget-scope-b")


async def test_a_handle_whose_ledger_was_released_gets_a_fresh_one_on_its_next_call(
        ray_cluster):
    """A handle still holding a killed actor (another run's scoped release raced it) retries
    its call once, on a fresh actor, instead of failing."""
    b = SharedBudget(1.0, "scope-gone")
    await b.charge(0.5)
    assert release_shared_actors("scope-gone") == 1
    assert not _alive(ray_cluster, "vspec-budget-scope-gone")
    assert (await b.snapshot())["spent_usd"] == 0.0  # a new ledger, not an ActorDiedError
    assert _alive(ray_cluster, "vspec-budget-scope-gone")
    release_shared_actors("scope-gone")


async def test_set_spent_on_a_surviving_ledger_is_idempotent(ray_cluster):
    await SharedBudget(1.0, "scope-resume").charge(0.75)  # the ledger outlives its driver
    resumed = SharedBudget(1.0, "scope-resume")  # a new handle, as after a driver restart
    for _ in range(2):  # a repeated resume sets, never adds
        assert await resumed.set_spent(0.75) == 0.75
        await resumed.check()
    assert await resumed.set_spent(1.0) == 1.0
    assert await resumed.set_spent(1.0) == 1.0
    assert (await resumed.snapshot())["spent_usd"] == 1.0
    with pytest.raises(BudgetExceeded, match="spent \\$1.0000 of \\$1.0000"):
        await resumed.check()
    release_shared_actors("scope-resume")


async def test_set_spent_without_ray_sets_the_local_ledger(monkeypatch):
    monkeypatch.setattr("valuespectrum.models.shared.ray_ready", lambda: False)
    b = SharedBudget(0.5, "local")
    await b.charge(0.25)
    await b.set_spent(0.5)
    await b.set_spent(0.5)
    assert (await b.snapshot())["spent_usd"] == 0.5
    with pytest.raises(BudgetExceeded):
        await b.check()


async def test_shared_rate_limiter_lives_until_its_last_run_releases(ray_cluster):
    rl = SharedRateLimit(6000, "http://example.invalid/v1|m")
    lease_shared_actor(rl.actor_name, "scope-x")
    lease_shared_actor(rl.actor_name, "scope-y")
    assert await rl.reserve() == 0.0
    release_shared_actors("scope-x")
    assert _alive(ray_cluster, rl.actor_name), "scope-y still holds the limiter"
    assert release_shared_actors("scope-y") == 1
    assert not _alive(ray_cluster, rl.actor_name)


def test_run_scope_is_stable_per_directory(tmp_path):
    assert run_scope("my sweep", tmp_path / "a") == run_scope("my sweep", tmp_path / "a")
    assert run_scope("my sweep", tmp_path / "a") != run_scope("my sweep", tmp_path / "b")
    assert run_scope("my sweep").startswith("my-sweep")

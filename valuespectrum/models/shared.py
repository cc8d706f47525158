"""State shared by every backend of a run: the budget ledger and per-endpoint rate limits.

Both are picklable handles. When Ray is initialised in the process that uses them, the
state lives in a named, detached Ray actor (``get_if_exists``), so all viewer actors of the
cluster draw from one budget and one token bucket per endpoint; otherwise it is a plain
object local to the process.

Scoping (several runs on one cluster):

- **Budget ledgers are per run.** `SharedBudget(limit, name)` lives in the actor
  ``vspec-budget-<name>``; the name is the run's *scope* (make it unique per run, e.g. with
  `run_scope`). A resumed run finds its surviving ledger and calls `SharedBudget.set_spent`
  with what its records say (never `charge`, which would count earlier spending twice).
- **Rate limiters and vLLM servers are shared across runs.** A token bucket is keyed by
  endpoint + model + rate + burst (``vspec-ratelimit-<digest>``), so two runs calling the
  same endpoint share its limit; a vLLM server is keyed by model and replica
  (``vspec-vllm-<model>``, ``...@1``), so two runs share the GPU servers. Each run that
  uses one holds a *lease* on it (recorded in the small ``vspec-leases`` actor by
  `lease_shared_actor`, which `build_backend` calls).
- `release_shared_actors(scope)` kills the scope's budget ledger, drops the scope's leases
  and kills only the shared actors no other run still holds. ``release_shared_actors()``
  (no scope) kills every actor of the package, as a plain script wants.

A run whose driver died keeps its ledger and leases until it is resumed and released (or
until an unscoped `release_shared_actors()`).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from valuespectrum.cluster import RAY_NAMESPACE, ray_ready
from valuespectrum.models.base import BudgetExceeded
from valuespectrum.names import safe_name

ACTOR_PREFIX = "vspec-"
BUDGET_PREFIX = f"{ACTOR_PREFIX}budget-"
LEASES_ACTOR = f"{ACTOR_PREFIX}leases"


def run_scope(name: str, root: str | Path | None = None) -> str:
    """A run scope: `name` made actor-name safe, plus a digest of the run directory.

    Two runs of the same spec in different directories get different scopes; the same run
    directory (a resume) gets the same scope back.
    """
    slug = safe_name(name).strip("-") or "run"
    if root is None:
        return slug
    digest = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:8]
    return f"{slug}-{digest}"


class TokenBucket:
    """A reservation token bucket: `reserve()` returns how long the caller must wait.

    Reservations may drive the balance negative, which queues callers fairly: each waits
    until its own token has been refilled.
    """

    def __init__(self, rate_per_s: float, burst: float = 1.0) -> None:
        self.rate = rate_per_s
        self.burst = max(1.0, burst)
        self.tokens = self.burst
        self.last = time.monotonic()

    def reserve(self) -> float:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class BudgetLedger:
    """Money spent against a cap (USD)."""

    def __init__(self, limit_usd: float | None) -> None:
        self.limit_usd = limit_usd
        self.spent_usd = 0.0
        self.calls = 0

    def exhausted(self) -> bool:
        return self.limit_usd is not None and self.spent_usd >= self.limit_usd

    def charge(self, cost_usd: float) -> float:
        self.spent_usd += cost_usd
        self.calls += 1
        return self.spent_usd

    def set_spent(self, spent_usd: float, limit_usd: float | None) -> float:
        """Overwrite the total spent (and the cap); `calls` is kept. Idempotent."""
        self.spent_usd = float(spent_usd)
        self.limit_usd = limit_usd
        return self.spent_usd

    def snapshot(self) -> dict[str, Any]:
        return {"limit_usd": self.limit_usd, "spent_usd": self.spent_usd, "calls": self.calls}


class LeaseTable:
    """Which run scopes use which shared actor (body of the ``vspec-leases`` actor)."""

    def __init__(self) -> None:
        self.holders: dict[str, set[str]] = {}

    def lease(self, actor: str, scope: str) -> None:
        self.holders.setdefault(actor, set()).add(scope)

    def drop(self, scope: str) -> list[str]:
        """Remove `scope`'s leases; returns the actors it held that nobody holds any more."""
        freed = []
        for actor, scopes in list(self.holders.items()):
            if scope in scopes:
                scopes.discard(scope)
                if not scopes:
                    del self.holders[actor]
                    freed.append(actor)
        return freed

    def snapshot(self) -> dict[str, list[str]]:
        return {a: sorted(s) for a, s in self.holders.items()}


def _named_actor(cls: type, name: str, *args: Any, max_concurrency: int = 64) -> Any:
    import ray

    remote_cls = ray.remote(num_cpus=0)(cls)
    return remote_cls.options(
        name=name, namespace=RAY_NAMESPACE, lifetime="detached", get_if_exists=True,
        max_concurrency=max_concurrency,
    ).remote(*args)


def _leases() -> Any:
    # one call at a time: the table is mutated without a lock
    return _named_actor(LeaseTable, LEASES_ACTOR, max_concurrency=1)


def lease_shared_actor(actor_name: str, scope: str | None) -> None:
    """Record that run `scope` uses the cross-run actor `actor_name` (no-op without Ray or scope).

    Fire-and-forget; call it before the actor is first used. `build_backend` does this for
    the rate limiter and the vLLM server of each backend it builds.
    """
    if scope and ray_ready():
        _leases().lease.remote(actor_name, scope)


class _SharedHandle:
    """Picklable; the live backing (local object or Ray actor handle) is made on first use."""

    def __init__(self) -> None:
        self._local: Any = None
        self._actor: Any = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_local"] = state["_actor"] = None
        return state

    def _make_local(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def _actor_args(self) -> tuple[str, type, tuple[Any, ...]]:  # pragma: no cover
        raise NotImplementedError

    @property
    def actor_name(self) -> str:
        """Name of the backing Ray actor (whether or not it exists)."""
        return self._actor_args()[0]

    async def _call(self, method: str, *args: Any) -> Any:
        if ray_ready():
            from ray.exceptions import RayActorError

            # released (e.g. by another run's scoped release racing our first call):
            # get_if_exists makes a fresh one on the second attempt, at once
            retrying = AsyncRetrying(retry=retry_if_exception_type(RayActorError),
                                     stop=stop_after_attempt(2), reraise=True)
            async for attempt in retrying:
                with attempt:
                    if self._actor is None:
                        name, cls, ctor_args = self._actor_args()
                        self._actor = _named_actor(cls, name, *ctor_args)
                    try:
                        return await getattr(self._actor, method).remote(*args)
                    except RayActorError:
                        self._actor = None
                        raise
        if self._local is None:
            self._local = self._make_local()
        return getattr(self._local, method)(*args)

    def shutdown(self) -> None:
        """Kill the backing Ray actor, if any (the driver does this when the run ends)."""
        if self._actor is not None and ray_ready():
            import ray

            ray.kill(self._actor)
        self._actor = None


class SharedBudget(_SharedHandle):
    """A per-run spending cap shared by every backend built with it.

    Args:
        limit_usd: Cap in USD (None only counts).
        name: The run scope; on Ray the ledger is the actor ``vspec-budget-<name>``, shared
            by every backend using the same name and killed by
            ``release_shared_actors(scope=name)``. Make it unique per run (`run_scope`).
    """

    def __init__(self, limit_usd: float | None, name: str = "default") -> None:
        super().__init__()
        self.limit_usd = limit_usd
        self.name = name

    @property
    def scope(self) -> str:
        return self.name

    def _make_local(self) -> BudgetLedger:
        return BudgetLedger(self.limit_usd)

    def _actor_args(self) -> tuple[str, type, tuple[Any, ...]]:
        return f"{BUDGET_PREFIX}{self.name}", BudgetLedger, (self.limit_usd,)

    async def check(self) -> None:
        """Raise BudgetExceeded if the cap is reached (called before each paid call)."""
        if await self._call("exhausted"):
            snap = await self._call("snapshot")
            raise BudgetExceeded(
                f"budget '{self.name}' exhausted: spent ${snap['spent_usd']:.4f} of "
                f"${snap['limit_usd']:.4f} in {snap['calls']} calls; no new model calls are made"
            )

    async def charge(self, cost_usd: float) -> float:
        """Add the cost of a finished call; returns the total spent."""
        return await self._call("charge", cost_usd)

    async def set_spent(self, spent_usd: float) -> float:
        """Set the total spent to `spent_usd` (a resume: what the run's records say).

        Overwrites whatever a surviving ledger holds, so calling it again (or after a crash)
        never counts money twice; also sets the ledger's cap to this handle's `limit_usd`.
        Returns the total spent.
        """
        return await self._call("set_spent", spent_usd, self.limit_usd)

    async def snapshot(self) -> dict[str, Any]:
        return await self._call("snapshot")


class SharedRateLimit(_SharedHandle):
    """Requests-per-minute limit of one endpoint, shared across Ray actors and runs.

    Args:
        rpm: Requests per minute.
        endpoint: Endpoint identity (URL); one bucket per endpoint and model.
        burst: Requests allowed back to back after an idle period.

    The actor name hashes endpoint, rpm and burst: runs with the same limit on the same
    endpoint share one bucket; a changed limit gets a new bucket, never a stale one.
    """

    def __init__(self, rpm: float, endpoint: str, burst: float = 1.0) -> None:
        super().__init__()
        self.rpm = rpm
        self.endpoint = endpoint
        self.burst = burst

    def _make_local(self) -> TokenBucket:
        return TokenBucket(self.rpm / 60.0, self.burst)

    def _actor_args(self) -> tuple[str, type, tuple[Any, ...]]:
        key = f"{self.endpoint}|{float(self.rpm):g}|{float(self.burst):g}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        return (f"{ACTOR_PREFIX}ratelimit-{digest}", TokenBucket, (self.rpm / 60.0, self.burst))

    async def reserve(self) -> float:
        """Reserve one request; returns the seconds to wait before sending it."""
        return await self._call("reserve")


def _kill(ray: Any, name: str) -> bool:
    """Kill the named actor (stopping a vLLM server first); False if it was already gone."""
    try:
        handle = ray.get_actor(name, namespace=RAY_NAMESPACE)
    except ValueError:  # already gone
        return False
    if name.startswith(f"{ACTOR_PREFIX}vllm-"):
        try:
            ray.get(handle.stop.remote(), timeout=30)
        except Exception:  # the server may be dead already; kill the actor anyway
            pass
    ray.kill(handle)
    # ray.kill returns before the name is freed: wait, so that "released" means gone (a new
    # run of the same scope must get a fresh actor, not the dying one)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            ray.get_actor(name, namespace=RAY_NAMESPACE)
        except ValueError:
            break
        time.sleep(0.05)
    return True


def release_shared_actors(scope: str | None = None) -> int:
    """Kill shared actors of this package; returns how many.

    Args:
        scope: A run scope (the run's `SharedBudget.name`): kill its budget ledger, drop its
            leases and kill the rate limiters / vLLM servers no other run still holds.
            None: kill every budget / rate-limit / vLLM / lease actor of the package (a
            plain script, or a cluster you own alone).
    """
    if not ray_ready():
        return 0
    import ray

    if scope is not None:
        names = [f"{BUDGET_PREFIX}{scope}"]
        try:
            table = ray.get_actor(LEASES_ACTOR, namespace=RAY_NAMESPACE)
            names += ray.get(table.drop.remote(scope), timeout=30)
        except Exception:  # no lease table (or it is gone): this scope holds nothing shared
            pass
        return sum(_kill(ray, n) for n in names)
    killed = 0
    for entry in ray.util.list_named_actors(all_namespaces=True):
        name = entry.get("name", "")
        if entry.get("namespace") == RAY_NAMESPACE and name.startswith(ACTOR_PREFIX):
            killed += _kill(ray, name)
    return killed

"""State shared by every backend of a run: the budget ledger and per-endpoint rate limits.

Both are picklable handles. When Ray is initialised in the process that uses them, the
state lives in a named, detached Ray actor (``get_if_exists``), so all viewer actors of the
cluster draw from one budget and one token bucket per endpoint; otherwise it is a plain
object local to the process. The runner calls `release_shared_actors()` when the run ends.
"""

from __future__ import annotations

import hashlib
import sys
import time
from typing import Any

from valuespectrum.models.base import BudgetExceeded

RAY_NAMESPACE = "valuespectrum"
ACTOR_PREFIX = "vspec-"


def ray_ready() -> bool:
    """True when Ray is imported and initialised here (never imports Ray itself)."""
    ray = sys.modules.get("ray")
    return bool(ray is not None and ray.is_initialized())


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

    def snapshot(self) -> dict[str, Any]:
        return {"limit_usd": self.limit_usd, "spent_usd": self.spent_usd, "calls": self.calls}


def _named_actor(cls: type, name: str, *args: Any) -> Any:
    import ray

    remote_cls = ray.remote(num_cpus=0)(cls)
    return remote_cls.options(
        name=name, namespace=RAY_NAMESPACE, lifetime="detached", get_if_exists=True,
        max_concurrency=64,
    ).remote(*args)


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

    async def _call(self, method: str, *args: Any) -> Any:
        if ray_ready():
            if self._actor is None:
                name, cls, ctor_args = self._actor_args()
                self._actor = _named_actor(cls, name, *ctor_args)
            return await getattr(self._actor, method).remote(*args)
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
        name: Run name; backends on any Ray actor using the same name share one ledger.
    """

    def __init__(self, limit_usd: float | None, name: str = "default") -> None:
        super().__init__()
        self.limit_usd = limit_usd
        self.name = name

    def _make_local(self) -> BudgetLedger:
        return BudgetLedger(self.limit_usd)

    def _actor_args(self) -> tuple[str, type, tuple[Any, ...]]:
        return f"{ACTOR_PREFIX}budget-{self.name}", BudgetLedger, (self.limit_usd,)

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

    async def snapshot(self) -> dict[str, Any]:
        return await self._call("snapshot")


class SharedRateLimit(_SharedHandle):
    """Requests-per-minute limit of one endpoint, shared across Ray actors.

    Args:
        rpm: Requests per minute.
        endpoint: Endpoint identity (URL); one bucket per endpoint and model.
        burst: Requests allowed back to back after an idle period.
    """

    def __init__(self, rpm: float, endpoint: str, burst: float = 1.0) -> None:
        super().__init__()
        self.rpm = rpm
        self.endpoint = endpoint
        self.burst = burst

    def _make_local(self) -> TokenBucket:
        return TokenBucket(self.rpm / 60.0, self.burst)

    def _actor_args(self) -> tuple[str, type, tuple[Any, ...]]:
        digest = hashlib.sha256(self.endpoint.encode()).hexdigest()[:12]
        return (f"{ACTOR_PREFIX}ratelimit-{digest}", TokenBucket, (self.rpm / 60.0, self.burst))

    async def reserve(self) -> float:
        """Reserve one request; returns the seconds to wait before sending it."""
        return await self._call("reserve")


def release_shared_actors() -> int:
    """Kill every shared budget / rate-limit / vLLM actor of this package; returns how many."""
    if not ray_ready():
        return 0
    import ray

    killed = 0
    for entry in ray.util.list_named_actors(all_namespaces=True):
        if entry.get("namespace") == RAY_NAMESPACE and entry.get("name", "").startswith(ACTOR_PREFIX):
            try:
                handle = ray.get_actor(entry["name"], namespace=RAY_NAMESPACE)
                if entry["name"].startswith(f"{ACTOR_PREFIX}vllm-"):
                    try:
                        ray.get(handle.stop.remote(), timeout=30)
                    except Exception:  # the server may be dead already; kill the actor anyway
                        pass
                ray.kill(handle)
                killed += 1
            except ValueError:  # already gone
                pass
    return killed

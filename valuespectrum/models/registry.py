"""Provider registry: a spec prefix picks a factory (SDKs imported lazily) and
`build_backend` stacks the wrappers around it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from valuespectrum.models.base import Backend
from valuespectrum.models.providers import PROVIDERS
from valuespectrum.models.shared import SharedBudget, SharedRateLimit, lease_shared_actor
from valuespectrum.models.spec import ModelSpec

CACHE_FILE = "responses.sqlite"


def factories() -> dict[str, Callable[[ModelSpec], Backend]]:
    """Prefix -> factory building the bare provider backend (from the provider registry)."""
    return {name: p.factory for name, p in PROVIDERS.items()}


def build_backend(
    spec: ModelSpec | str | dict[str, Any],
    *,
    cache_dir: str | Path | None = None,
    budget: SharedBudget | None = None,
    budget_usd: float | None = None,
    budget_name: str | None = None,
    rate_limit: SharedRateLimit | None = None,
    scope: str | None = None,
) -> Backend:
    """Build a live backend stack from a spec, in the process that will use it.

    The stack is ``Cached(Metered(Retrying(RateLimited(provider))))``; baselines and the
    scripted double skip retry, rate limit and metering, and are cached only when the spec
    says ``cache: true``.

    Args:
        spec: A `ModelSpec`, a spec string or a YAML mapping.
        cache_dir: Directory of the persistent response cache (None: no cache).
        budget: Shared budget handle (pass the same one to every backend of a run).
        budget_usd: Convenience: build a `SharedBudget(budget_usd, budget_name)` here. On
            Ray, all backends using the same `budget_name` share one ledger actor.
        budget_name: Run name of the budget (default ``"default"``); also the run scope
            when `scope` is not given.
        rate_limit: Shared rate-limit handle (default: one per endpoint from
            ``spec.rate_limit_rpm``, shared across Ray actors and runs by endpoint).
        scope: Run scope under which, on Ray, this backend leases its shared rate limiter
            and vLLM servers (every replica), so ``release_shared_actors(scope)`` stops
            them only when no other run holds them (default: ``budget.name``, else
            `budget_name`; None: no lease, only an unscoped ``release_shared_actors()``
            stops them).

    Returns:
        A backend; close it with ``await backend.aclose()``.

    Raises:
        ConfigError: bad spec. BackendUnavailable: e.g. a missing API key variable.
    """
    from valuespectrum.models.cache import CachedBackend
    from valuespectrum.models.wrappers import MeteredBackend, RateLimitedBackend, RetryingBackend

    spec = ModelSpec.parse(spec)
    if scope is None:
        scope = budget.name if budget is not None else budget_name
    backend = factories()[spec.provider](spec)
    if spec.provider == "vllm" and not spec.base_url:
        from valuespectrum.models.spec import VllmOptions
        from valuespectrum.models.vllm import replica_names

        for name in replica_names(spec.target, (spec.vllm or VllmOptions()).replicas):
            lease_shared_actor(name, scope)
    if not spec.is_baseline:
        if rate_limit is None and spec.rate_limit_rpm:
            rate_limit = SharedRateLimit(spec.rate_limit_rpm, f"{spec.endpoint}|{spec.target}")
        if rate_limit is not None:
            lease_shared_actor(rate_limit.actor_name, scope)
        if rate_limit is not None or spec.max_concurrency:
            backend = RateLimitedBackend(backend, limit=rate_limit,
                                         max_concurrency=spec.max_concurrency)
        backend = RetryingBackend(backend, retries=spec.retries, backoff_s=spec.backoff_s,
                                  backoff_max_s=spec.backoff_max_s)
        if budget is None and budget_usd is not None:
            budget = SharedBudget(budget_usd, budget_name or "default")
        backend = MeteredBackend(backend, price=spec.resolved_price(), budget=budget)
    use_cache = spec.cache if spec.cache is not None else not spec.is_baseline
    if use_cache and cache_dir is not None:
        namespace = {"spec": spec.spec, "endpoint": spec.endpoint, "params": spec.params}
        backend = CachedBackend(backend, Path(cache_dir) / CACHE_FILE, namespace)
    return backend

"""Backend factories: a spec prefix picks a factory and `build_backend` stacks the wrappers
around it. The provider table itself (kinds, endpoints, key variables) is
`valuespectrum.models.providers`; every provider there has its factory here
(`tests/models/test_model_spec.py` checks it). SDKs (openai, vllm's server, Tesseract,
sentence-transformers) are imported by the backends, and each backend module by its
factory, when a backend is built."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from valuespectrum.config import ConfigError
from valuespectrum.models.base import Backend
from valuespectrum.models.cache import CachedBackend
from valuespectrum.models.providers import PROVIDERS
from valuespectrum.models.shared import SharedBudget, SharedRateLimit, lease_shared_actor
from valuespectrum.models.spec import ModelSpec, VllmOptions
from valuespectrum.models.wrappers import MeteredBackend, RateLimitedBackend, RetryingBackend

CACHE_FILE = "responses.sqlite"


# Each factory imports its backend's module when a backend of that provider is built (the
# inspect_ai registry pattern): building one kind never loads the others or their SDKs
# (openai, vLLM's launcher, Tesseract, sentence-transformers / open_clip).


def _openai(spec: ModelSpec) -> Backend:
    from valuespectrum.models.openai_backend import OpenAIBackend

    p = PROVIDERS[spec.provider]
    json_ok = spec.json_schema if spec.json_schema is not None else p.json_schema
    return OpenAIBackend(spec.target, base_url=spec.base_url or p.base_url,
                         api_key_env=spec.key_env(), params=spec.params,
                         supports_json_schema=json_ok, name=spec.spec, timeout_s=spec.timeout_s)


def _vllm(spec: ModelSpec) -> Backend:
    from valuespectrum.models.vllm import VllmBackend

    return VllmBackend(spec)


def _baseline(spec: ModelSpec) -> Backend:
    from valuespectrum.models.baselines import make_baseline

    return make_baseline(spec)


def _ocr(spec: ModelSpec) -> Backend:
    from valuespectrum.models.baselines import DEFAULT_THRESHOLD
    from valuespectrum.models.ocr import OcrViewer

    # ModelSpec has checked the params (threshold only)
    return OcrViewer(spec.spec, threshold=float(spec.params.get("threshold", DEFAULT_THRESHOLD)))


def _scripted(spec: ModelSpec) -> Backend:
    from valuespectrum.models.scripted import ScriptedBackend

    params = dict(spec.params)
    replies = params.pop("replies", spec.target)
    latency = float(params.pop("latency_s", 0.0))
    if params:
        raise ConfigError(f"{spec.spec}: unknown params {sorted(params)} (expected replies, latency_s)")
    # a run's double keeps no request history: each request holds a screenshot, and
    # thousands of agents would keep gigabytes of them
    return ScriptedBackend(replies, latency_s=latency, name=spec.spec,
                           supports_json_schema=bool(spec.json_schema), keep_requests=0)


#: Provider name -> the factory building its bare backend (one per entry of PROVIDERS).
FACTORIES: dict[str, Callable[[ModelSpec], Backend]] = {
    "openai": _openai, "anthropic": _openai, "gemini": _openai, "dashscope": _openai,
    "vllm": _vllm, "embed": _baseline, "ocr": _ocr, "random": _baseline, "always": _baseline,
    "scripted": _scripted,
}


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
    spec = ModelSpec.parse(spec)
    if scope is None:
        scope = budget.name if budget is not None else budget_name
    backend = FACTORIES[spec.provider](spec)
    if spec.provider == "vllm" and not spec.base_url:
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

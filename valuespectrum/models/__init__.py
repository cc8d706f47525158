"""Model backends: API VLMs, vLLM-served local VLMs, CPU baselines, and stackable wrappers.

Public API::

    from valuespectrum.models import ModelSpec, build_backend
    backend = build_backend(ModelSpec.parse("openai:gpt-4o"), cache_dir="~/.vspec/cache")
    completion = await backend.generate(messages, GenerateConfig())
    await backend.aclose()
"""

from valuespectrum.models.base import (
    Backend,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    BudgetExceeded,
    RateLimited,
    TransientBackendError,
)
from valuespectrum.models.registry import build_backend
from valuespectrum.models.scripted import ScriptedBackend
from valuespectrum.models.shared import SharedBudget, SharedRateLimit, release_shared_actors
from valuespectrum.models.spec import ModelSpec, Price

__all__ = [
    "Backend", "BackendError", "BackendTimeout", "BackendUnavailable", "BudgetExceeded",
    "ModelSpec", "Price", "RateLimited", "ScriptedBackend", "SharedBudget", "SharedRateLimit",
    "TransientBackendError", "build_backend", "release_shared_actors",
]

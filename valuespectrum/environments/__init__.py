"""Environments a viewer agent steps through: the contract, the checker and the recipes.

Live implementations (`http_env.HttpFeedEnvironment`, `playwright_env.PlaywrightFeedEnvironment`)
are imported from their modules or built from an `EnvironmentSpec` with `build_environment`.
"""

from valuespectrum.environments.base import (
    EnvError,
    Environment,
    EnvironmentCheckError,
    EnvironmentClosed,
    EnvironmentCrashed,
    EnvironmentNotReady,
    EnvironmentTimeout,
    check_environment,
)
from valuespectrum.environments.spec import EnvironmentSpec, build_environment

__all__ = [
    "EnvError",
    "Environment",
    "EnvironmentCheckError",
    "EnvironmentClosed",
    "EnvironmentCrashed",
    "EnvironmentNotReady",
    "EnvironmentSpec",
    "EnvironmentTimeout",
    "build_environment",
    "check_environment",
]

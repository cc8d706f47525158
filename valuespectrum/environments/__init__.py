"""Environments a viewer agent steps through: the contract, the checker and the recipes.

Live implementations (`http_env`, `playwright_env`, `appium_env`, `android_env`,
`platform_env`) are imported from their modules or built from an `EnvironmentSpec` with
`build_environment`; the kinds are registered in `spec.KINDS`. See docs/environments.md.
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

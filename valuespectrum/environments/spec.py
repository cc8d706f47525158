"""Environment recipes: a frozen, picklable spec that a worker turns into a live environment.

Only the spec crosses process boundaries (e.g. to a Ray actor); the actor calls
`build_environment(spec, host=...)` itself. New kinds (an Appium/Android environment, real
platform profiles) register a builder in `_builders()`; callers do not change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from valuespectrum.config import ConfigError
from valuespectrum.types import Frozen

if TYPE_CHECKING:
    from valuespectrum.environments.base import Environment

EnvironmentKind = Literal["http", "playwright"]
Option = str | int | float | bool


class EnvironmentSpec(Frozen):
    """How to build one viewer's environment.

    Attributes:
        kind: "playwright" (real Chromium, default) or "http" (no browser, PIL-drawn posts).
        feed_url: base URL of the feed server (e.g. `FeedServer.url`).
        style: platform style: tiktok | youtube | instagram | random.
        session_id: feed session id; give every concurrent viewer its own.
        viewport: (width, height) in CSS pixels.
        timeout_s: how long to wait for the feed before raising EnvironmentTimeout.
        options: kind-specific extras (e.g. an Appium server URL or device name later).
    """

    kind: EnvironmentKind = "playwright"
    feed_url: str
    style: str = "tiktok"
    session_id: str = "viewer-0"
    viewport: tuple[int, int] = (390, 844)
    timeout_s: float = Field(15.0, gt=0)
    options: dict[str, Option] = Field(default_factory=dict)

    @field_validator("style")
    @classmethod
    def _known_style(cls, v: str) -> str:
        from valuespectrum.feed.recommenders import validate_style

        return validate_style(v)

    @field_validator("feed_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"feed_url must start with http:// or https://, got {v!r}")
        return v.rstrip("/")

    def with_session(self, session_id: str) -> EnvironmentSpec:
        """The same recipe for another viewer session."""
        return self.model_copy(update={"session_id": session_id})


Builder = Callable[[EnvironmentSpec, Any], Awaitable["Environment"]]


async def _build_http(spec: EnvironmentSpec, host: Any) -> Environment:
    from valuespectrum.environments.http_env import HttpFeedEnvironment

    return HttpFeedEnvironment(spec.feed_url, spec.style, spec.session_id,
                               viewport=spec.viewport, timeout_s=spec.timeout_s)


async def _build_playwright(spec: EnvironmentSpec, host: Any) -> Environment:
    from valuespectrum.environments.playwright_env import BrowserHost, PlaywrightFeedEnvironment

    own = host is None
    if own:
        host = await BrowserHost(**{k: v for k, v in spec.options.items()
                                    if k in ("executable_path", "headless")}).start()
    return PlaywrightFeedEnvironment(host, spec.feed_url, spec.style, spec.session_id,
                                     viewport=spec.viewport, timeout_s=spec.timeout_s,
                                     own_host=own)


def _builders() -> dict[str, Builder]:
    return {"http": _build_http, "playwright": _build_playwright}


async def build_environment(spec: EnvironmentSpec, *, host: Any = None) -> Environment:
    """Build the live environment a spec describes, inside the calling process.

    Args:
        spec: the recipe.
        host: a shared live handle for kinds that use one (a started `BrowserHost` for
            "playwright"); None makes the environment launch and own its own.
    """
    builder = _builders().get(spec.kind)
    if builder is None:  # pragma: no cover - Literal already rejects unknown kinds
        raise ConfigError(f"unknown environment kind {spec.kind!r}")
    return await builder(spec, host)

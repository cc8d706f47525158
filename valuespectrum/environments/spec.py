"""Environment recipes: a frozen, picklable spec that a worker turns into a live environment.

Only the spec crosses process boundaries (e.g. to a Ray actor); the actor calls
`build_environment(spec, host=...)` itself. New kinds (an Appium/Android environment, real
platform profiles) register in `KINDS`; spec validation and callers read the registry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator

from valuespectrum.types import Frozen

if TYPE_CHECKING:
    from valuespectrum.environments.base import Environment

Option = str | int | float | bool


class EnvironmentSpec(Frozen):
    """How to build one viewer's environment.

    Attributes:
        kind: A kind of the environment registry (`KINDS`): "playwright" (real Chromium,
            default), "http" (no browser, PIL-drawn posts), ...
        feed_url: base URL of the feed server (e.g. `FeedServer.url`).
        style: platform style: tiktok | youtube | instagram | random.
        session_id: feed session id; give every concurrent viewer its own.
        viewport: (width, height) in CSS pixels.
        timeout_s: how long to wait for the feed before raising EnvironmentTimeout.
        options: kind-specific extras; each kind names the options it accepts, and an unknown
            one is an error.
    """

    kind: str = "playwright"
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

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        return validate_kind(v)

    @model_validator(mode="after")
    def _known_options(self) -> EnvironmentSpec:
        validate_options(self.kind, self.options)
        return self

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


@dataclass(frozen=True)
class EnvironmentKind:
    """One registered kind of environment: its builder and the options it accepts."""

    name: str
    builder: Builder
    options: tuple[str, ...] = ()
    description: str = ""


KINDS: MappingProxyType[str, EnvironmentKind] = MappingProxyType({k.name: k for k in (
    EnvironmentKind("playwright", _build_playwright, ("executable_path", "headless"),
                    "real Chromium through Playwright"),
    EnvironmentKind("http", _build_http, (), "the feed's JSON API, posts drawn with PIL"),
)})


def validate_options(kind: str, options: dict[str, Any]) -> None:
    """Raise ValueError naming any option the environment kind does not accept."""
    allowed = KINDS[kind].options
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"options: unknown option(s) {unknown} for environment {kind!r}; "
                         f"it accepts {', '.join(sorted(allowed)) or 'none'}")


def validate_kind(kind: str) -> str:
    """Return `kind` if it is a registered environment kind, else raise ValueError."""
    if kind not in KINDS:
        raise ValueError(f"unknown environment kind {kind!r}; expected one of "
                         f"{', '.join(KINDS)}")
    return kind


async def build_environment(spec: EnvironmentSpec, *, host: Any = None) -> Environment:
    """Build the live environment a spec describes, inside the calling process.

    Args:
        spec: the recipe.
        host: a shared live handle for kinds that use one (a started `BrowserHost` for
            "playwright"); None makes the environment launch and own its own.
    """
    return await KINDS[spec.kind].builder(spec, host)

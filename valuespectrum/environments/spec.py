"""Environment recipes: a frozen, picklable spec that a worker turns into a live environment.

Only the spec crosses process boundaries (e.g. to a Ray actor); the actor calls
`build_environment(spec, host=...)` itself. New kinds (an Appium/Android environment, real
platform profiles) register in `KINDS`; spec validation and callers read the registry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pydantic import Field, field_validator, model_validator

from valuespectrum.environments.base import Environment
from valuespectrum.environments.observation import (
    OBSERVATION_OPTIONS,
    SCREENSHOT_OPTIONS,
    ObservationMode,
    validate_motion,
)
from valuespectrum.environments.profiles import PACKAGED, AndroidApp, load_profile
from valuespectrum.feed.recommenders import validate_style
from valuespectrum.specs import expand
from valuespectrum.types import Frozen

Option = str | int | float | bool


class EnvironmentSpec(Frozen):
    """How to build one viewer's environment.

    Attributes:
        kind: A kind of the environment registry (`KINDS`): "playwright" (real Chromium,
            default), "http" (no browser, PIL-drawn posts), "appium-web" (mobile Chromium
            through Appium), "android" (a device), "platform" (a real site's profile).
        feed_url: base URL of the feed server (e.g. `FeedServer.url`).
        style: a feed style of `feed.recommenders.STYLES` (tiktok, cowatch, a -frozen twin...).
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
        return validate_style(v)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        return validate_kind(v)

    @model_validator(mode="after")
    def _known_options(self) -> EnvironmentSpec:
        validate_options(self.kind, self.options, self.style)
        return self

    @field_validator("feed_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"feed_url must start with http:// or https://, got {v!r}")
        return v.rstrip("/")


Builder = Callable[[EnvironmentSpec, Any], Awaitable["Environment"]]


def _observation(spec: EnvironmentSpec) -> Any:
    return ObservationMode.from_options(spec.options)


def _motion(spec: EnvironmentSpec) -> str:
    return str(spec.options.get("motion", "none"))


async def _build_http(spec: EnvironmentSpec, host: Any) -> Environment:
    from valuespectrum.environments.http_env import HttpFeedEnvironment

    return HttpFeedEnvironment(spec.feed_url, spec.style, spec.session_id,
                               viewport=spec.viewport, timeout_s=spec.timeout_s,
                               observation=_observation(spec), motion=_motion(spec),
                               client=host.client if host is not None else None,
                               drawings=host.drawings if host is not None else None)


async def _browser_host(spec: EnvironmentSpec, host: Any) -> tuple[Any, bool]:
    from valuespectrum.environments.playwright_env import BrowserHost

    if host is not None:
        return host, False
    return await BrowserHost(**{k: v for k, v in spec.options.items()
                                if k in ("executable_path", "headless")}).start(), True


async def _build_playwright(spec: EnvironmentSpec, host: Any) -> Environment:
    from valuespectrum.environments.playwright_env import PlaywrightFeedEnvironment

    host, own = await _browser_host(spec, host)
    return PlaywrightFeedEnvironment(host, spec.feed_url, spec.style, spec.session_id,
                                     viewport=spec.viewport, timeout_s=spec.timeout_s,
                                     own_host=own, observation=_observation(spec),
                                     motion=_motion(spec))


async def _appium_server(spec: EnvironmentSpec, host: Any) -> tuple[Any, bool]:
    import asyncio

    from valuespectrum.environments.appium_server import AppiumServer

    if host is not None:
        return host, False
    url = spec.options.get("appium_url")
    server = AppiumServer(str(url) if url else None)
    await asyncio.to_thread(server.start)
    return server, True


async def _build_appium_web(spec: EnvironmentSpec, host: Any) -> Environment:
    from valuespectrum.environments.appium_env import PHONE_USER_AGENT, AppiumWebEnvironment

    server, own = await _appium_server(spec, host)
    return AppiumWebEnvironment(
        server, spec.feed_url, spec.style, spec.session_id, viewport=spec.viewport,
        timeout_s=spec.timeout_s, own_server=own, observation=_observation(spec),
        motion=_motion(spec), user_agent=str(spec.options.get("user_agent", PHONE_USER_AGENT)))


def _profile(spec: EnvironmentSpec) -> Any:
    name = str(spec.options.get("profile", spec.style))
    return load_profile(expand(name) if name.endswith((".yaml", ".yml")) else name)


async def _build_android(spec: EnvironmentSpec, host: Any) -> Environment:
    from valuespectrum.environments.android_env import AndroidEnvironment

    o = spec.options
    if "app_package" in o:
        app = AndroidApp(package=str(o["app_package"]), activity=str(o.get("app_activity", "")),
                         deep_link=str(o["deep_link"]) if "deep_link" in o else None)
    elif "browser" in o:
        app = None
    else:
        app = _profile(spec).android
    server, own = await _appium_server(spec, host)
    return AndroidEnvironment(
        server, app, udid=_opt(o, "udid"), platform_version=_opt(o, "platform_version"),
        browser=_opt(o, "browser"), start_url=_opt(o, "start_url"),
        settle_s=float(o.get("settle_s", 1.0)), time_scale=float(o.get("time_scale", 1.0)),
        timeout_s=spec.timeout_s, observation=_observation(spec), own_server=own)


async def _build_platform(spec: EnvironmentSpec, host: Any) -> Environment:
    from valuespectrum.environments.platform_env import PlatformEnvironment

    o = spec.options
    profile = _profile(spec)
    account = str(o.get("account", ""))
    state = o.get("storage_state")
    if state is None:  # what `vspec login` saved, when it did
        from valuespectrum.environments.login import auth_path

        default = auth_path(profile.name, account)
        state = str(default) if default.is_file() else None
    host, own = await _browser_host(spec, host)
    return PlatformEnvironment(
        host, profile, storage_state=expand(str(state)) if state else None, account=account,
        region=str(o.get("region", "")), start_url=_opt(o, "start_url"),
        viewport=spec.viewport, timeout_s=spec.timeout_s,
        time_scale=float(o.get("time_scale", 1.0)), observation=_observation(spec),
        own_host=own)


def _opt(options: dict[str, Option], name: str) -> str | None:
    return str(options[name]) if name in options else None


@dataclass(frozen=True)
class EnvironmentKind:
    """One registered kind of environment.

    Attributes:
        name: The kind's name in specs.
        builder: Builds the live environment from a spec and an optional shared handle.
        options: The options it accepts (besides the observation options every kind takes).
        description: One line for docs and errors.
        host: The shared live handle it runs on: "browser" (a Playwright BrowserHost),
            "appium" (an AppiumServer), "feed" (an `http_env.FeedHost`: a FeedClient and a
            cache of drawn posts) or None; a ViewerHost shares one per actor.
    """

    name: str
    builder: Builder
    options: tuple[str, ...] = ()
    description: str = ""
    host: str | None = None

    @property
    def accepted(self) -> tuple[str, ...]:
        """Every option name the kind accepts."""
        return (*self.options, *OBSERVATION_OPTIONS)


KINDS: MappingProxyType[str, EnvironmentKind] = MappingProxyType({k.name: k for k in (
    EnvironmentKind("playwright", _build_playwright,
                    ("executable_path", "headless", "motion", *SCREENSHOT_OPTIONS),
                    "the built-in feed in real Chromium through Playwright", "browser"),
    EnvironmentKind("http", _build_http, ("motion", *SCREENSHOT_OPTIONS),
                    "the built-in feed's JSON API, posts drawn with PIL", "feed"),
    EnvironmentKind("appium-web", _build_appium_web, ("appium_url", "user_agent", "motion"),
                    "the built-in feed in mobile Chromium through Appium", "appium"),
    EnvironmentKind("android", _build_android,
                    ("appium_url", "profile", "udid", "platform_version", "app_package",
                     "app_activity", "deep_link", "browser", "start_url", "settle_s",
                     "time_scale"),
                    "an Android app or browser on a device, through Appium UiAutomator2",
                    "appium"),
    EnvironmentKind("platform", _build_platform,
                    ("profile", "storage_state", "account", "region", "start_url",
                     "time_scale", "executable_path", "headless"),
                    "a real platform's web feed (a profile) in Chromium", "browser"),
)})


def validate_options(kind: str, options: dict[str, Any], style: str | None = None) -> None:
    """Check an environment's options against its kind; ValueError naming the problem."""
    entry = KINDS[kind]
    unknown = sorted(set(options) - set(entry.accepted))
    if unknown:
        raise ValueError(
            f"options: unknown option(s) {unknown} for environment {kind!r}; "
            f"it accepts {', '.join(sorted(entry.accepted))}")
    ObservationMode.from_options(options)
    validate_motion(options)
    for name in ("time_scale", "settle_s"):
        value = options.get(name, 1.0)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"options.{name}: expected a number >= 0, got {value!r}")
    if kind in ("platform", "android") and "profile" not in options and style is not None \
            and not ({"app_package", "browser"} & set(options)):
        if style not in PACKAGED:
            raise ValueError(f"options.profile: style {style!r} has no packaged profile; "
                             f"name one ({', '.join(PACKAGED)}) or a profile YAML")


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
        host: the shared live handle of kinds that use one (`EnvironmentKind.host`: a
            started `BrowserHost` or `AppiumServer`, an `http_env.FeedHost`); None makes the
            environment start and own its own.
    """
    return await KINDS[spec.kind].builder(spec, host)

"""Real platform profiles: how to watch a site's short-video feed, as data.

A profile is one YAML file (packaged ones in `valuespectrum/data/profiles/`): the start
URL, how to advance, how to tell that a new video started, where the screenshot is taken,
where the post's id, link, caption, creator and post date are read, how long to wait, and
which requests the observe-only guard blocks. When a site changes, fix the selector in
the YAML (or point `profile:` at your own copy); no code changes.

The packaged profiles were written from the platforms' public web pages and tested only
against local replica pages (`tests/environments/replicas.py`); none was verified live
here (no internet). See docs/environments.md.
"""

from __future__ import annotations

import datetime as dt
import re
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from valuespectrum.config import ConfigError, read_yaml, validate
from valuespectrum.types import Frozen

#: The packaged profiles: every YAML file in `valuespectrum/data/profiles/` (a new platform is
#: one new file there, nothing else).
PACKAGED: tuple[str, ...] = tuple(sorted(
    f.name.removesuffix(".yaml") for f in resources.files("valuespectrum.data").joinpath(
        "profiles").iterdir() if f.name.endswith(".yaml")))


class ValueSource(Frozen):
    """Where one value is read.

    Attributes:
        source: ``element`` (a DOM element) or ``url`` (the page's address).
        selector: CSS selector of the element (``element`` source).
        scope: ``post`` (searched inside the current post) or ``page``.
        attribute: Read this attribute (e.g. ``href``, ``datetime``); default: the text.
        pattern: A regular expression; its first group (or the whole match) is the value.
        transform: ``id_time``: the value is a numeric id whose upper 32 bits are the Unix
            time of posting (TikTok's ids); it becomes that ISO date.
    """

    source: Literal["element", "url"] = "element"
    selector: str | None = None
    scope: Literal["post", "page"] = "post"
    attribute: str | None = None
    pattern: str | None = None
    transform: Literal["none", "id_time"] = "none"

    @field_validator("pattern")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"not a regular expression: {e}") from None
        return v

    def extract(self, raw: str) -> str:
        """The value from the raw text or attribute read in the page."""
        value = raw or ""
        if self.pattern and value:
            m = re.search(self.pattern, value)
            value = (m.group(1) if m and m.groups() else m.group(0)) if m else ""
        if self.transform == "id_time" and value:
            try:
                seconds = int(value) >> 32
                value = dt.datetime.fromtimestamp(seconds, dt.UTC).date().isoformat()
            except (ValueError, OverflowError, OSError):
                value = ""
        return value.strip()


class Advance(Frozen):
    """How the viewer scrolls to the next video: a key, an upward swipe or a wheel step."""

    method: Literal["key", "swipe", "wheel"] = "key"
    key: str = "ArrowDown"


class Waits(Frozen):
    """Seconds to wait (real time; scaled by the environment's `time_scale` on replicas)."""

    load_s: float = Field(default=2.0, ge=0, description="after opening the start URL")
    settle_s: float = Field(default=0.5, ge=0, description="after a new video started")
    new_video_timeout_s: float = Field(default=15.0, gt=0,
                                       description="for the next video to appear")


class AndroidApp(Frozen):
    """The platform's Android app, for the `android` environment (UiAutomator2).

    Attributes:
        package: The app's package name.
        activity: The activity to launch.
        deep_link: Opened after launch to reach the short-video feed (optional).
        caption_id: resource-id of the caption view, when known for your app version.
        creator_id: resource-id of the creator's name view.
    """

    package: str
    activity: str
    deep_link: str | None = None
    caption_id: str | None = None
    creator_id: str | None = None


class PlatformProfile(Frozen):
    """One real platform's short-video feed, as data (see the module docstring)."""

    name: str = Field(pattern=r"^[a-z0-9_\-]+$")
    description: str = ""
    start_url: str = Field(pattern=r"^https?://")
    login_url: str = Field(pattern=r"^https?://")
    logged_in: str | None = Field(
        default=None, description="selector present once logged in (login check)")
    user_agent: str | None = Field(default=None, description="default: the browser's own")
    post: str = Field(description="selector of post containers; the current post is the one "
                                  "holding the viewport's centre")
    video: str = Field(default="video", description="the video element inside a post")
    item_id: ValueSource
    link: ValueSource | None = None
    caption: ValueSource | None = None
    creator: ValueSource | None = None
    posted: ValueSource | None = None
    hashtags_from_caption: bool = True
    screenshot: str = Field(default="viewport",
                            description="viewport | post | a CSS selector to clip to")
    advance: Advance = Advance()
    pause_while_deciding: bool = Field(
        default=True, description="pause the video after the screenshot until Stay plays it, "
                                  "so the model's thinking time is not watch time")
    waits: Waits = Waits()
    blocked_requests: tuple[str, ...] = Field(
        default=(), description="URL globs (`*` = anything) of engagement endpoints")
    blocked_bodies: tuple[str, ...] = Field(
        default=(), description="regexes on request bodies of engagement calls (GraphQL)")
    android: AndroidApp | None = None

    @field_validator("blocked_bodies")
    @classmethod
    def _regexes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(f"{pattern!r} is not a regular expression: {e}") from None
        return v


def load_profile(name_or_path: str | Path) -> PlatformProfile:
    """A packaged profile by name (tiktok, youtube, instagram) or a profile YAML file.

    Raises:
        ConfigError: unknown name, unreadable file, or a field that fails validation (with
            file, line and field).
    """
    text = str(name_or_path)
    if text in PACKAGED:
        path = Path(str(resources.files("valuespectrum.data").joinpath(f"profiles/{text}.yaml")))
    elif text.endswith((".yaml", ".yml")) or "/" in text:
        path = Path(text).expanduser()
    else:
        raise ConfigError(f"unknown platform profile {text!r}: expected one of "
                          f"{', '.join(PACKAGED)} or a path to a profile YAML")
    data, lines = read_yaml(path)
    return validate(PlatformProfile, data, str(path), lines)


def glob_regex(glob: str) -> re.Pattern[str]:
    """A URL glob (`*` matches anything) as a regular expression."""
    return re.compile(".*".join(re.escape(part) for part in glob.split("*")))


def engagement_globs() -> tuple[str, ...]:
    """Every packaged profile's blocked URL globs: the guard used on any page."""
    out: list[str] = []
    for name in PACKAGED:
        out += [g for g in load_profile(name).blocked_requests if g not in out]
    return tuple(out)

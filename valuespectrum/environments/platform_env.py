"""Real platforms in Chromium, driven by a profile (`profiles.PlatformProfile`).

The environment opens the profile's start URL in its own context of a shared `BrowserHost`
(logged in with a `storage_state` saved by `vspec login`), finds the post holding the
viewport's centre, waits until its video has data, takes the screenshot at video start and
reads id, link, caption, creator and post date where the profile says. `Stay(d)` plays the
video for `d` seconds (real time on a live site), `Skip()` moves on at once; the profile's
advance (key, swipe or wheel) scrolls. Every request passes the observe-only guard.

Time is real on a live site. `time_scale` (< 1) shortens every wait, for replicas only. A
Stay lasts at most the video's length (or MAX_UNKNOWN_DWELL_S when the page hides it).
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from valuespectrum.environments.base import EnvError, EnvironmentTimeout, utc_date
from valuespectrum.environments.guard import RequestGuard
from valuespectrum.environments.observation import ObservationMode
from valuespectrum.environments.playwright_env import BrowserEnvironment, BrowserHost
from valuespectrum.environments.profiles import PlatformProfile
from valuespectrum.types import Action, Observation, Skip, StepResult, VisibleText

#: Seconds without a new post after which the advance (key, wheel, swipe) is repeated.
ADVANCE_RETRY_S = 2.0
#: Longest Stay on a video whose length the page does not tell.
MAX_UNKNOWN_DWELL_S = 60.0

# Reads the current post: the post container holding the viewport's centre.
SNAPSHOT_JS = """(p) => {
  const cx = innerWidth / 2, cy = innerHeight / 2;
  const posts = Array.from(document.querySelectorAll(p.post));
  const holds = (e) => { const r = e.getBoundingClientRect();
    return r.top <= cy && r.bottom >= cy && r.left <= cx && r.right >= cx; };
  const post = posts.find(holds) || (posts.length === 1 ? posts[0] : null);
  const read = (src) => {
    if (!src) return "";
    if (src.source === "url") return location.href;
    const root = src.scope === "page" ? document : post;
    const el = root && src.selector ? root.querySelector(src.selector) : null;
    if (!el) return "";
    return src.attribute ? (el.getAttribute(src.attribute) || "") : el.textContent.trim();
  };
  const video = post ? post.querySelector(p.video) : null;
  const r = post ? post.getBoundingClientRect() : null;
  return {
    found: !!post, url: location.href, item_id: read(p.item_id), link: read(p.link),
    caption: read(p.caption), creator: read(p.creator), posted: read(p.posted),
    duration: video && isFinite(video.duration) && video.duration > 0 ? video.duration : null,
    ready: !video || video.readyState >= 2 || (!video.currentSrc && !video.srcObject),
    rect: r ? [r.x, r.y, r.width, r.height] : null,
  };
}"""

VIDEO_JS = """([p, play]) => {
  const cx = innerWidth / 2, cy = innerHeight / 2;
  for (const e of document.querySelectorAll(p.post)) {
    const r = e.getBoundingClientRect();
    if (r.top <= cy && r.bottom >= cy) {
      const v = e.querySelector(p.video);
      if (v) { if (play) { v.play().catch(() => {}); } else { v.pause(); } }
      return !!v;
    }
  }
  return false;
}"""


class PlatformEnvironment(BrowserEnvironment):
    """A real platform's feed (or a replica of it) in a context of a shared browser.

    Args:
        host: a started BrowserHost (shared); see `own_host`.
        profile: the platform profile.
        storage_state: a `vspec login` file (cookies, local storage); None: logged out.
        account: label of the account (recorded with every step, never a password).
        region: label of the region the feed is seen from (recorded with every step).
        start_url: replaces the profile's start URL (a replica or a mirror).
        viewport: CSS pixels.
        timeout_s: page-load timeout.
        time_scale: real seconds per second of the feed; 1 on live sites.
        observation: what is captured of each post.
        own_host: close the host with the environment.
    """

    def __init__(self, host: BrowserHost, profile: PlatformProfile, *,
                 storage_state: str | None = None, account: str = "", region: str = "",
                 start_url: str | None = None, viewport: tuple[int, int] = (390, 844),
                 timeout_s: float = 30.0, time_scale: float = 1.0,
                 observation: ObservationMode | None = None, own_host: bool = False) -> None:
        if storage_state is not None and not Path(storage_state).is_file():
            raise EnvError(f"storage_state {storage_state}: no such file; record it once with "
                           f"`vspec login {profile.name}`")
        self.host = host
        self.profile = profile
        self.storage_state = storage_state
        self.account, self.region = account, region
        self.start_url = start_url or profile.start_url
        self.viewport = viewport
        self.timeout_s = timeout_s
        self.time_scale = time_scale
        self.observation = observation or ObservationMode()
        self.own_host = own_host
        self.guard = RequestGuard(profile.blocked_requests, profile.blocked_bodies)
        self._p = profile.model_dump(include={"post", "video", "item_id", "link", "caption",
                                              "creator", "posted"})
        self._context: Any = None
        self._page: Any = None
        self._obs: Observation | None = None
        self._started = 0.0
        self._step = 0
        self._clock = 0.0

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds * self.time_scale)

    async def _snapshot(self) -> dict[str, Any]:
        snap = await self._guard(self._page.evaluate(SNAPSHOT_JS, self._p))
        p = self.profile
        snap["item_id"] = p.item_id.extract(snap["item_id"])
        for name in ("link", "caption", "creator", "posted"):
            source = getattr(p, name)
            snap[name] = source.extract(snap[name]) if source is not None else ""
        if snap["link"]:
            snap["link"] = urljoin(snap["url"], snap["link"])
        return snap

    async def _wait_for_post(self, previous: str | None, advance: bool = False
                             ) -> dict[str, Any]:
        """Poll until a post other than `previous` is current and its video has data.

        With `advance`, scroll first, and scroll again when nothing moved for
        ADVANCE_RETRY_S: feeds drop a key press or wheel step that comes too soon after
        the last one.
        """
        now = time.monotonic()
        deadline = now + self.profile.waits.new_video_timeout_s
        retry_at = now + ADVANCE_RETRY_S
        snap: dict[str, Any] = {"item_id": previous}
        if advance:
            await self._advance()
        while time.monotonic() < deadline:
            snap = await self._snapshot()
            if snap["found"] and snap["item_id"] and snap["item_id"] != previous \
                    and snap["ready"]:
                return snap
            if advance and snap["item_id"] == previous and time.monotonic() > retry_at:
                await self._advance()
                retry_at = time.monotonic() + ADVANCE_RETRY_S
            await asyncio.sleep(0.05)
        raise EnvironmentTimeout(
            f"{self.profile.name}: no new post within {self.profile.waits.new_video_timeout_s} s "
            f"(last read: post found={snap.get('found')}, id={snap.get('item_id')!r}, "
            f"url={snap.get('url')}); check the profile's `post` and `item_id` selectors")

    async def _shot(self, snap: dict[str, Any]) -> bytes:
        region = self.profile.screenshot
        if region == "viewport":
            return await self._guard(self._page.screenshot(type="png"))
        if region == "post" and snap.get("rect"):
            x, y, w, h = snap["rect"]
            vw, vh = self.viewport
            x0, y0 = max(0.0, x), max(0.0, y)
            clip = {"x": x0, "y": y0, "width": max(1.0, min(vw, x + w) - x0),
                    "height": max(1.0, min(vh, y + h) - y0)}
            return await self._guard(self._page.screenshot(type="png", clip=clip))
        return await self._guard(self._page.locator(region).first.screenshot(type="png"))

    async def _capture(self, snap: dict[str, Any]) -> Observation:
        self._started = time.monotonic()
        await self._sleep(self.profile.waits.settle_s)
        frames, last = [], 0.0
        for t in self.observation.times(snap["duration"]):
            await self._sleep(t - last)  # frames follow the video in real time
            last = t
            frames.append(await self._shot(snap))
        if self.profile.pause_while_deciding:
            await self._guard(self._page.evaluate(VIDEO_JS, [self._p, False]))
        tags = tuple(re.findall(r"#(\w+)", snap["caption"])) \
            if self.profile.hashtags_from_caption else ()
        meta = {"environment": "platform", "profile": self.profile.name,
                "browser": self.host.version, "account": self.account, "region": self.region,
                "date": utc_date(), "start_url": self.start_url}
        self._obs = Observation(
            screenshot_png=frames[0], url=snap["url"], item_id=snap["item_id"],
            text=VisibleText(caption=snap["caption"], creator=snap["creator"], hashtags=tags),
            duration_s=snap["duration"], t_s=self._clock, step=self._step,
            mode=self.observation.mode, frames=tuple(frames) if len(frames) > 1 else (),
            link=snap["link"] or snap["url"], posted=snap["posted"], meta=meta)
        return self._obs

    async def reset(self, *, seed: int | None = None) -> Observation:
        """Open the feed in a fresh context (a live feed ignores the seed)."""
        self._check_open()
        await self._close_context()
        extra: dict[str, Any] = {"service_workers": "block"}  # workers would bypass the guard
        if self.storage_state:
            extra["storage_state"] = self.storage_state
        if self.profile.user_agent:
            extra["user_agent"] = self.profile.user_agent
        self._context = await self._guard(self.host.new_context(
            self.viewport, has_touch=self.profile.advance.method == "swipe", **extra))
        self._context.set_default_timeout(self.timeout_s * 1000)
        await self.guard.install(self._context)
        self._page = await self._guard(self._context.new_page())
        await self._guard(self._page.goto(self.start_url))
        await self._sleep(self.profile.waits.load_s)
        self._step, self._clock = 0, 0.0
        return await self._capture(await self._wait_for_post(None))

    async def _advance(self) -> None:
        how = self.profile.advance
        w, h = self.viewport
        if how.method == "key":
            await self._guard(self._page.keyboard.press(how.key))
        elif how.method == "wheel":
            await self._guard(self._page.mouse.move(w / 2, h / 2))
            await self._guard(self._page.mouse.wheel(0, h))
        else:  # an upward swipe, as touch events
            await self._guard(self._page.evaluate(SWIPE_JS, [w / 2, h * 0.75, h * 0.3]))

    async def act(self, action: Action) -> StepResult:
        """Stay: play the video for dwell_s seconds, then advance; Skip: advance at once."""
        obs = await self.observe()
        duration = obs.duration_s
        watched = 0.0
        if not isinstance(action, Skip):
            # a whole watch ends with the video (it would loop); an unknown length is capped
            watched = min(float(action.dwell_s), duration or MAX_UNKNOWN_DWELL_S)
            if self.profile.pause_while_deciding:
                await self._guard(self._page.evaluate(VIDEO_JS, [self._p, True]))
            await self._sleep(watched)
        snap = await self._wait_for_post(obs.item_id, advance=True)
        ratio = min(1.0, watched / duration) if duration else (1.0 if watched > 0 else 0.0)
        self._clock += watched
        self._step += 1
        nxt = await self._capture(snap)
        await self._purge_if_due(self._step)
        return StepResult(observation=nxt, watched_s=watched, watch_ratio=ratio,
                          item_id=obs.item_id)

    def blocked_requests(self) -> list[str]:
        """Engagement requests the guard stopped so far (method and URL)."""
        return list(self.guard.blocked)


SWIPE_JS = """([x, y0, y1]) => {
  const touch = (y) => new Touch({identifier: 1, target: document.elementFromPoint(x, y0)
    || document.body, clientX: x, clientY: y});
  const target = document.elementFromPoint(x, y0) || document.body;
  target.dispatchEvent(new TouchEvent("touchstart", {touches: [touch(y0)],
    changedTouches: [touch(y0)], bubbles: true}));
  target.dispatchEvent(new TouchEvent("touchmove", {touches: [touch(y1)],
    changedTouches: [touch(y1)], bubbles: true}));
  target.dispatchEvent(new TouchEvent("touchend", {touches: [], changedTouches: [touch(y1)],
    bubbles: true}));
}"""

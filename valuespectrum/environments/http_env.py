"""A browser-free feed environment over the feed server's JSON API.

The screenshot is the post drawn with PIL (image, creator, caption, hashtags on a phone-
sized canvas), so CPU baselines and fast tests get the same Observation shape as the
Playwright environment at a fraction of the cost. Its `screenshot` option draws the post
straight to JPEG (no PNG to re-encode for the run directory) or, for viewers that read only
the on-screen text, not at all (no image fetched, nothing drawn).
"""

from __future__ import annotations

import io
import textwrap
from typing import Any
from urllib.parse import urlencode

from tenacity import AsyncRetrying, retry_if_exception, stop_before_delay, wait_exponential

from valuespectrum.environments.base import (
    EnvError,
    EnvironmentBase,
    EnvironmentCrashed,
    EnvironmentTimeout,
    utc_date,
)
from valuespectrum.environments.feed_client import FeedClient, Reply
from valuespectrum.environments.observation import ObservationMode, panzoom
from valuespectrum.types import Action, Observation, Skip, StepResult, VisibleText

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def _font(path: str, size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.truetype(path, size)
    except OSError:
        return ImageFont.load_default(size)


def _load_picture(image_bytes: bytes | None, viewport: tuple[int, int]) -> Any:
    """The post's image fitted into the media area (as the page's CSS fits it), or None."""
    from PIL import Image

    if not image_bytes:
        return None
    w, h = viewport
    try:
        with Image.open(io.BytesIO(image_bytes)) as im:
            im.draft("RGB", (w, h))
            pic = im.convert("RGBA")
        pic.thumbnail((w, int(h * 0.78)))
        return pic
    except Exception:  # noqa: BLE001 - a broken image still shows the text, as in a browser
        return None


def _compose(pic: Any, item: dict[str, Any], viewport: tuple[int, int], t_s: float,
             motion: str, image: str = "png", jpeg_quality: int = 80) -> bytes:
    from PIL import Image, ImageDraw

    w, h = viewport
    canvas = Image.new("RGB", (w, h), (244, 241, 234))
    if pic is not None:
        scale, fx, fy = (panzoom(t_s, item.get("item_id", "")) if motion == "panzoom"
                         else (1.0, 0.0, 0.0))
        if scale != 1.0:
            pic = pic.resize((max(1, round(pic.width * scale)), max(1, round(pic.height * scale))))
        x = (w - pic.width) // 2 + round(fx * w)
        y = (h - pic.height) // 2 + round(fy * h)
        canvas.paste(pic, (x, y), pic)
    draw = ImageDraw.Draw(canvas)
    regular, bold = _font(FONT, 15), _font(FONT_BOLD, 15)
    lines = [(item.get("creator", ""), bold)]
    lines += [(ln, regular) for ln in textwrap.wrap(item.get("caption", ""), 34)[:3]]
    tags = " ".join(f"#{t}" for t in item.get("hashtags", ()))
    lines += [(ln, bold) for ln in textwrap.wrap(tags, 34)[:2]]
    top = h - 16 - 21 * len(lines)
    draw.rectangle((0, top - 12, w, h), fill=(40, 40, 40))
    for i, (text, font) in enumerate(lines):
        draw.text((16, top + 21 * i), text, fill=(255, 255, 255), font=font)
    draw.rectangle((0, h - 4, w, h), fill=(90, 90, 90))
    out = io.BytesIO()
    if image == "jpeg":  # encoded once, as the model and the run directory take it
        canvas.save(out, format="JPEG", quality=jpeg_quality)
    else:
        canvas.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def render_post(image_bytes: bytes | None, item: dict[str, Any],
                viewport: tuple[int, int] = (390, 844), t_s: float = 0.0,
                motion: str = "none") -> bytes:
    """Draw a post like the feed page does (at video time `t_s`) and return PNG bytes."""
    return _compose(_load_picture(image_bytes, viewport), item, viewport, t_s, motion)


def render_frames(image_bytes: bytes | None, item: dict[str, Any], viewport: tuple[int, int],
                  times: list[float], motion: str = "none", image: str = "png",
                  jpeg_quality: int = 80) -> list[bytes]:
    """The post at each video time in `times`, as PNG or JPEG (the image is decoded once)."""
    pic = _load_picture(image_bytes, viewport)
    return [_compose(pic, item, viewport, t, motion, image, jpeg_quality) for t in times]


class HttpFeedEnvironment(EnvironmentBase):
    """Steps through a running feed server without a browser.

    The feed server may restart under it (e.g. the sweep driver's server thread): requests
    that fail to connect are retried for up to `reconnect_s`. The session lives in the
    driver's `FeedPlatform`, not in the server, so after reconnecting it continues where
    it was. A request whose answer was lost after the server acted on it is detected from
    the session's history: a watch event already recorded is taken from there, and a post
    served but never received raises `EnvironmentCrashed`, so the trial restarts from its
    seed instead of continuing on a feed that diverged.

    Args:
        feed_url: the server's base URL (e.g. `FeedServer.url`).
        style: a feed style of `feed.recommenders.STYLES` (tiktok, cowatch, random...).
        session_id: the feed session this environment drives (reset re-opens it).
        viewport: size of the rendered screenshot.
        timeout_s: per-request timeout.
        observation: what is captured of each post (default: one screenshot).
        motion: ``panzoom`` animates posts over the virtual clock, as the page does.
        reconnect_s: how long to keep reconnecting to a feed server that went away
            (default: `timeout_s`).
        client: the `FeedClient` it shares with other environments (a viewer actor's:
            their watch events travel in batches); None opens one of its own.

    Attributes:
        reconnects: Requests that needed at least one reconnection.
    """

    def __init__(self, feed_url: str, style: str = "tiktok", session_id: str = "http-0",
                 viewport: tuple[int, int] = (390, 844), timeout_s: float = 10.0,
                 observation: ObservationMode | None = None, motion: str = "none",
                 reconnect_s: float | None = None, client: FeedClient | None = None) -> None:
        self.feed_url = feed_url.rstrip("/")
        self.style = style
        self.session_id = session_id
        self.viewport = viewport
        self.observation = observation or ObservationMode()
        self.motion = motion
        self._meta = {"environment": "http", "renderer": "PIL"}
        self.timeout_s = timeout_s
        self.reconnect_s = timeout_s if reconnect_s is None else reconnect_s
        self._own_client = client is None
        self._client = FeedClient() if client is None else client
        self._seed = 0
        self._obs: Observation | None = None
        self._step = 0
        self._served = 0  # posts this environment received in the current session
        self.reconnects = 0

    async def _attempt(self, method: str, path: str, **kwargs: Any) -> Reply:
        """One request, its answer read in full; a watch event goes in the client's next
        batch to this feed server, with other viewers' (FeedClient)."""
        if path == "/api/events":
            return await self._client.event(self.feed_url, kwargs["json"], self.timeout_s)
        return await self._client.request(method, self.feed_url + path, self.timeout_s,
                                          **kwargs)

    async def _send(self, method: str, path: str, **kwargs: Any) -> tuple[Reply, bool]:
        """The response, and whether the connection had to be re-established for it."""
        import aiohttp

        self._check_open()

        def unreachable(e: BaseException) -> bool:  # refused, reset, server went away
            return isinstance(e, aiohttp.ClientConnectionError) \
                and not isinstance(e, TimeoutError | aiohttp.ServerTimeoutError)

        # waits 0.05, 0.1, 0.2, ... 1 s between attempts; gives up when the next wait would
        # end past `reconnect_s`
        retrying = AsyncRetrying(
            retry=retry_if_exception(unreachable),
            wait=wait_exponential(multiplier=0.05, max=1.0),
            stop=stop_before_delay(self.reconnect_s),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    r = await self._attempt(method, path, **kwargs)
        except (TimeoutError, aiohttp.ServerTimeoutError) as e:
            raise EnvironmentTimeout(f"{method} {path}: feed server timed out") from e
        except aiohttp.ClientConnectionError as e:
            raise EnvironmentCrashed(
                f"{method} {path}: feed server unreachable for {self.reconnect_s:g} s: "
                f"{e or type(e).__name__}") from e
        retried = retrying.statistics["attempt_number"] > 1
        self.reconnects += retried
        return r, retried

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        r, retried = await self._send(method, path, **kwargs)
        return self._check(r, method, path, retried)

    def _check(self, r: Any, method: str, path: str, retried: bool) -> Any:
        """The response's content (JSON for the API); 4xx/5xx become environment errors."""
        if r.status >= 400:
            try:
                message = r.json().get("error", r.text)
            except (ValueError, AttributeError):
                message = r.text
            if retried and r.status == 404 and path.startswith("/api/"):
                # a server that came back without our session: start the trial over
                raise EnvironmentCrashed(f"{method} {path}: the feed lost session "
                                         f"{self.session_id!r} while reconnecting")
            raise EnvError(f"{method} {path}: HTTP {r.status}: {message}")
        return r.json() if path.startswith("/api/") else r.body

    async def _history(self) -> dict[str, Any]:
        return await self._call("GET", "/api/history", params={"session": self.session_id})

    async def _next_observation(self, t_s: float) -> Observation:
        r, retried = await self._send("GET", "/api/next", params={"session": self.session_id})
        if retried:  # did a lost answer serve a post we never saw?
            self._check_received(await self._history(), r.status < 400)
        return await self._observe(self._check(r, "GET", "/api/next", retried), t_s)

    def _check_received(self, history: dict[str, Any], plus: int) -> None:
        """After a reconnect: has the feed (its `history`) served a post whose answer never
        arrived? `plus`: posts received in the answer at hand."""
        served = len(history["served"])
        received = self._served + plus
        if served != received:
            raise EnvironmentCrashed(
                f"the feed served {served} posts but this viewer received {received} "
                "(an answer lost while reconnecting); restarting the trial")

    async def _observe(self, item: dict[str, Any], t_s: float) -> Observation:
        """The observation of a post the feed has just served."""
        self._served += 1
        query = {"session": self.session_id, "seed": self._seed, "clock": "manual"}
        if self.motion != "none":
            query["motion"] = self.motion
        shot = self.observation.image
        if shot == "none":  # a text-only viewer: no image fetched, nothing drawn
            frames = [b""]
        else:
            image = await self._call("GET", item["image_url"])
            frames = render_frames(image, item, self.viewport,
                                   self.observation.times(item["duration_s"]), self.motion,
                                   shot, self.observation.jpeg_quality)
        self._obs = Observation(
            screenshot_png=frames[0], image_format=shot,
            text=VisibleText(caption=item["caption"], creator=item["creator"],
                             hashtags=tuple(item["hashtags"])),
            url=f"{self.feed_url}/{self.style}?{urlencode(query)}", item_id=item["item_id"],
            duration_s=item["duration_s"], t_s=t_s, step=self._step,
            mode=self.observation.mode, frames=tuple(frames) if len(frames) > 1 else (),
            link=item.get("link", ""), posted=item.get("posted", ""),
            meta={**self._meta, "date": utc_date()},
        )
        return self._obs

    async def _watch_then_next(self, item_id: str, watched: float,
                               skipped: bool) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Report the watch and receive the next post in one request (`next` in the body).

        The body names how many posts this viewer received (`served`), so a request replayed
        after a reconnect is refused (409) if its first attempt was recorded. Then the
        history tells what happened: the event recorded and the next post served with its
        answer lost restarts the trial (as for `GET /api/next`); the event recorded and no
        post served returns the event alone (the caller asks for the post).
        """
        body = {"session": self.session_id, "item_id": item_id, "watched_s": watched,
                "skipped": skipped, "served": self._served, "next": True}
        r, retried = await self._send("POST", "/api/events", json=body)
        if retried and r.status == 409:  # the first attempt may have been recorded
            history = await self._history()
            events = history["events"]
            if len(events) == self._step + 1 and events[-1]["item_id"] == item_id:
                self._check_received(history, 0)  # raises if a post was served and lost
                return events[-1], None
        answer = self._check(r, "POST", "/api/events", retried)
        return answer, answer.pop("next", None)

    async def reset(self, *, seed: int | None = None) -> Observation:
        """Re-open the session (seed None reuses the previous seed, 0 at first)."""
        if seed is not None:
            self._seed = int(seed)
        await self._call("POST", "/api/session", json={
            "session": self.session_id, "style": self.style, "seed": self._seed,
            "clock": "manual"})
        self._step, self._served = 0, 0
        return await self._next_observation(0.0)

    async def act(self, action: Action) -> StepResult:
        obs = await self.observe()
        duration = obs.duration_s or 0.0
        watched = 0.0 if isinstance(action, Skip) else float(action.dwell_s)
        event, item = await self._watch_then_next(obs.item_id or "", watched,
                                                  watched < duration)
        self._step += 1
        t_s = float(event["t_s"])
        nxt = await (self._observe(item, t_s) if item is not None
                     else self._next_observation(t_s))
        return StepResult(observation=nxt, watched_s=event["watched_s"],
                          watch_ratio=event["watch_ratio"], item_id=obs.item_id)

    async def _release(self) -> None:
        if self._own_client:
            await self._client.close()

"""A browser-free feed environment over the feed server's JSON API.

The screenshot is the post drawn with PIL (image, creator, caption, hashtags on a phone-
sized canvas; `environments.drawing`), so CPU baselines and fast tests get the same
Observation shape as the Playwright environment at a fraction of the cost. Its `screenshot`
option draws the post straight to JPEG (no PNG to re-encode for the run directory) or, for
viewers that read only the on-screen text, not at all (no image fetched, nothing drawn).
Environments that share a `DrawnPosts` cache (a viewer actor's, through `FeedHost`) draw
each post once and reuse its bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from tenacity import AsyncRetrying, retry_if_exception, stop_before_delay, wait_exponential

from valuespectrum.environments.base import (
    EnvError,
    EnvironmentBase,
    EnvironmentCrashed,
    EnvironmentTimeout,
    feed_post,
    utc_date,
)
from valuespectrum.environments.drawing import RENDERER, DrawnPosts, drawing_key, render_frames
from valuespectrum.environments.feed_client import FeedClient, Reply
from valuespectrum.environments.observation import ObservationMode
from valuespectrum.types import Action, Observation, Skip, StepResult, VisibleText


@dataclass(frozen=True)
class FeedHost:
    """What a viewer actor's HTTP environments share: one `FeedClient` (a connection pool,
    watch events in batches) and one `DrawnPosts` cache (None: every post drawn anew)."""

    client: FeedClient
    drawings: DrawnPosts | None = None


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
        drawings: the cache of drawn posts it shares with other environments (a viewer
            actor's); None draws every post it shows.

    Attributes:
        reconnects: Requests that needed at least one reconnection.
    """

    def __init__(self, feed_url: str, style: str = "tiktok", session_id: str = "http-0",
                 viewport: tuple[int, int] = (390, 844), timeout_s: float = 10.0,
                 observation: ObservationMode | None = None, motion: str = "none",
                 reconnect_s: float | None = None, client: FeedClient | None = None,
                 drawings: DrawnPosts | None = None) -> None:
        self.feed_url = feed_url.rstrip("/")
        self.style = style
        self.session_id = session_id
        self.viewport = viewport
        self.observation = observation or ObservationMode()
        self.motion = motion
        self._meta = {"environment": "http", "renderer": RENDERER}
        self.timeout_s = timeout_s
        self.reconnect_s = timeout_s if reconnect_s is None else reconnect_s
        self._own_client = client is None
        self._client = FeedClient() if client is None else client
        self._drawings = drawings
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
            frames: tuple[bytes, ...] = (b"",)
        else:
            frames = await self._drawn(item)
        self._obs = Observation(
            screenshot_png=frames[0], image_format=shot,
            text=VisibleText(caption=item["caption"], creator=item["creator"],
                             hashtags=tuple(item["hashtags"])),
            url=f"{self.feed_url}/{self.style}?{urlencode(query)}", item_id=item["item_id"],
            duration_s=item["duration_s"], t_s=t_s, step=self._step,
            mode=self.observation.mode, frames=tuple(frames) if len(frames) > 1 else (),
            link=item.get("link", ""), posted=item.get("posted", ""),
            meta={**self._meta, "date": utc_date()}, ground_truth=feed_post(item),
        )
        return self._obs

    async def _drawn(self, item: dict[str, Any]) -> tuple[bytes, ...]:
        """The post's frames: from the shared cache, or fetched and drawn."""
        o = self.observation
        times = o.times(item["duration_s"])

        async def draw() -> tuple[bytes, ...]:
            image = await self._call("GET", item["image_url"])
            return tuple(render_frames(image, item, self.viewport, times, self.motion, o.image,
                                       o.jpeg_quality))

        key = (None if self._drawings is None else
               drawing_key(item, self.viewport, times, self.motion, o.image, o.jpeg_quality))
        if key is None:
            return await draw()
        return await self._drawings.fetch(key, draw)

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

"""The environment contract: what a viewer agent steps through, and a conformance checker.

An environment shows one post at a time. `reset` starts a fresh feed session (same seed,
same actions -> same posts); `act(Stay(d))` watches the post for `d` virtual seconds and
scrolls on, `act(Skip())` scrolls on at once; both return the watch event and the next
post's observation.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, Self, runtime_checkable

from pydantic import ValidationError

from valuespectrum.types import Action, FeedItem, Observation, Skip, Stay, StepResult

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"

#: Every this many steps a browser environment tells its page's renderer that memory is
#: short, as an OS would. Headless Chromium on Linux gets no such signal, and its purgeable
#: caches kept the decoded image of every post shown: the renderer grew by ~2.7 MB a step
#: (50 to 210 MB over 60 posts) and fell back to ~60 MB on the signal. Screenshots are
#: unchanged (tested). 0 turns it off. Chosen for memory and CPU (docs/scale.md).
PURGE_EVERY = 10
#: The DevTools command (and its parameters) that signals critical memory pressure; a
#: moderate signal freed nothing measurable.
MEMORY_PRESSURE = ("Memory.simulatePressureNotification", {"level": "critical"})


#: Every this many steps a Playwright feed environment replaces its page by a fresh one on
#: the same session (`resume=1`: the same post, nothing served). DevTools keeps a record of
#: every request of a page whose Network domain is enabled (Playwright's session always,
#: the guard's too) until the page navigates, and the feed page never does: its renderer
#: grew by ~0.05 MB a scroll without end (90 -> 388 MB of USS over 6,000 scrolls, the memory
#: signal sent; flat with the Network domain off, flat when the page is replaced every 200
#: scrolls). 100 keeps the rise between two replacements to ~2.6 MB a page (~0.026 MB a
#: scroll with the guard's buffers off, `NETWORK_ENABLE`), under 3 % of an agent's ~110 MB;
#: chosen from those growth rates, before the long-session curve was measured. 0: never.
RECYCLE_EVERY = 100
#: How a browser environment's own DevTools session enables the Network domain (for the
#: guard's `Network.setBlockedURLs`): with response-body buffers of 1 byte, so that it keeps
#: no payload (its default kept them, and the renderer grew twice as fast).
NETWORK_ENABLE = ("Network.enable", {"maxTotalBufferSize": 1, "maxResourceBufferSize": 1})


def purge_due(step: int, every: int) -> bool:
    """Whether a browser's renderer gets the memory signal after `step` (every `every`)."""
    return every > 0 and step > 0 and step % every == 0


class EnvError(RuntimeError):
    """Base of environment failures. (Not `EnvironmentError`: that is Python's OSError.)"""


class EnvironmentCrashed(EnvError):
    """The live backend (browser, device, server) died; rebuild the environment and resume."""


class EnvironmentClosed(EnvError):
    """The environment was used after `close()`."""


class EnvironmentNotReady(EnvError):
    """`observe()`/`act()` before `reset()`."""


class EnvironmentTimeout(EnvError):
    """The feed did not show the next post in time."""


class EnvironmentCheckError(AssertionError):
    """`check_environment` found a contract violation; the message says which."""


def utc_date() -> str:
    """Today's date in UTC (ISO): recorded with every observation, since live feeds drift."""
    import datetime as dt

    return dt.datetime.now(dt.UTC).date().isoformat()


# what a feed page's fetch() reports when the server is unreachable (Chromium, Firefox, WebKit)
NETWORK_ERRORS = ("Failed to fetch", "NetworkError", "Load failed")


def check_page(snap: dict[str, Any], needs_image: bool = True) -> None:
    """Refuse a local feed page's snapshot that is not the post as a viewer would see it.

    Raises:
        EnvironmentCrashed: the page lost the feed server, or (`needs_image`) the post's
            image did not load after the page's retries: the trial restarts from its seed
            rather than show a viewer a post without its picture.
        EnvError: the page reports any other error.
    """
    error = snap.get("error")
    if error:
        if any(w in str(error) for w in NETWORK_ERRORS):
            raise EnvironmentCrashed(f"feed page lost the server: {error}")
        raise EnvError(f"feed page reports: {error}")
    if needs_image and snap.get("image_loaded") is False:
        raise EnvironmentCrashed(f"the image of post {snap.get('item_id')} did not load "
                                 "(5 attempts): is the feed server up and the corpus whole?")


def feed_post(item: dict[str, Any] | None) -> FeedItem | None:
    """The post's ground truth from the built-in feed's item JSON (`feed.server.item_json`,
    which the HTTP environment receives and the feed page keeps), for
    `Observation.ground_truth`; None when the feed did not send it (no ``category``).

    Raises:
        EnvError: the item JSON does not describe a post (names the post and the field).
    """
    if not item or "category" not in item:
        return None
    try:
        return FeedItem.model_validate({k: item[k] for k in FeedItem.model_fields if k in item})
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "item"
        raise EnvError(f"the feed's post {item.get('item_id')!r}: {field}: {err['msg']}") from None


def left_post(snap: dict[str, Any], item_id: str | None) -> dict[str, Any]:
    """The local feed page's watch event of the post `item_id`, once the page moved past it.

    `snap` is what the page's ``vspec.waitForItem`` returned after the advance (Playwright
    and Appium drive the same page).

    Raises:
        EnvironmentTimeout: the page still shows that post, or its last event is another's.
    """
    event = snap.get("last_event") or {}
    if not snap.get("error") and (snap.get("item_id") == item_id
                                  or event.get("item_id") != item_id):
        raise EnvironmentTimeout(f"feed page did not move past {item_id}")
    return event


def watched_step(nxt: Observation, event: dict[str, Any], item_id: str | None) -> StepResult:
    """The step result of a feed-page `event` (from `left_post`), `nxt` on screen."""
    return StepResult(observation=nxt, watched_s=float(event["watched_s"]),
                      watch_ratio=float(event["watch_ratio"]), item_id=item_id)


@runtime_checkable
class Environment(Protocol):
    """A short-video feed an agent can watch and scroll (async)."""

    async def reset(self, *, seed: int | None = None) -> Observation:
        """Start a fresh session and return the first post's observation."""
        ...

    async def observe(self) -> Observation:
        """The current post's observation (no side effects on the feed)."""
        ...

    async def act(self, action: Action) -> StepResult:
        """Stay on / skip the current post; returns the watch event and the next post."""
        ...

    async def close(self) -> None:
        """Release live resources; idempotent."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...


class EnvironmentBase:
    """Context-manager and closed-state plumbing shared by the implementations."""

    _closed: bool = False
    _obs: Observation | None = None

    def _check_open(self) -> None:
        if self._closed:
            raise EnvironmentClosed(f"{type(self).__name__} is closed; build a new one")

    async def observe(self) -> Observation:
        """The observation of the post on screen (taken when it appeared)."""
        self._check_open()
        if self._obs is None:
            raise EnvironmentNotReady("call reset() before observe()")
        return self._obs

    async def close(self) -> None:
        """Release this environment's live resources (`_release`) once; idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._release()

    async def _release(self) -> None:
        """Free what the environment holds (a browser context, a session, a client)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise EnvironmentCheckError(message)


def _check_observation(obs: object, where: str) -> Observation:
    _require(isinstance(obs, Observation), f"{where}: expected an Observation, got {type(obs).__name__}")
    assert isinstance(obs, Observation)
    signature = {"png": PNG_SIGNATURE, "jpeg": JPEG_SIGNATURE, "none": b""}[obs.image_format]
    _require(obs.screenshot_png.startswith(signature),
             f"{where}: screenshot is not a {obs.image_format.upper()}")
    _require(obs.image_format != "none" or not obs.screenshot_png,
             f"{where}: image_format none but a screenshot was sent")
    _require(bool(obs.item_id), f"{where}: observation has no item_id")
    _require(obs.duration_s is None or obs.duration_s > 0, f"{where}: duration_s must be > 0")
    return obs


async def _episode(env: Environment, seed: int, actions: list[Action]) -> list[str]:
    obs = _check_observation(await env.reset(seed=seed), "reset()")
    _require(obs.step == 0, f"reset(): observation step is {obs.step}, expected 0")
    ids = [obs.item_id or ""]
    again = _check_observation(await env.observe(), "observe() after reset()")
    _require(again.item_id == obs.item_id, "observe() after reset() shows a different item")
    for i, action in enumerate(actions):
        result = await env.act(action)
        where = f"act({type(action).__name__}) #{i}"
        _require(isinstance(result, StepResult), f"{where}: expected a StepResult")
        _require(0.0 <= result.watch_ratio <= 1.0, f"{where}: watch_ratio {result.watch_ratio} not in [0, 1]")
        _require(result.item_id == ids[-1], f"{where}: watch event is for {result.item_id!r}, "
                                            f"but {ids[-1]!r} was on screen")
        if isinstance(action, Skip):
            _require(result.watch_ratio == 0.0, f"{where}: Skip must give watch_ratio 0")
        nxt = _check_observation(result.observation, where)
        _require(nxt.item_id not in ids, f"{where}: item {nxt.item_id!r} repeated within a session")
        _require(nxt.step == i + 1, f"{where}: observation step is {nxt.step}, expected {i + 1}")
        seen = await env.observe()
        _require(seen.item_id == nxt.item_id, f"{where}: observe() disagrees with act()'s observation")
        ids.append(nxt.item_id or "")
    return ids


async def check_environment(make_env: Callable[[], Environment | Awaitable[Environment]],
                            seed: int = 7, steps: int = 4) -> list[str]:
    """Run an environment through the contract (in the spirit of Gymnasium's env checker).

    Checks: observations carry a PNG screenshot and an item id; Stay and Skip both move to
    a new post with a watch ratio in [0, 1] (0 for Skip); `observe()` agrees with `act()`;
    two resets with the same seed and actions show the same posts; `close()` is idempotent
    and acting afterwards raises `EnvironmentClosed`.

    Args:
        make_env: builds a fresh environment (sync or async factory).
        seed: seed of the determinism check.
        steps: actions per episode (alternating Stay and Skip).

    Returns:
        The names of the checks that passed.

    Raises:
        EnvironmentCheckError: on the first violation.
    """
    env = make_env()
    if inspect.isawaitable(env):
        env = await env
    passed = []
    actions: list[Action] = [Stay(dwell_s=3.0) if i % 2 == 0 else Skip() for i in range(steps)]
    try:
        first = await _episode(env, seed, actions)
        passed.append("act/observe contract")
        second = await _episode(env, seed, actions)
        _require(first == second, f"reset(seed={seed}) twice gave different posts: {first} vs {second}")
        passed.append("reset determinism")
        result = await env.act(Stay(dwell_s=1e6))
        _require(result.watch_ratio == 1.0, "Stay longer than the video must give watch_ratio 1")
        passed.append("watch ratio clamped")
    finally:
        await env.close()
    await env.close()
    passed.append("close idempotent")
    try:
        await env.act(Skip())
    except EnvironmentClosed:
        passed.append("act after close raises EnvironmentClosed")
    except Exception as e:  # noqa: BLE001 - any other error type is a contract violation
        raise EnvironmentCheckError(
            f"act() after close() raised {type(e).__name__}, expected EnvironmentClosed"
        ) from e
    else:
        raise EnvironmentCheckError("act() after close() did not raise")
    return passed

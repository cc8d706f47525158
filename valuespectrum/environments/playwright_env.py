"""The Playwright environment: a real Chromium scrolling the local feed page.

One `BrowserHost` owns one Playwright driver and one Chromium; each
`PlaywrightFeedEnvironment` gets its own browser context on it, so several viewers share a
browser. Nothing lives at module level: whoever creates a host closes it.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any, Self
from urllib.parse import urlencode

from valuespectrum.environments.base import (
    MEMORY_PRESSURE,
    NETWORK_ENABLE,
    PURGE_EVERY,
    RECYCLE_EVERY,
    EnvError,
    EnvironmentBase,
    EnvironmentCrashed,
    EnvironmentTimeout,
    check_page,
    feed_post,
    left_post,
    purge_due,
    utc_date,
    watched_step,
)
from valuespectrum.environments.observation import ObservationMode
from valuespectrum.environments.profiles import engagement_globs
from valuespectrum.types import Action, Observation, Skip, StepResult, VisibleText

log = logging.getLogger(__name__)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run")
#: Chromium features turned off beside Playwright's own list. Headless Chromium (156 here)
#: opens the address bar's pop-ups (``chrome://omnibox-popup.top-chrome``) in every browser
#: context, in a WebUI renderer of its own that no page sees: 35-43 MB of PSS per context and
#: part of the renderers' CPU per step (docs/scale.md, "A leaner browser agent").
DISABLED_FEATURES = ("WebUIOmniboxPopup", "WebUIOmniboxAimPopup")
_FEATURES = "--disable-features="


def merge_feature_switches(defaults: list[str], args: tuple[str, ...],
                           extra: tuple[str, ...] = DISABLED_FEATURES) -> list[str]:
    """`args` with one ``--disable-features`` switch (last) naming every feature to disable.

    Chromium keeps only the last ``--disable-features`` of its command line, so a second one
    would silently drop the first (Playwright's own list among them). `defaults` are the
    switches Playwright passes; the one returned names their features, then those in
    `args`, then `extra`, each once, in that order (no switch when there are none).
    """
    names: list[str] = []
    for switch in (*defaults, *(a for a in args if a.startswith(_FEATURES))):
        names += switch[len(_FEATURES):].split(",")
    names = list(dict.fromkeys(n for n in (*names, *extra) if n))
    rest = [a for a in args if not a.startswith(_FEATURES)]
    return [*rest, _FEATURES + ",".join(names)] if names else rest


def chromium_processes(root: Any = None) -> list[Any]:
    """The Chromium processes below the psutil process `root` (default: this process)."""
    import psutil

    found = []
    for child in (root or psutil.Process()).children(recursive=True):
        try:
            if "chrom" in child.name().lower():
                found.append(child)
        except psutil.Error:
            continue
    return found


def browser_command_lines() -> dict[int, list[str]]:
    """The command lines of the Chromium browser processes below this process, by pid.

    The browser process is the one without a ``--type=`` switch (its children have one).
    """
    import psutil

    found = {}
    for proc in chromium_processes():
        try:
            cmd = proc.cmdline()
        except psutil.Error:
            continue
        if not any(a.startswith("--type=") for a in cmd):
            found[proc.pid] = cmd
    return found


class BrowserHost:
    """One Playwright driver and one Chromium, shared by environments via contexts.

    Args:
        executable_path: the Chromium binary (Debian's by default).
        headless: run without a window.
        args: Chromium command-line flags.
    """

    def __init__(self, executable_path: str = CHROMIUM, headless: bool = True,
                 args: tuple[str, ...] = CHROMIUM_ARGS) -> None:
        self.executable_path = executable_path
        self.headless = headless
        self.args = tuple(args)
        self._pw: Any = None
        self._browser: Any = None
        #: the running browser process's command line (empty when not running)
        self.command_line: list[str] = []

    #: Playwright's own ``--disable-features`` switches, read once per process off the
    #: command line of the first browser it launched (None: not known yet).
    playwright_feature_switches: list[str] | None = None

    async def start(self) -> Self:
        """Launch Chromium (idempotent while alive).

        Playwright's ``--disable-features`` list and this host's are passed as one switch
        (Chromium keeps only the last). Playwright does not say what it passes, so the
        first launch in a process reads it off the browser's command line and, when
        Playwright passed one, launches again with a single merged switch.
        """
        from playwright.async_api import Error, async_playwright

        if self.is_alive():
            return self
        await self.close()
        self._pw = await async_playwright().start()
        try:
            known = BrowserHost.playwright_feature_switches
            await self._launch(known or [])
            if known is None:
                await self._learn_playwright_switches()
        except Error as e:
            await self.close()
            raise EnvError(f"cannot launch Chromium at {self.executable_path}: {e.message}") from e
        except BaseException:
            await self.close()
            raise
        return self

    async def _learn_playwright_switches(self) -> None:
        """After a first launch: note Playwright's feature switches, relaunch with one."""
        if not self.command_line:  # not readable: keep Playwright's list, drop this host's
            log.warning("cannot read the command line of the Chromium launched from %s; "
                        "launching it without the host's --disable-features", self.executable_path)
            await self._browser.close()
            await self._launch([], extra=())
            return
        ours = merge_feature_switches([], self.args)
        found = [a for a in self.command_line if a.startswith(_FEATURES) and a not in ours]
        BrowserHost.playwright_feature_switches = found
        if found:
            await self._browser.close()
            await self._launch(found)

    async def _launch(self, defaults: list[str], extra: tuple[str, ...] = DISABLED_FEATURES) -> None:
        """Launch the browser, replacing Playwright's feature switches `defaults` by one."""
        args = merge_feature_switches(defaults, self.args, extra)
        before = set(browser_command_lines())
        self._browser = await self._pw.chromium.launch(
            executable_path=self.executable_path, headless=self.headless, args=args,
            ignore_default_args=list(defaults))
        launched = [cmd for pid, cmd in browser_command_lines().items() if pid not in before]
        if len(launched) > 1:  # another host of this process launched at the same moment
            launched = [cmd for cmd in launched if args[-1] in cmd]
        self.command_line = launched[0] if len(launched) == 1 else []

    def is_alive(self) -> bool:
        """Whether the browser is running and connected."""
        return self._browser is not None and self._browser.is_connected()

    @property
    def version(self) -> str:
        """The browser's name and version ("" when not running)."""
        return f"chromium {self._browser.version}" if self._browser is not None else ""

    async def new_context(self, viewport: tuple[int, int] = (390, 844),
                          device_scale_factor: float = 1.0, **kwargs: Any) -> Any:
        """A fresh, isolated browser context (cookies, storage) with a phone-sized viewport."""
        if not self.is_alive():
            raise EnvironmentCrashed("browser is not running; start() the host again")
        return await self._browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]},
            device_scale_factor=device_scale_factor, **kwargs)

    async def close(self) -> None:
        """Close the browser and stop the driver (idempotent; tolerates a dead browser)."""
        browser, pw, self._browser, self._pw = self._browser, self._pw, None, None
        self.command_line = []
        if browser is not None:
            try:
                await browser.close()
            except Exception:  # noqa: BLE001 - already dead is fine when closing
                pass
        if pw is not None:
            try:
                await pw.stop()
            except Exception:  # noqa: BLE001
                pass

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def playwright_call(coro: Any, host: BrowserHost, page: Any, timeout_s: float) -> Any:
    """Await a Playwright call, mapping failures to environment errors."""
    from playwright.async_api import Error
    from playwright.async_api import TimeoutError as PwTimeout

    try:
        return await asyncio.wait_for(coro, timeout_s + 5)
    except (PwTimeout, TimeoutError) as e:
        raise EnvironmentTimeout(f"page did not respond in {timeout_s} s") from e
    except Error as e:
        if not host.is_alive() or page is None or page.is_closed():
            raise EnvironmentCrashed(f"browser died: {e.message}") from e
        if "crash" in e.message.lower():  # the page's renderer died; the browser lives
            raise EnvironmentCrashed(f"page crashed: {e.message}") from e
        if "net::ERR_" in e.message:  # the server went away (e.g. the feed restarted)
            raise EnvironmentCrashed(f"server unreachable: {e.message}") from e
        raise EnvError(f"page error: {e.message}") from e


async def together(*coros: Any) -> list[Any]:
    """Await `coros` concurrently; if one fails, the others are cancelled before it is raised
    (plain `asyncio.gather` would leave them running, e.g. a wait of `timeout_s`)."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


class BrowserEnvironment(EnvironmentBase):
    """An environment living in one context (and page) of a shared `BrowserHost`.

    Subclasses set `host`, `own_host` and `timeout_s`, open `_context` and `_page` in
    `reset`, route every Playwright call through `_guard`, and call `_purge_if_due` after
    each step (`PURGE_EVERY`: the renderer's memory signal; 0 turns it off).
    """

    host: BrowserHost
    own_host: bool = False
    timeout_s: float = 15.0
    purge_every: int = PURGE_EVERY
    _context: Any = None
    _page: Any = None
    _cdp: Any = None  # the page's DevTools session, opened on first use

    async def _guard(self, coro: Any) -> Any:
        return await playwright_call(coro, self.host, self._page, self.timeout_s)

    async def _devtools(self) -> Any:
        """The page's DevTools session (one per page)."""
        if self._cdp is None:
            self._cdp = await self._guard(self._context.new_cdp_session(self._page))
        return self._cdp

    async def _purge_if_due(self, step: int) -> None:
        """Tell the page's renderer memory is short, every `purge_every` steps."""
        if purge_due(step, self.purge_every):
            cmd, params = MEMORY_PRESSURE
            await self._guard((await self._devtools()).send(cmd, params))

    async def _close_context(self) -> None:
        context, self._context, self._page, self._cdp = self._context, None, None, None
        if context is not None:
            try:
                await context.close()
            except Exception:  # noqa: BLE001 - the browser may already be gone
                pass

    async def _release(self) -> None:
        """Close this environment's context (and the host if owned)."""
        await self._close_context()
        if self.own_host:
            await self.host.close()


class PlaywrightFeedEnvironment(BrowserEnvironment):
    """A feed page in Chromium, driven with the page's manual clock and the ArrowDown key.

    Args:
        host: a started BrowserHost (shared); see `own_host`.
        feed_url: the feed server's base URL.
        style: a feed style of `feed.recommenders.STYLES` (tiktok, cowatch, random...).
        session_id: the feed session this environment drives (reset re-opens it).
        viewport: CSS pixels of the phone-sized viewport.
        timeout_s: how long to wait for a page or the next post.
        own_host: close the host with the environment (when built just for it).
        observation: what is captured of each post (default: one screenshot).
        motion: ``panzoom`` animates the posts over the page's virtual clock.

    Attributes:
        recycle_every: every this many steps the page is replaced by a fresh one showing
            the same post (`RECYCLE_EVERY`; 0: never), which frees what DevTools kept of
            the old page's requests.
    """

    recycle_every: int = RECYCLE_EVERY

    def __init__(self, host: BrowserHost, feed_url: str, style: str = "tiktok",
                 session_id: str = "pw-0", viewport: tuple[int, int] = (390, 844),
                 timeout_s: float = 15.0, own_host: bool = False,
                 observation: ObservationMode | None = None, motion: str = "none") -> None:
        self.host = host
        self.feed_url = feed_url.rstrip("/")
        self.style = style
        self.session_id = session_id
        self.viewport = viewport
        self.timeout_s = timeout_s
        self.own_host = own_host
        self.observation = observation or ObservationMode()
        self.motion = motion
        self._context: Any = None
        self._page: Any = None
        self._seed = 0
        self._obs: Observation | None = None
        self._step = 0

    async def _capture(self, snap: dict[str, Any]) -> Observation:
        check_page(snap, needs_image=self.observation.image != "none")
        frames = []
        for t in self.observation.times(snap["duration_s"]):
            if self.observation.image == "none":  # a text-only viewer: no pixels needed
                frames.append(b"")
                break
            if self.observation.frames > 1:  # the page draws the post as at video time t
                await self._guard(self._page.evaluate("t => vspec.renderAt(t)", t))
            frames.append(await self._guard(self._screenshot()))
        if self.observation.frames > 1:
            await self._guard(self._page.evaluate("() => vspec.renderAt(null)"))
        self._obs = Observation(
            screenshot_png=frames[0], image_format=self.observation.image,
            text=VisibleText(caption=snap["caption"], creator=snap["creator"],
                             hashtags=tuple(snap["hashtags"])),
            url=snap["url"], item_id=snap["item_id"], duration_s=snap["duration_s"],
            t_s=float(snap["t_s"] or 0.0), step=self._step, mode=self.observation.mode,
            frames=tuple(frames) if len(frames) > 1 else (), link=snap.get("link") or "",
            posted=snap.get("posted") or "",
            meta={"environment": "playwright", "browser": self.host.version,
                  "date": utc_date()}, ground_truth=feed_post(snap.get("item")),
        )
        return self._obs

    async def _screenshot(self) -> bytes:
        """The viewport as the observation's format asks; Chromium encodes JPEG itself."""
        if self.observation.image == "jpeg":
            return await self._page.screenshot(type="jpeg", quality=self.observation.jpeg_quality)
        devtools = await self._devtools()
        shot = await devtools.send("Page.captureScreenshot",
                                   {"format": "png", "optimizeForSpeed": True})
        return base64.b64decode(shot["data"])

    async def reset(self, *, seed: int | None = None) -> Observation:
        """Open (or reload) the feed page on a fresh session; seed None reuses the last seed."""
        self._check_open()
        if seed is not None:
            self._seed = int(seed)
        if self._page is None or self._page.is_closed():
            if self._context is not None:
                await self._close_context()
            self._context = await self._guard(self.host.new_context(self.viewport))
            self._context.set_default_timeout(self.timeout_s * 1000)
            self._page = await self._guard(self._context.new_page())
            await self._block_engagement()
        await self._guard(self._page.goto(self._page_url()))
        snap = await self._guard(self._page.evaluate(
            "t => vspec.waitForItem(null, t)", self.timeout_s * 1000))
        if not snap.get("item_id") and not snap.get("error"):
            raise EnvironmentTimeout("feed page showed no post")
        self._step = 0
        return await self._capture(snap)

    def _page_url(self, resume: bool = False) -> str:
        """The feed page of this session (`resume`: showing its current post, serving none)."""
        query = {"session": self.session_id, "seed": self._seed, "clock": "manual"}
        if self.motion != "none":
            query["motion"] = self.motion
        if resume:
            query["resume"] = 1
        return f"{self.feed_url}/{self.style}?{urlencode(query)}"

    async def _recycle_page(self) -> None:
        """Replace the page by a fresh one on the same session, showing the same post.

        The old page closes only once the new one shows the post; a new page that shows
        another post (or none) is an EnvironmentCrashed, and the trial restarts.
        """
        old, self._page, self._cdp = self._page, None, None
        try:
            self._page = await self._guard(self._context.new_page())
            await self._block_engagement()
            await self._guard(self._page.goto(self._page_url(resume=True)))
            snap = await self._guard(self._page.evaluate(
                "t => vspec.waitForItem(null, t)", self.timeout_s * 1000))
        finally:
            try:
                await old.close()
            except Exception:  # noqa: BLE001 - a browser gone is found by the next call
                log.debug("closing a replaced page failed", exc_info=True)
        check_page(snap, needs_image=self.observation.image != "none")
        shown = self._obs.item_id if self._obs is not None else None
        if snap.get("item_id") != shown:
            raise EnvironmentCrashed(f"a fresh page of session {self.session_id!r} shows "
                                     f"{snap.get('item_id')!r}, not {shown!r}")

    async def act(self, action: Action) -> StepResult:
        """Stay: advance the page's manual clock by dwell_s, then ArrowDown; Skip: ArrowDown."""
        obs = await self.observe()
        if not isinstance(action, Skip):
            await self._guard(self._page.evaluate("s => vspec.advance(s)", float(action.dwell_s)))
        # the key and the wait for the next post travel together (the wait resolves on any
        # post other than this one, whichever of the two reaches the page first)
        _, snap = await together(
            self._guard(self._page.keyboard.press("ArrowDown")),
            self._guard(self._page.evaluate(
                "([p, t]) => vspec.waitForItem(p, t)", [obs.item_id, self.timeout_s * 1000])))
        event = left_post(snap, obs.item_id)
        self._step += 1
        result = watched_step(await self._capture(snap), event, obs.item_id)
        if purge_due(self._step, self.recycle_every):  # a fresh page needs no purging
            await self._recycle_page()
        else:
            await self._purge_if_due(self._step)
        return result

    async def _block_engagement(self) -> None:
        """The observe-only guard, in the browser: Chromium drops engagement requests."""
        cdp = await self._devtools()
        command, params = NETWORK_ENABLE
        await self._guard(cdp.send(command, params))
        await self._guard(cdp.send("Network.setBlockedURLs", {"urls": list(engagement_globs())}))

"""Appium environments: the built-in feed in mobile Chromium, driven like a phone.

`AppiumSession` holds one Appium session (the Python client is synchronous: every call runs
in a worker thread) and maps driver failures to environment errors. `AppiumWebEnvironment`
opens the feed page through the Chromium driver with mobile emulation (phone viewport and
user agent), swipes up with a W3C touch gesture to advance, and reads the same page API as
the Playwright environment, so the feed server sees the same watch events. The Android
environment (`android_env.py`) shares the session plumbing.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from valuespectrum.environments.appium_server import AppiumServer
from valuespectrum.environments.base import (
    MEMORY_PRESSURE,
    NETWORK_ENABLE,
    PURGE_EVERY,
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

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
PHONE_USER_AGENT = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
                    "(KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36")
CHROMIUM_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run")
# execute_async_script: resolve the page's promise through the driver's callback
WAIT_JS = ("const done = arguments[arguments.length - 1];"
           "vspec.waitForItem(arguments[0], arguments[1]).then(done);")
RENDER_JS = ("const done = arguments[arguments.length - 1];"
             "vspec.renderAt(arguments[0]).then(done);")
SWIPE_MOVE_MS = 50
CRASH_WORDS = ("invalid session id", "terminated or not started", "session deleted",
               "not reachable", "disconnected", "no such window", "target window already closed",
               "session not created")


def mobile_web_capabilities(viewport: tuple[int, int], user_agent: str = PHONE_USER_AGENT,
                            pixel_ratio: float = 1.0, headless: bool = True,
                            chromedriver: str = CHROMEDRIVER, chromium: str = CHROMIUM,
                            chromedriver_port: int | None = None) -> dict[str, Any]:
    """Capabilities of a Chromium-driver session emulating a phone (Debian's Chromium).

    Each session needs its own chromedriver port: the driver's default (9515) is shared,
    so parallel sessions would collide. None picks a free one.
    """
    from valuespectrum.environments.appium_server import free_port

    args = [a for a in CHROMIUM_ARGS if headless or not a.startswith("--headless")]
    return {
        "platformName": "linux",
        "browserName": "chrome",  # the driver's name for Chromium too
        "appium:automationName": "Chromium",
        "appium:executable": chromedriver,
        "appium:chromedriverPort": chromedriver_port or free_port("127.0.0.1"),
        "appium:autodownloadEnabled": False,
        "appium:disableBuildCheck": True,
        "goog:chromeOptions": {
            "binary": chromium, "args": args,
            "mobileEmulation": {
                "deviceMetrics": {"width": viewport[0], "height": viewport[1],
                                  "pixelRatio": pixel_ratio},
                "userAgent": user_agent,
            },
        },
    }


class AppiumSession(EnvironmentBase):
    """One Appium session on a server, created lazily; calls run in worker threads.

    Args:
        server: a started (or attached) AppiumServer, shared; see `own_server`.
        timeout_s: how long a page or device may take to answer.
        own_server: stop the server with the environment (when built just for it).
    """
    def __init__(self, server: AppiumServer, timeout_s: float = 15.0,
                 own_server: bool = False) -> None:
        self.server = server
        self.timeout_s = timeout_s
        self.own_server = own_server
        self._driver: Any = None
        self._server_url = ""

    def capabilities(self) -> dict[str, Any]:  # pragma: no cover - each kind has its own
        raise NotImplementedError

    def _session_error(self, message: str) -> EnvError:
        """The error for a session that could not be created (kinds add advice)."""
        return EnvError(f"Appium could not start a session: {message}")

    async def _start_session(self) -> None:
        from appium import webdriver
        from appium.options.common import AppiumOptions
        from appium.webdriver.client_config import AppiumClientConfig
        from selenium.common.exceptions import WebDriverException
        from urllib3.exceptions import HTTPError as TransportError

        options = AppiumOptions().load_capabilities(self.capabilities())
        self._server_url = self.server.url
        config = AppiumClientConfig(self._server_url, timeout=self.timeout_s + 120)
        try:
            self._driver = await asyncio.to_thread(
                webdriver.Remote, self._server_url, options=options, client_config=config)
        except WebDriverException as e:
            raise self._session_error(_first_line(e.msg or str(e))) from None
        except (TransportError, OSError) as e:  # the server is gone: connection refused
            raise EnvironmentCrashed(f"Appium server {self._server_url} unreachable: "
                                     f"{_first_line(str(e))}") from e
        self._driver.set_script_timeout(self.timeout_s)
        self._driver.set_page_load_timeout(self.timeout_s)

    async def _call(self, fn: Any, *args: Any) -> Any:
        """Run a blocking driver call in a thread, mapping failures to environment errors."""
        from selenium.common.exceptions import (
            InvalidSessionIdException,
            NoSuchWindowException,
            TimeoutException,
            WebDriverException,
        )
        from urllib3.exceptions import HTTPError as TransportError

        self._check_open()
        try:
            return await asyncio.to_thread(fn, *args)
        except (InvalidSessionIdException, NoSuchWindowException) as e:
            raise EnvironmentCrashed(f"Appium session died: {_first_line(e.msg)}") from e
        except TimeoutException as e:
            raise EnvironmentTimeout(f"no answer in {self.timeout_s} s: "
                                     f"{_first_line(e.msg)}") from e
        except WebDriverException as e:
            text = (e.msg or str(e)).lower()
            if any(w in text for w in CRASH_WORDS):
                raise EnvironmentCrashed(f"Appium session died: {_first_line(e.msg)}") from e
            raise EnvError(f"Appium: {_first_line(e.msg or str(e))}") from e
        except (TransportError, OSError) as e:
            raise EnvironmentCrashed(f"Appium server {self._server_url} unreachable: "
                                     f"{_first_line(str(e))}") from e

    async def _quit(self) -> None:
        driver, self._driver = self._driver, None
        if driver is not None:
            try:
                await asyncio.to_thread(driver.quit)
            except Exception:  # noqa: BLE001 - a dead session cannot be quit; it is gone
                pass

    async def _release(self) -> None:
        """End the session (and the server if owned)."""
        await self._quit()
        if self.own_server:
            await asyncio.to_thread(self.server.stop)


def _first_line(message: str | None) -> str:
    return (message or "").strip().splitlines()[0] if message else ""


class AppiumWebEnvironment(AppiumSession):
    """The built-in feed in mobile Chromium through Appium's Chromium driver.

    Args:
        server: a started AppiumServer (shared per actor).
        feed_url: the feed server's base URL.
        style: a feed style of `feed.recommenders.STYLES` (tiktok, cowatch, random...).
        session_id: the feed session this environment drives (reset re-opens it).
        viewport: the emulated phone's CSS pixels.
        timeout_s: how long to wait for the page or the next post.
        own_server: stop the server with the environment.
        observation: what is captured of each post.
        motion: ``panzoom`` animates posts over the page's virtual clock.
        user_agent: the emulated phone's user agent.
    """
    #: the renderer's memory signal every this many steps (`PURGE_EVERY`; 0: off)
    purge_every: int = PURGE_EVERY

    def __init__(self, server: AppiumServer, feed_url: str, style: str = "tiktok",
                 session_id: str = "appium-0", viewport: tuple[int, int] = (390, 844),
                 timeout_s: float = 15.0, own_server: bool = False,
                 observation: ObservationMode | None = None, motion: str = "none",
                 user_agent: str = PHONE_USER_AGENT) -> None:
        super().__init__(server, timeout_s, own_server)
        self.feed_url = feed_url.rstrip("/")
        self.style = style
        self.session_id = session_id
        self.viewport = viewport
        self.observation = observation or ObservationMode()
        self.motion = motion
        self.user_agent = user_agent
        self._seed = 0
        self._step = 0
        self._obs: Observation | None = None
        self._meta: dict[str, str] = {}
        self._cdp: Any = None  # sends a DevTools command to the session's page

    def capabilities(self) -> dict[str, Any]:
        return mobile_web_capabilities(self.viewport, self.user_agent)

    async def _open(self) -> None:
        """A new session with the observe-only guard installed through CDP."""
        await self._start_session()
        driver = self._driver
        driver.command_executor.add_command("cdp", "POST", "/session/$sessionId/goog/cdp/execute")
        cdp = self._cdp = lambda cmd, params: driver.execute(  # noqa: E731
            "cdp", {"cmd": cmd, "params": params})
        await self._call(cdp, *NETWORK_ENABLE)
        await self._call(cdp, "Network.setBlockedURLs", {"urls": list(engagement_globs())})
        caps = driver.capabilities
        self._meta = {"environment": "appium-web", "appium": self.server.version,
                      "browser": f"chromium {caps.get('browserVersion', '')}".strip(),
                      "device": f"emulated {self.viewport[0]}x{self.viewport[1]}"}

    async def _capture(self, snap: dict[str, Any]) -> Observation:
        check_page(snap)
        driver = self._driver
        frames = []
        for t in self.observation.times(snap["duration_s"]):
            if self.observation.frames > 1:
                await self._call(driver.execute_async_script, RENDER_JS, t)
            frames.append(await self._call(driver.get_screenshot_as_png))
        if self.observation.frames > 1:
            await self._call(driver.execute_async_script, RENDER_JS, None)
        self._obs = Observation(
            screenshot_png=frames[0],
            text=VisibleText(caption=snap["caption"], creator=snap["creator"],
                             hashtags=tuple(snap["hashtags"])),
            url=snap["url"], item_id=snap["item_id"], duration_s=snap["duration_s"],
            t_s=float(snap["t_s"] or 0.0), step=self._step, mode=self.observation.mode,
            frames=tuple(frames) if len(frames) > 1 else (), link=snap.get("link") or "",
            posted=snap.get("posted") or "", meta={**self._meta, "date": utc_date()},
            ground_truth=feed_post(snap.get("item")))
        return self._obs

    async def reset(self, *, seed: int | None = None) -> Observation:
        """Open (or reload) the feed page on a fresh session; seed None reuses the last seed."""
        self._check_open()
        if seed is not None:
            self._seed = int(seed)
        if self._driver is None:
            await self._open()
        query = {"session": self.session_id, "seed": self._seed, "clock": "manual"}
        if self.motion != "none":
            query["motion"] = self.motion
        await self._call(self._driver.get, f"{self.feed_url}/{self.style}?{urlencode(query)}")
        snap = await self._call(self._driver.execute_async_script, WAIT_JS, None,
                                self.timeout_s * 1000)
        if not snap.get("item_id") and not snap.get("error"):
            raise EnvironmentTimeout("feed page showed no post")
        self._step = 0
        return await self._capture(snap)

    def _swipe_up(self) -> None:
        """A finger drag from low to high on the screen (blocking; runs in a thread)."""
        from selenium.webdriver.common.actions import interaction
        from selenium.webdriver.common.actions.action_builder import ActionBuilder
        from selenium.webdriver.common.actions.pointer_input import PointerInput

        w, h = self.viewport
        # each move takes SWIPE_MOVE_MS (selenium's default is 250 ms a move)
        actions = ActionBuilder(self._driver, duration=SWIPE_MOVE_MS,
                                mouse=PointerInput(interaction.POINTER_TOUCH, "finger"))
        actions.pointer_action.move_to_location(w // 2, int(h * 0.75)).pointer_down() \
            .move_to_location(w // 2, int(h * 0.3)).release()
        actions.perform()

    async def act(self, action: Action) -> StepResult:
        """Stay: advance the page's manual clock by dwell_s, then swipe up; Skip: swipe up."""
        obs = await self.observe()
        if not isinstance(action, Skip):
            await self._call(self._driver.execute_script, "return vspec.advance(arguments[0])",
                             float(action.dwell_s))
        await self._call(self._swipe_up)
        snap = await self._call(self._driver.execute_async_script, WAIT_JS, obs.item_id,
                                self.timeout_s * 1000)
        event = left_post(snap, obs.item_id)
        self._step += 1
        result = watched_step(await self._capture(snap), event, obs.item_id)
        if purge_due(self._step, self.purge_every):
            await self._call(self._cdp, *MEMORY_PRESSURE)
        return result

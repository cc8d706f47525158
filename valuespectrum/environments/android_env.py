"""Android apps (TikTok, YouTube, Instagram, or a browser) on a device or emulator.

UiAutomator2 launches the app named by the platform profile's `android` section (or your
own package/activity), swipes up to advance, and takes the screenshot when a new video has
started. Each step records the app's version and the device's model. Time is real: `Stay`
lets the video play for its dwell. A viewer only watches and swipes: there is no tap.

With no device attached the session fails at once with the driver's own error and what to
attach. Tested here only for that failure (no device or emulator on these machines).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
from typing import Any

from valuespectrum.config import ConfigError
from valuespectrum.environments.appium_env import AppiumSession
from valuespectrum.environments.appium_server import AppiumServer
from valuespectrum.environments.base import EnvError, EnvironmentTimeout, utc_date
from valuespectrum.environments.observation import ObservationMode
from valuespectrum.environments.profiles import AndroidApp
from valuespectrum.types import Action, Observation, Skip, StepResult, VisibleText


class DeviceNotFound(EnvError, ConfigError):
    """No Android device or emulator to run on: a set-up problem, fatal for a whole run."""


ATTACH_ADVICE = ("attach an Android device with USB debugging on, or start an emulator "
                 "(`emulator -avd NAME`), and check that `adb devices` lists it; pass its "
                 "serial as the `udid` option when several are attached")


def screen_id(png: bytes) -> str:
    """A post id from pixels, for apps whose views carry no id: a hash of a coarse thumbnail.

    Coarse (16x16 grey, 4 levels) so that compression noise does not change it; two posts
    that look alike at that scale share an id (rare; a profile's caption_id avoids it).
    """
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        grey = im.convert("L").resize((16, 16))
    return "screen-" + hashlib.sha256(bytes(v // 64 for v in grey.tobytes())).hexdigest()[:16]


class AndroidEnvironment(AppiumSession):
    """A short-video app (or Chrome) on an Android device through UiAutomator2.

    Args:
        server: a started AppiumServer (shared per actor).
        app: package, activity, optional deep link and view ids (from a profile).
        udid: the device's serial (None: the only one attached).
        platform_version: Android version to pick a device by (optional).
        browser: run this browser (e.g. "Chrome") at `start_url` instead of an app.
        start_url: page for `browser`.
        settle_s: seconds to wait after a swipe before the screenshot.
        time_scale: real seconds per feed second (1 on a device).
        timeout_s: command timeout.
        observation: what is captured of each post.
        own_server: stop the server with the environment.
    """

    def __init__(self, server: AppiumServer, app: AndroidApp | None = None, *,
                 udid: str | None = None, platform_version: str | None = None,
                 browser: str | None = None, start_url: str | None = None,
                 settle_s: float = 1.0, time_scale: float = 1.0, timeout_s: float = 30.0,
                 observation: ObservationMode | None = None, own_server: bool = False) -> None:
        if app is None and browser is None:
            raise ConfigError("the android environment needs an app (a profile with an "
                              "`android` section, or app_package + app_activity) or a browser")
        super().__init__(server, timeout_s, own_server)
        self.app, self.udid, self.platform_version = app, udid, platform_version
        self.browser, self.start_url = browser, start_url
        self.settle_s, self.time_scale = settle_s, time_scale
        self.observation = observation or ObservationMode()
        self._step = 0
        self._clock = 0.0
        self._meta: dict[str, str] = {}

    def capabilities(self) -> dict[str, Any]:
        caps: dict[str, Any] = {
            "platformName": "Android", "appium:automationName": "UiAutomator2",
            "appium:noReset": True,  # keep the app's login and settings
            "appium:newCommandTimeout": 600,
        }
        if self.udid:
            caps["appium:udid"] = self.udid
        if self.platform_version:
            caps["appium:platformVersion"] = self.platform_version
        if self.browser:
            caps["browserName"] = self.browser
        else:
            assert self.app is not None
            caps["appium:appPackage"] = self.app.package
            caps["appium:appActivity"] = self.app.activity
        return caps

    def _session_error(self, message: str) -> EnvError:
        lowered = message.lower()
        if any(w in lowered for w in ("android device", "android_home", "android_sdk_root",
                                      "was not in the list of connected devices", "adb")):
            return DeviceNotFound(f"no Android device to run on: {ATTACH_ADVICE}. "
                                  f"UiAutomator2 said: {message}")
        return EnvError(f"UiAutomator2 could not start a session: {message}")

    async def _read_meta(self) -> None:
        driver = self._driver
        info: dict[str, Any] = {}
        try:
            info = await self._call(driver.execute_script, "mobile: deviceInfo", {})
        except EnvError:
            pass
        version = "unknown"
        package = self.app.package if self.app and not self.browser else None
        if package:
            try:  # needs the server's `uiautomator2:adb_shell` (ours enables it)
                out = await self._call(driver.execute_script, "mobile: shell", {
                    "command": "dumpsys", "args": ["package", package]})
                m = re.search(r"versionName=(\S+)", str(out))
                version = m.group(1) if m else version
            except EnvError:
                pass
        self._meta = {"environment": "android", "appium": self.server.version,
                      "app": package or str(self.browser), "app_version": version,
                      "device": f"{info.get('manufacturer', '')} {info.get('model', '')}".strip()
                      or "unknown", "android": str(info.get("platformVersion", ""))}

    async def _text(self, resource_id: str | None) -> str:
        if not resource_id:
            return ""
        from appium.webdriver.common.appiumby import AppiumBy

        found = await self._call(self._driver.find_elements, AppiumBy.ID, resource_id)
        return (await self._call(lambda: found[0].text) or "") if found else ""

    async def _capture(self) -> Observation:
        await asyncio.sleep(self.settle_s * self.time_scale)
        frames, last = [], 0.0
        for t in self.observation.times(None):
            await asyncio.sleep((t - last) * self.time_scale)
            last = t
            frames.append(await self._call(self._driver.get_screenshot_as_png))
        caption = await self._text(self.app.caption_id if self.app else None)
        creator = await self._text(self.app.creator_id if self.app else None)
        item_id = ("text-" + hashlib.sha256(f"{creator}\n{caption}".encode()).hexdigest()[:16]
                   if caption else screen_id(frames[0]))
        self._obs = Observation(
            screenshot_png=frames[0], item_id=item_id, step=self._step, t_s=self._clock,
            text=VisibleText(caption=caption, creator=creator,
                             hashtags=tuple(re.findall(r"#(\w+)", caption))),
            mode=self.observation.mode, frames=tuple(frames) if len(frames) > 1 else (),
            meta={**self._meta, "date": utc_date()})
        return self._obs

    async def reset(self, *, seed: int | None = None) -> Observation:
        """Launch the app (a live feed ignores the seed) and capture the first video."""
        self._check_open()
        await self._quit()
        await self._start_session()
        await self._read_meta()
        if self.browser and self.start_url:
            await self._call(self._driver.get, self.start_url)
        elif self.app and self.app.deep_link:
            await self._call(self._driver.execute_script, "mobile: deepLink",
                             {"url": self.app.deep_link, "package": self.app.package})
        self._step, self._clock = 0, 0.0
        return await self._capture()

    async def act(self, action: Action) -> StepResult:
        """Stay: let the video play for dwell_s (real time), then swipe up; Skip: swipe up."""
        obs = await self.observe()
        watched = 0.0 if isinstance(action, Skip) else float(action.dwell_s)
        await asyncio.sleep(watched * self.time_scale)
        size = await self._call(self._driver.get_window_size)
        await self._call(self._driver.execute_script, "mobile: swipeGesture", {
            "left": size["width"] * 0.1, "top": size["height"] * 0.2,
            "width": size["width"] * 0.8, "height": size["height"] * 0.6,
            "direction": "up", "percent": 0.8})
        self._clock += watched
        self._step += 1
        nxt = await self._capture()
        if nxt.item_id == obs.item_id:
            raise EnvironmentTimeout("the screen did not change after a swipe (end of feed, a "
                                     "dialog, or a paused app?)")
        # a live app does not report the video's length: a watch is whole when it happened
        return StepResult(observation=nxt, watched_s=watched,
                          watch_ratio=1.0 if watched > 0 else 0.0, item_id=obs.item_id)

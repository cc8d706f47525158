"""Android through UiAutomator2: the recipe, the no-device failure, and a device run."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

from valuespectrum.environments.android_env import (
    AndroidEnvironment,
    DeviceNotFound,
    screen_id,
)
from valuespectrum.environments.appium_server import AppiumServer
from valuespectrum.environments.profiles import load_profile
from valuespectrum.environments.spec import EnvironmentSpec, build_environment
from valuespectrum.types import Skip, Stay


def test_capabilities_launch_the_profiles_app_and_keep_its_login():
    app = load_profile("tiktok").android
    env = AndroidEnvironment(AppiumServer("http://127.0.0.1:1"), app, udid="emulator-5554")
    caps = env.capabilities()
    assert caps["appium:automationName"] == "UiAutomator2"
    assert caps["appium:appPackage"] == "com.zhiliaoapp.musically"
    assert caps["appium:udid"] == "emulator-5554" and caps["appium:noReset"] is True
    browser = AndroidEnvironment(AppiumServer("http://127.0.0.1:1"), browser="Chrome",
                                 start_url="https://www.youtube.com/shorts").capabilities()
    assert browser["browserName"] == "Chrome" and "appium:appPackage" not in browser


def test_screen_ids_ignore_compression_noise_but_tell_posts_apart():
    import io

    from PIL import Image

    def png(colour, noise=0):
        im = Image.new("RGB", (390, 844), colour)
        if noise:
            im.putpixel((10, 10), (colour[0] ^ noise, 0, 0))
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        return buf.getvalue()

    assert screen_id(png((200, 30, 30))) == screen_id(png((200, 30, 30), noise=3))
    assert screen_id(png((200, 30, 30))) != screen_id(png((30, 30, 200)))


def _adb_server_running() -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", 5037)) == 0


@pytest.fixture
def adb_cleanup():
    """The driver starts adb's server (a daemon); stop it afterwards unless it was running."""
    running = _adb_server_running()
    yield
    if not running and shutil.which("adb") and _adb_server_running():
        subprocess.run(["adb", "kill-server"], capture_output=True, timeout=30)


@pytest.mark.appium
@pytest.mark.slow
async def test_no_device_fails_fast_with_the_drivers_error_and_what_to_attach(
        appium_server, adb_cleanup):
    spec = EnvironmentSpec(kind="android", feed_url="http://127.0.0.1:1", style="youtube",
                           session_id="android-0")
    env = await build_environment(spec, host=appium_server)
    t0 = time.monotonic()
    with pytest.raises(DeviceNotFound) as info:
        await env.reset()
    elapsed = time.monotonic() - t0
    await env.close()
    message = str(info.value)
    print(f"no device: failed in {elapsed:.1f} s: {message}")
    assert "attach an Android device" in message and "adb devices" in message
    # the driver's own words: no device within its 20 s look-up, or no SDK at all
    assert ("Could not find a connected Android device" in message
            or "ANDROID_HOME" in message), message
    assert elapsed < 60  # UiAutomator2 gives up after 20 s; nothing hangs


@pytest.mark.android
async def test_a_device_runs_the_contract_and_records_app_and_device(appium_server):
    """On a device (VSPEC_ANDROID_TESTS=1): YouTube Shorts through the app (a live feed:
    no determinism check)."""
    spec = EnvironmentSpec(kind="android", feed_url="http://127.0.0.1:1", style="youtube",
                           session_id="android-1")
    async with await build_environment(spec, host=appium_server) as env:
        obs = await env.reset()
        assert obs.meta["device"] != "unknown" and obs.meta["app_version"]
        result = await env.act(Stay(dwell_s=2.0))
        assert result.observation.item_id != obs.item_id and result.watch_ratio == 1.0
        assert (await env.act(Skip())).watch_ratio == 0.0
        assert (await env.observe()).step == 2

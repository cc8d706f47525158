"""Appium mobile web on the local feed: conformance, swipes, the server's lifecycle, the guard."""

from __future__ import annotations

import asyncio
import io

import psutil
import pytest
from PIL import Image

from valuespectrum.environments.appium_env import AppiumWebEnvironment
from valuespectrum.environments.appium_server import AppiumServer
from valuespectrum.environments.base import EnvError, EnvironmentCrashed, check_environment
from valuespectrum.types import Skip, Stay

pytestmark = [pytest.mark.appium, pytest.mark.browser, pytest.mark.slow]


async def test_appium_web_environment_passes_the_checker(appium_server, feed_server):
    passed = await check_environment(
        lambda: AppiumWebEnvironment(appium_server, feed_server.url, "tiktok", "ap-chk"))
    assert "reset determinism" in passed and "close idempotent" in passed
    assert appium_server.is_alive()  # closing an environment leaves the shared server up


async def test_swipes_advance_a_phone_sized_feed(appium_server, feed_server, corpus):
    async with AppiumWebEnvironment(appium_server, feed_server.url, "youtube", "ap-obs") as env:
        obs = await env.reset(seed=4)
        assert Image.open(io.BytesIO(obs.screenshot_png)).size == (390, 844)
        ua = await env._call(env._driver.execute_script, "return navigator.userAgent")
        assert "Mobile" in ua and "Android" in ua  # mobile emulation, not a desktop browser
        assert await env._call(env._driver.execute_script, "return innerWidth") == 390
        shots = [obs.screenshot_png]
        for action in (Stay(dwell_s=3.0), Skip()):
            item = corpus.get(obs.item_id)
            assert (obs.text.caption, obs.text.hashtags) == (item.caption, item.hashtags)
            assert obs.link.endswith(f"/{item.item_id}") and obs.posted == item.posted
            assert obs.meta["environment"] == "appium-web" and obs.meta["browser"]
            result = await env.act(action)
            expected = 0.0 if isinstance(action, Skip) else min(1.0, 3.0 / item.duration_s)
            assert result.item_id == item.item_id
            assert result.watch_ratio == pytest.approx(expected)
            obs = result.observation
            shots.append(obs.screenshot_png)
        assert len(set(shots)) == 3
    events = feed_server.platform.history("ap-obs")["events"]
    assert [e["skipped"] for e in events] == [True, True]  # 3 s of a longer post, then a skip


async def test_engagement_requests_are_blocked_in_the_browser(appium_server, feed_server):
    """A request to an engagement endpoint never leaves Chromium; other requests do."""
    fetch = ("const done = arguments[arguments.length - 1];"
             "fetch(arguments[0], {method: 'POST'}).then(r => done('status ' + r.status),"
             " e => done('blocked'));")
    async with AppiumWebEnvironment(appium_server, feed_server.url, "tiktok", "ap-guard") as env:
        await env.reset(seed=1)
        like = await env._call(env._driver.execute_async_script, fetch,
                               "/api/commit/item/digg/?aweme_id=1&type=1")
        other = await env._call(env._driver.execute_async_script, fetch, "/api/not-engagement")
    assert like == "blocked"
    assert other == "status 404"  # reached the feed server, which does not know it


async def test_parallel_sessions_share_one_server(appium_server, feed_server):
    envs = [AppiumWebEnvironment(appium_server, feed_server.url, "random", f"ap-par-{i}")
            for i in range(2)]
    try:
        firsts = await asyncio.gather(*(e.reset(seed=i) for i, e in enumerate(envs)))
        results = await asyncio.gather(*(e.act(Skip()) for e in envs))
        for env, first, result in zip(envs, firsts, results, strict=True):
            served = feed_server.platform.history(env.session_id)["served"]
            assert served == [first.item_id, result.observation.item_id]
    finally:
        for env in envs:
            await env.close()


def node_processes() -> list[psutil.Process]:
    return [c for c in psutil.Process().children(recursive=True)
            if c.is_running() and c.status() != psutil.STATUS_ZOMBIE
            and c.name() in ("node", "chromedriver")]


async def test_an_owned_server_stops_with_its_environment_and_a_dead_one_is_a_crash(
        feed_server):
    from valuespectrum.environments.spec import EnvironmentSpec, build_environment

    before = {p.pid for p in node_processes()}
    spec = EnvironmentSpec(kind="appium-web", feed_url=feed_server.url, session_id="ap-own")
    env = await build_environment(spec)
    try:
        await env.reset(seed=0)
        mine = [p for p in node_processes() if p.pid not in before]
        assert mine, "the environment started no Appium server"
        env.server.stop()  # the server dies under a running session
        with pytest.raises(EnvironmentCrashed):
            await env.act(Skip())
    finally:
        await env.close()
    assert not [p for p in node_processes() if p.pid not in before]


def test_attaching_to_no_server_says_so():
    with pytest.raises(EnvError, match="no Appium server answers at http://127.0.0.1:9/status"):
        AppiumServer("http://127.0.0.1:9").start()


async def test_a_session_ended_under_the_environment_is_a_crash(appium_server, feed_server):
    """The actor rebuilds a crashed environment; a dead session must be reported as one."""
    async with AppiumWebEnvironment(appium_server, feed_server.url, "tiktok", "ap-dead") as env:
        await env.reset(seed=2)
        await asyncio.to_thread(env._driver.quit)  # e.g. Appium's idle timeout ended it
        with pytest.raises(EnvironmentCrashed, match="session died"):
            await env.act(Skip())


async def test_an_attached_server_is_used_but_never_stopped(appium_server, feed_server):
    attached = AppiumServer(appium_server.url).start()  # e.g. appium_url: a server of yours
    assert attached.attached and attached.version == appium_server.version
    env = AppiumWebEnvironment(attached, feed_server.url, "tiktok", "ap-attach",
                               own_server=True)
    obs = await env.reset(seed=5)
    await env.close()  # stops an owned server; an attached one only detaches
    assert obs.item_id and attached.is_alive() and appium_server.is_alive()


async def test_renderer_memory_is_purged_through_appium(appium_server, feed_server):
    """Mobile Chromium under Appium kept every decoded post too; the environment sends the
    same DevTools memory signal (through chromedriver) every `purge_every` steps."""
    from vspec_helpers import renderers_pss_mb

    def renderers_mb() -> float:  # this session's Chromium, below the Appium server
        return renderers_pss_mb(psutil.Process(appium_server._proc.pid))

    async def scroll(purge_every: int) -> float:
        env = AppiumWebEnvironment(appium_server, feed_server.url, "tiktok",
                                   f"ap-purge{purge_every}")
        env.purge_every = purge_every
        async with env:
            await env.reset(seed=7)
            start = renderers_mb()
            for _ in range(30):
                await env.act(Skip())
            return renderers_mb() - start

    kept = await scroll(0)
    purged = await scroll(10)
    assert kept > 30 and purged < kept / 2, (purged, kept)

"""Real Chromium on the local feed: conformance, scrolling, shared browser, crash handling."""

from __future__ import annotations

import asyncio
import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from valuespectrum.environments.base import EnvironmentCrashed, check_environment
from valuespectrum.environments.observation import same_picture
from valuespectrum.environments.playwright_env import BrowserHost, PlaywrightFeedEnvironment
from valuespectrum.types import Skip, Stay

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_playwright_environment_passes_the_checker(browser_host, feed_server):
    passed = await check_environment(
        lambda: PlaywrightFeedEnvironment(browser_host, feed_server.url, "tiktok", "pw-chk"))
    assert "reset determinism" in passed and "close idempotent" in passed
    assert browser_host.is_alive()  # closing an environment leaves the shared browser up


async def test_the_collaborative_feed_through_the_browser(browser_host, feed_server):
    """cowatch past its cold start in real Chromium: the page serves what it picks."""
    served = {}
    for style in ("cowatch", "cowatch-frozen"):
        passed = await check_environment(
            lambda s=style: PlaywrightFeedEnvironment(browser_host, feed_server.url, s,
                                                      f"pw-{s}"), steps=15)
        assert "reset determinism" in passed
        served[style] = feed_server.platform.history(f"pw-{style}")["served"]
        assert len(served[style]) == len(set(served[style])) == 17
    assert served["cowatch"][0] == served["cowatch-frozen"][0]
    assert served["cowatch"] != served["cowatch-frozen"]


@pytest.mark.parametrize("image, signature", [("jpeg", b"\xff\xd8\xff"), ("none", b"")])
async def test_jpeg_and_no_screenshot_pass_the_checker(browser_host, feed_server, image, signature):
    from valuespectrum.environments.observation import ObservationMode

    def make():
        return PlaywrightFeedEnvironment(browser_host, feed_server.url, "tiktok", f"pw-{image}",
                                         observation=ObservationMode(image=image))

    assert "reset determinism" in await check_environment(make)
    async with make() as env:
        obs = await env.reset(seed=1)
    assert obs.image_format == image and obs.screenshot_png[:3] == signature
    assert bool(obs.screenshot_png) == (image != "none") and obs.text.caption


async def test_scrolling_changes_the_screenshot_and_reads_the_dom(browser_host, feed_server, corpus):
    async with PlaywrightFeedEnvironment(browser_host, feed_server.url, "instagram", "pw-obs") as env:
        obs = await env.reset(seed=4)
        shots = [obs.screenshot_png]
        assert Image.open(io.BytesIO(obs.screenshot_png)).size == (390, 844)
        for action in (Stay(dwell_s=2.0), Skip(), Stay(dwell_s=100.0)):
            item = corpus.get(obs.item_id)
            assert (obs.text.caption, obs.text.creator, obs.text.hashtags) == (
                item.caption, item.creator, item.hashtags)
            assert obs.duration_s == item.duration_s and "/instagram?session=pw-obs" in obs.url
            assert obs.ground_truth == item  # the page's labels of the post, for the record
            assert await env._page.get_attribute("#post", "data-item-id") == obs.item_id
            result = await env.act(action)
            expected = 0.0 if isinstance(action, Skip) else min(1.0, action.dwell_s / item.duration_s)
            assert result.item_id == item.item_id
            assert result.watch_ratio == pytest.approx(expected)
            obs = result.observation
            shots.append(obs.screenshot_png)
        assert len(set(shots)) == len(shots)
    events = feed_server.platform.history("pw-obs")["events"]
    assert [e["skipped"] for e in events] == [True, True, False]


async def test_wheel_scrolls_and_realtime_clock_runs_at_speed(browser_host, feed_server):
    context = await browser_host.new_context()
    page = await context.new_page()
    try:
        await page.goto(f"{feed_server.url}/youtube?session=person&clock=realtime&speed=100")
        first = await page.evaluate("() => vspec.waitForItem(null)")
        await page.wait_for_timeout(300)  # the page takes no scroll in a post's first moments
        # 10 s of video: 0.1 s of real time at speed 100, 10 s at speed 1; waited on as a
        # condition, not read after a fixed sleep (a loaded machine runs the page's clock late)
        await page.wait_for_function("() => vspec.watched >= 10", timeout=5000)
        await page.mouse.move(200, 400)
        await page.mouse.wheel(0, 400)
        second = await page.evaluate("p => vspec.waitForItem(p)", first["item_id"])
        assert second["item_id"] != first["item_id"]
        assert second["last_event"]["item_id"] == first["item_id"]
        assert second["last_event"]["watched_s"] >= min(10, first["duration_s"])  # clamped
    finally:
        await context.close()


SWIPE_UP = """([y0, y1]) => {
    const touch = (y) => new Touch({identifier: 1, target: document.body, clientX: 200, clientY: y});
    document.body.dispatchEvent(new TouchEvent("touchstart", {touches: [touch(y0)],
        changedTouches: [touch(y0)], bubbles: true}));
    document.body.dispatchEvent(new TouchEvent("touchend", {touches: [],
        changedTouches: [touch(y1)], bubbles: true}));
}"""


async def test_swipe_up_goes_to_the_next_post(browser_host, feed_server):
    context = await browser_host.new_context(has_touch=True, is_mobile=True)
    page = await context.new_page()
    try:
        await page.goto(f"{feed_server.url}/tiktok?session=swiper&clock=manual")
        first = await page.evaluate("() => vspec.waitForItem(null)")
        await page.evaluate(SWIPE_UP, [600, 580])  # too short: not a swipe
        await page.wait_for_timeout(100)
        assert await page.evaluate("() => vspec.itemId") == first["item_id"]
        await page.evaluate(SWIPE_UP, [700, 300])
        second = await page.evaluate("p => vspec.waitForItem(p)", first["item_id"])
        assert second["item_id"] != first["item_id"]
        assert second["last_event"]["skipped"] is True
    finally:
        await context.close()


async def test_contexts_share_one_browser(browser_host, feed_server):
    envs = [PlaywrightFeedEnvironment(browser_host, feed_server.url, "random", f"pw-share-{i}")
            for i in range(2)]
    try:
        firsts = await asyncio.gather(*(e.reset(seed=i) for i, e in enumerate(envs)))
        results = await asyncio.gather(*(e.act(Skip()) for e in envs))
        for env, first, result in zip(envs, firsts, results, strict=True):
            assert result.item_id == first.item_id
            served = feed_server.platform.history(env.session_id)["served"]
            assert served == [first.item_id, result.observation.item_id]
    finally:
        for env in envs:
            await env.close()


async def test_animal_lover_through_the_browser(browser_host, feed_server, corpus):
    """Stay on every animals post, skip the rest: tiktok converges on animals, random not."""
    base_rate = corpus.categories()["animals"] / len(corpus)
    share = {}
    for style in ("tiktok", "random"):
        async with PlaywrightFeedEnvironment(browser_host, feed_server.url, style, f"pw-{style}") as env:
            obs = await env.reset(seed=1)
            shown = []
            for _ in range(40):
                animal = corpus.get(obs.item_id).category == "animals"
                shown.append(animal)
                obs = (await env.act(Stay(dwell_s=60.0) if animal else Skip())).observation
        share[style] = (float(np.mean(shown[:10])), float(np.mean(shown[20:])))
    print(f"animals: base rate {base_rate:.2f}, share in steps 0-10 and 20-40: {share}")
    (tt_early, tt_late), (_, rd_late) = share["tiktok"], share["random"]
    assert tt_late >= 0.5 and tt_late >= tt_early + 0.3  # grows on tiktok
    assert abs(rd_late - base_rate) < 0.2  # stays at the base rate on random
    assert tt_late > rd_late + 0.3


async def test_browser_crash_raises_environment_crashed(feed_server):
    host = await BrowserHost().start()
    env = PlaywrightFeedEnvironment(host, feed_server.url, "tiktok", "pw-crash", own_host=True)
    try:
        await env.reset(seed=0)
        cdp = await host._browser.new_browser_cdp_session()
        try:
            await cdp.send("Browser.crash")
        except Exception:  # the connection drops while the browser dies
            pass
        with pytest.raises(EnvironmentCrashed):
            await env.act(Skip())
        assert not host.is_alive()
    finally:
        await env.close()
        await env.close()


async def test_an_image_that_failed_to_load_is_tried_again(browser_host, corpus):
    """The page retries a post's image (a feed server restarting mid-load used to leave the
    post screenshotted without it, and pixel-reading viewers then saw another post)."""
    from valuespectrum.feed.platform import FeedPlatform
    from valuespectrum.feed.server import FeedServer

    class FirstImageRequestFails(ImageRequestsFail):
        """TEST DOUBLE corpus: the first request for each image fails (HTTP 500)."""

        def image_path(self, item_id):
            if item_id not in self.failed:
                self.failed.add(item_id)
                raise OSError("feed server restarting")
            return self.inner.image_path(item_id)

    async def first_screenshot(platform) -> tuple[bytes, bool]:
        with FeedServer(platform) as server:
            async with PlaywrightFeedEnvironment(browser_host, server.url, "tiktok",
                                                 "pw-img") as env:
                obs = await env.reset(seed=5)
                loaded = await env._page.evaluate("() => vspec.imageLoaded")
        return obs.screenshot_png, loaded

    clean, _ = await first_screenshot(FeedPlatform(corpus))
    flaky = FeedPlatform(corpus)
    flaky.corpus = FirstImageRequestFails(corpus)
    retried, loaded = await first_screenshot(flaky)
    assert flaky.corpus.failed and loaded  # it failed once, then loaded
    assert same_picture(retried, clean)  # (up to raster noise: see same_picture)


async def test_a_post_whose_image_never_loads_is_refused_not_shown(browser_host, corpus):
    """After its retries the page shows the post without its image; the environment refuses
    that screenshot (the trial restarts), unless the viewer reads no pixels."""
    from valuespectrum.environments.observation import ObservationMode
    from valuespectrum.feed.platform import FeedPlatform
    from valuespectrum.feed.server import FeedServer

    broken = FeedPlatform(corpus)
    broken.corpus = ImageRequestsFail(corpus)
    with FeedServer(broken) as server:
        async with PlaywrightFeedEnvironment(browser_host, server.url, "tiktok",
                                             "pw-noimg") as env:
            with pytest.raises(EnvironmentCrashed, match=r"image of post oc-\w+ did not load"):
                await env.reset(seed=5)
        async with PlaywrightFeedEnvironment(
                browser_host, server.url, "tiktok", "pw-noimg-text",
                observation=ObservationMode(image="none")) as env:
            obs = await env.reset(seed=5)  # a text reader sees what it would have seen
    assert obs.item_id and obs.text.caption and obs.screenshot_png == b""
    assert len(broken.corpus.failed) >= 5  # the page tried, and tried again


class ImageRequestsFail:
    """TEST DOUBLE corpus: every request for an image fails (HTTP 500); the rest is real."""

    def __init__(self, inner) -> None:
        self.inner, self.failed = inner, set()

    def image_path(self, item_id):
        self.failed.add((item_id, len(self.failed)))
        raise OSError("image missing")

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __contains__(self, item_id):
        return item_id in self.inner

    def __len__(self):
        return len(self.inner)


async def test_one_disable_features_switch_keeps_playwrights_list_and_adds_ours():
    """Chromium keeps only the last --disable-features: a second one would drop the first."""
    from valuespectrum.environments.playwright_env import merge_feature_switches

    args = ("--no-sandbox", "--disable-features=Translate,MediaRouter")
    merged = merge_feature_switches(["--disable-features=MediaRouter,PaintHolding"], args)
    assert merged == ["--no-sandbox",
                      "--disable-features=MediaRouter,PaintHolding,Translate,"
                      "WebUIOmniboxPopup,WebUIOmniboxAimPopup"]
    assert merge_feature_switches([], ("--no-sandbox",), extra=()) == ["--no-sandbox"]


async def test_the_browser_gets_one_feature_switch_and_no_hidden_ui_renderer(browser_host,
                                                                           feed_server):
    """Playwright's own list survives beside ours, and the omnibox pop-up renderer that
    headless Chromium opened for every context (~35 MB each) is gone."""
    import psutil

    switches = [a for a in browser_host.command_line if a.startswith("--disable-features=")]
    assert len(switches) == 1
    names = switches[0].split("=", 1)[1].split(",")
    assert {"MediaRouter", "PaintHolding", "WebUIOmniboxPopup", "WebUIOmniboxAimPopup"} <= set(names)
    envs = [PlaywrightFeedEnvironment(browser_host, feed_server.url, "tiktok", f"pw-ui{i}")
            for i in range(2)]
    try:
        for i, env in enumerate(envs):
            await env.reset(seed=i)
        cdp = await browser_host._browser.new_browser_cdp_session()
        targets = (await cdp.send("Target.getTargets"))["targetInfos"]
        assert not [t for t in targets if "top-chrome" in t["url"]]
        assert sum(t["type"] == "page" and "pw-ui" in t["url"] for t in targets) == 2
        webui = []
        for p in psutil.Process().children(recursive=True):
            try:
                webui += [p.pid] if "--top-chrome-webui" in p.cmdline() else []
            except psutil.Error:  # a zombie left by another test
                continue
        assert not webui
    finally:
        for env in envs:
            await env.close()


async def test_a_scroll_is_one_request_and_the_png_is_playwrights_picture(browser_host,
                                                                        feed_server):
    """The page reports the watch and gets the next post in one request; the environment's
    fast PNG (DevTools, optimized for speed) shows the very pixels Playwright's PNG shows."""
    from valuespectrum.environments.observation import same_picture

    async with PlaywrightFeedEnvironment(browser_host, feed_server.url, "tiktok", "pw-req") as env:
        obs = await env.reset(seed=2)
        requests: list[str] = []
        env._page.on("request", lambda r: requests.append(f"{r.method} {r.url.split('?')[0]}"))
        result = await env.act(Stay(dwell_s=1.0))
        api = [r for r in requests if "/api/" in r]
        assert api == [f"POST {feed_server.url}/api/events"]
        assert result.item_id == obs.item_id and result.observation.item_id != obs.item_id
        reference = await env._page.screenshot(type="png")
        mine = await env._screenshot()
    with Image.open(io.BytesIO(reference)) as a, Image.open(io.BytesIO(mine)) as b:
        assert np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB")))
    assert not same_picture(mine, obs.screenshot_png)  # and it is the next post, not the last


async def test_renderer_memory_is_purged_and_the_pictures_stay_the_same(feed_server):
    """Without a memory signal the renderer kept every decoded post (~2.7 MB a scroll); every
    `purge_every` steps it is told memory is short. Screenshots are the same either way."""
    from vspec_helpers import renderers_pss_mb as renderers_mb

    async def scroll(host, purge_every: int) -> tuple[float, list[str]]:
        """How much the renderers grew over 30 scrolls, and the screenshots."""
        env = PlaywrightFeedEnvironment(host, feed_server.url, "tiktok", f"pw-purge{purge_every}")
        env.purge_every = purge_every
        async with env:
            shots = [(await env.reset(seed=7)).screenshot_png]
            start = renderers_mb()
            for _ in range(30):
                shots.append((await env.act(Skip())).observation.screenshot_png)
            return renderers_mb() - start, shots

    async with BrowserHost() as host:  # its own browser: only this test's renderers
        kept, shots_kept = await scroll(host, 0)
        purged, shots_purged = await scroll(host, 10)
    assert shots_purged == shots_kept
    assert kept > 30 and purged < kept / 2, (purged, kept)


async def test_a_failed_key_press_cancels_the_wait_for_the_next_post():
    """`together` (the key and the wait of a scroll): one failing stops the other at once
    instead of leaving it to run out its timeout, and its error is the one raised."""
    from valuespectrum.environments.playwright_env import together

    waited = asyncio.Event()

    async def wait_for_post():
        try:
            await asyncio.sleep(60)
        finally:
            waited.set()

    async def press():
        raise EnvironmentCrashed("browser died")

    with pytest.raises(EnvironmentCrashed, match="browser died"):
        await asyncio.wait_for(together(press(), wait_for_post()), 5)
    assert waited.is_set()

    async def value(x):
        return x

    assert await together(value(1), value(2)) == [1, 2]


async def test_a_replaced_page_goes_on_with_the_same_feed_and_pictures(browser_host, feed_server):
    """Every `recycle_every` steps the page is replaced by a fresh one on the same session:
    the posts, the watch events and the screenshots are those of a page never replaced."""

    async def scroll(every: int) -> tuple[list, list]:
        env = PlaywrightFeedEnvironment(browser_host, feed_server.url, "tiktok", f"pw-rc{every}")
        env.recycle_every = every
        async with env:
            obs = await env.reset(seed=11)
            shots, events = [(obs.item_id, sha(obs.screenshot_png))], []
            for i in range(13):
                pages = len(env._context.pages)
                r = await env.act(Stay(dwell_s=1.5) if i % 3 else Skip())
                shots.append((r.observation.item_id, sha(r.observation.screenshot_png)))
                events.append((r.item_id, r.watched_s, r.watch_ratio))
                assert len(env._context.pages) == pages == 1  # the old page closed
        history = feed_server.platform.history(f"pw-rc{every}")
        return shots, events + [len(history["served"]), len(history["events"])]

    kept = await scroll(0)
    assert await scroll(4) == kept  # replaced after steps 4, 8 and 12

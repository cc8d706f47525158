"""The browser-free environment: conformance, rendered posts, failures."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from valuespectrum.environments.base import (
    EnvError,
    EnvironmentCrashed,
    EnvironmentNotReady,
    check_environment,
)
from valuespectrum.environments.http_env import HttpFeedEnvironment
from valuespectrum.types import Skip, Stay


async def test_http_environment_passes_the_checker(feed_server):
    passed = await check_environment(lambda: HttpFeedEnvironment(feed_server.url, "tiktok", "chk"))
    assert "reset determinism" in passed and "act after close raises EnvironmentClosed" in passed


async def test_the_collaborative_feed_and_its_twin_pass_the_checker_past_the_cold_start(
        feed_server):
    served = {}
    for style in ("cowatch", "cowatch-frozen"):
        # 25 alternating Stay/Skip steps: past the cold start (10 views), into exploit picks
        passed = await check_environment(
            lambda s=style: HttpFeedEnvironment(feed_server.url, s, f"chk-{s}"), steps=25)
        assert "reset determinism" in passed
        served[style] = feed_server.platform.history(f"chk-{style}")["served"]
        assert len(served[style]) == len(set(served[style])) == 27
    # one seed: the same first post; the watch events move the learning feed only
    assert served["cowatch"][0] == served["cowatch-frozen"][0]
    assert served["cowatch"] != served["cowatch-frozen"]


def test_the_feeds_item_json_is_the_posts_ground_truth(corpus):
    from valuespectrum.environments.base import feed_post
    from valuespectrum.feed.server import item_json

    item = next(i for i in corpus.items if i.value_tags and i.hashtags)
    assert feed_post(item_json(item, "openclipart", "d1g35t")) == item
    # a feed that does not say what its posts are (no category): nothing to record
    assert feed_post({"item_id": "x", "caption": "a post"}) is None and feed_post(None) is None
    with pytest.raises(EnvError, match=r"the feed's post 'x': duration_s: .*greater than 0"):
        feed_post({**item_json(item), "item_id": "x", "duration_s": 0})


async def test_observations_show_the_served_post(feed_server, corpus):
    async with HttpFeedEnvironment(feed_server.url, "youtube", "obs") as env:
        first = await env.reset(seed=2)
        item = corpus.get(first.item_id)
        assert first.text.caption == item.caption and first.text.hashtags == item.hashtags
        assert first.duration_s == item.duration_s and "session=obs" in first.url
        assert first.ground_truth == item  # the feed's labels of the post, for the record
        assert Image.open(io.BytesIO(first.screenshot_png)).size == (390, 844)
        result = await env.act(Stay(dwell_s=item.duration_s / 2))
        assert result.item_id == item.item_id and result.watch_ratio == pytest.approx(0.5)
        assert result.observation.screenshot_png != first.screenshot_png
        assert result.observation.t_s == pytest.approx(item.duration_s / 2)
        assert result.observation.ground_truth == corpus.get(result.observation.item_id)
        skipped = await env.act(Skip())
        assert skipped.watched_s == 0.0 and skipped.observation.step == 2
    history = feed_server.platform.history("obs")
    assert [e["item_id"] for e in history["events"]] == [item.item_id, result.observation.item_id]


async def test_failures_are_environment_errors(feed_server):
    env = HttpFeedEnvironment(feed_server.url, "tiktok", "err")
    with pytest.raises(EnvironmentNotReady):
        await env.observe()
    await env.close()
    bad_style = HttpFeedEnvironment(feed_server.url, "vine", "err")
    with pytest.raises(EnvError, match="HTTP 400: unknown style 'vine'"):
        await bad_style.reset()
    await bad_style.close()
    down = HttpFeedEnvironment("http://127.0.0.1:9", "tiktok", "err", timeout_s=2)
    with pytest.raises(EnvironmentCrashed, match="unreachable"):
        await down.reset()
    await down.close()


async def test_an_unreachable_feed_is_retried_for_reconnect_s_then_given_up():
    import time

    down = HttpFeedEnvironment("http://127.0.0.1:9", "tiktok", "err", reconnect_s=0.6)
    t0 = time.monotonic()
    with pytest.raises(EnvironmentCrashed, match="unreachable for 0.6 s"):
        await down.reset()
    # waits of 0.05 + 0.1 + 0.2 s, then the next (0.4 s) would end past 0.6 s: give up
    assert 0.35 <= time.monotonic() - t0 < 5.0
    assert down.reconnects == 0
    await down.close()


async def test_a_restarted_feed_server_is_reconnected_and_the_session_continues(corpus):
    import asyncio

    from valuespectrum.feed.platform import FeedPlatform
    from valuespectrum.feed.server import FeedServer

    async def episode(server, bounce_at: int | None) -> list[str]:
        env = HttpFeedEnvironment(server.url, "tiktok", "bounce", reconnect_s=10)
        seen = [(await env.reset(seed=4)).item_id]
        for i in range(6):
            if i == bounce_at:  # down for 0.5 s while the viewer acts
                bouncing = asyncio.create_task(asyncio.to_thread(server.restart, 0.5))
                await asyncio.sleep(0.1)
            result = await env.act(Stay(dwell_s=2.0) if i % 2 else Skip())
            seen.append(result.observation.item_id)
        if bounce_at is not None:
            await bouncing
        await env.close()
        return seen, env.reconnects

    with FeedServer(FeedPlatform(corpus)) as server:
        clean, _ = await episode(server, None)
        bounced, reconnects = await episode(server, 2)
    assert reconnects >= 1
    assert bounced == clean  # the session lives in the platform: nothing was lost


async def test_an_answer_lost_after_the_server_served_a_post_restarts_the_trial(feed_server):
    import aiohttp

    class LoseNextAnswerOnce(HttpFeedEnvironment):
        """TEST DOUBLE: the request reaches the server, its answer is dropped (once armed)."""

        armed: str | bool = False

        async def _attempt(self, method, path, **kwargs):
            reply = await super()._attempt(method, path, **kwargs)
            if self.armed == path:
                self.armed = False
                raise aiohttp.ClientOSError(104, "connection reset by peer")
            return reply

    # the answer of a scroll (its event, and the next post with it) is lost
    env = LoseNextAnswerOnce(feed_server.url, "tiktok", "lost", reconnect_s=5)
    await env.reset(seed=1)
    await env.act(Skip())
    env.armed = "/api/events"
    with pytest.raises(EnvironmentCrashed, match="served 3 posts but this viewer received 2"):
        await env.act(Skip())
    history = await env._history()
    assert len(history["events"]) == 2  # recorded once, not again by the replay
    await env.close()
    # the answer of the first post of a session is lost
    env = LoseNextAnswerOnce(feed_server.url, "tiktok", "lost-first", reconnect_s=5)
    env.armed = "/api/next"
    with pytest.raises(EnvironmentCrashed, match="served 2 posts but this viewer received 1"):
        await env.reset(seed=1)
    await env.close()


@pytest.mark.parametrize("shot", ["png", "jpeg", "none"])
async def test_each_screenshot_format_passes_the_checker_and_none_draws_nothing(feed_server,
                                                                               shot):
    from valuespectrum.environments.observation import ObservationMode

    mode = ObservationMode.from_options({"screenshot": shot, "jpeg_quality": 70})

    def make():
        return HttpFeedEnvironment(feed_server.url, "tiktok", f"fmt-{shot}", observation=mode)

    assert "reset determinism" in await check_environment(make)

    class CountedRequests(HttpFeedEnvironment):
        paths: list[str] = []

        async def _attempt(self, method, path, **kwargs):
            self.paths.append(path)
            return await super()._attempt(method, path, **kwargs)

    async with CountedRequests(feed_server.url, "tiktok", f"count-{shot}",
                               observation=mode) as env:
        obs = await env.reset(seed=3)
        after = (await env.act(Skip())).observation
    assert obs.image_format == after.image_format == shot
    images = [p for p in env.paths if not p.startswith("/api/")]
    if shot == "none":  # a text reader: nothing fetched or drawn, the text is all there
        assert obs.screenshot_png == b"" and images == [] and obs.text.caption
        return
    assert len(images) == 2
    with Image.open(io.BytesIO(obs.screenshot_png)) as im:
        assert (im.format, im.size) == (shot.upper(), (390, 844))
        im.load()  # decodes completely

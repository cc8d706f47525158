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


async def test_observations_show_the_served_post(feed_server, corpus):
    async with HttpFeedEnvironment(feed_server.url, "youtube", "obs") as env:
        first = await env.reset(seed=2)
        item = corpus.get(first.item_id)
        assert first.text.caption == item.caption and first.text.hashtags == item.hashtags
        assert first.duration_s == item.duration_s and "session=obs" in first.url
        assert Image.open(io.BytesIO(first.screenshot_png)).size == (390, 844)
        result = await env.act(Stay(dwell_s=item.duration_s / 2))
        assert result.item_id == item.item_id and result.watch_ratio == pytest.approx(0.5)
        assert result.observation.screenshot_sha != first.screenshot_sha
        assert result.observation.t_s == pytest.approx(item.duration_s / 2)
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

"""A crashed page (renderer) is reported as EnvironmentCrashed, so the runner rebuilds it."""

from __future__ import annotations

import pytest

from valuespectrum.environments.base import EnvironmentCrashed
from valuespectrum.environments.playwright_env import PlaywrightFeedEnvironment
from valuespectrum.types import Skip

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


async def test_renderer_crash_is_environment_crashed_and_a_new_env_works(browser_host, feed_server):
    env = PlaywrightFeedEnvironment(browser_host, feed_server.url, "tiktok", "crash-1")
    await env.reset(seed=1)
    with pytest.raises(Exception):  # noqa: B017 - navigation to the crash page aborts
        await env._page.goto("chrome://crash", timeout=5000)
    with pytest.raises(EnvironmentCrashed, match="crashed"):
        await env.act(Skip())
    await env.close()
    # the browser survived: a rebuilt environment on the same host scrolls on
    env2 = PlaywrightFeedEnvironment(browser_host, feed_server.url, "tiktok", "crash-2")
    obs = await env2.reset(seed=1)
    assert obs.item_id and (await env2.act(Skip())).observation.item_id != obs.item_id
    await env2.close()

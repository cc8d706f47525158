"""EnvironmentSpec: a picklable recipe that builds the live environment where it is used."""

from __future__ import annotations

import pickle

import pytest
from pydantic import ValidationError

from valuespectrum.environments.http_env import HttpFeedEnvironment
from valuespectrum.environments.spec import EnvironmentSpec, build_environment


def test_spec_is_frozen_picklable_and_defaults_to_playwright():
    spec = EnvironmentSpec(feed_url="http://127.0.0.1:8000/", style="instagram")
    assert spec.kind == "playwright" and spec.feed_url == "http://127.0.0.1:8000"
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert spec.session_id == "viewer-0"
    with pytest.raises(ValidationError):
        spec.style = "tiktok"  # frozen


@pytest.mark.parametrize("kwargs", [
    {"feed_url": "http://x", "style": "vine"},
    {"feed_url": "ftp://x"},
    {"feed_url": "http://x", "kind": "appium"},
    {"feed_url": "http://x", "colour": "red"},
    {"feed_url": "http://x", "options": {"screenshot": "webp"}},
    {"feed_url": "http://x", "options": {"screenshot": "jpeg", "jpeg_quality": 0}},
    {"feed_url": "http://x", "options": {"screenshot": "none", "observation": "frames"}},
    {"feed_url": "http://x", "kind": "appium-web", "options": {"screenshot": "jpeg"}},
])
def test_bad_specs_are_rejected(kwargs):
    with pytest.raises(ValidationError):
        EnvironmentSpec(**kwargs)


async def test_build_http_environment_from_spec(feed_server):
    spec = EnvironmentSpec(kind="http", feed_url=feed_server.url, style="random", session_id="sp")
    env = await build_environment(pickle.loads(pickle.dumps(spec)))
    assert isinstance(env, HttpFeedEnvironment)
    async with env:
        obs = await env.reset(seed=1)
    assert obs.item_id and feed_server.platform.session("sp").style == "random"

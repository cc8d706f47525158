"""The same viewer moves the same recommender through every built-in-feed environment."""

from __future__ import annotations

import numpy as np
import pytest

from valuespectrum.environments.base import check_environment
from valuespectrum.environments.spec import EnvironmentSpec, build_environment
from valuespectrum.types import Skip, Stay

KINDS = [
    pytest.param("http", id="http"),
    pytest.param("playwright", id="playwright", marks=pytest.mark.browser),
    pytest.param("appium-web", id="appium-web",
                 marks=[pytest.mark.browser, pytest.mark.appium, pytest.mark.slow]),
]


async def _environment(kind, feed_server, session, request, **options):
    host = request.getfixturevalue("appium_server") if kind == "appium-web" else None
    spec = EnvironmentSpec(kind=kind, feed_url=feed_server.url, style="tiktok",
                           session_id=session, options=options)
    return await build_environment(spec, host=host)


@pytest.mark.parametrize("kind", KINDS)
async def test_check_environment_passes(kind, feed_server, request):
    passed = await check_environment(
        lambda: _environment(kind, feed_server, f"chk-{kind}", request))
    assert "reset determinism" in passed


@pytest.mark.parametrize("kind", KINDS)
async def test_a_stay_heavy_viewer_shifts_the_learning_feed(kind, feed_server, corpus, request):
    """Stay on every animals post, skip the rest: the tiktok feed turns to animals."""
    base_rate = corpus.categories()["animals"] / len(corpus)
    shown = []
    async with await _environment(kind, feed_server, f"sig-{kind}", request) as env:
        obs = await env.reset(seed=1)
        for _ in range(40):
            animal = corpus.get(obs.item_id).category == "animals"
            shown.append(animal)
            obs = (await env.act(Stay(dwell_s=60.0) if animal else Skip())).observation
    early, late = float(np.mean(shown[:10])), float(np.mean(shown[20:]))
    print(f"{kind}: animals base rate {base_rate:.2f}, share in steps 0-10 {early:.2f}, "
          f"20-40 {late:.2f}")
    assert late >= 0.5 and late >= early + 0.3
    # the environment moved the recommender exactly as the same viewer does without one
    platform = feed_server.platform
    platform.open_session(f"direct-{kind}", "tiktok", seed=1)
    for _ in range(40):
        item = platform.next_item(f"direct-{kind}")
        animal = item.category == "animals"
        platform.record_watch(f"direct-{kind}", item.item_id, 60.0 if animal else 0.0,
                              skipped=not animal)
    served = platform.history(f"sig-{kind}")["served"]
    assert served[:40] == platform.history(f"direct-{kind}")["served"][:40]

"""ViewerAgent over the HTTP feed environment with a scripted test-double backend."""

from __future__ import annotations

import pytest

from valuespectrum.agents.viewer import ViewerAgent
from valuespectrum.environments.http_env import HttpFeedEnvironment
from valuespectrum.models.base import BackendError, BackendUnavailable
from valuespectrum.models.scripted import ScriptedBackend
from valuespectrum.personas import PersonaLibrary
from valuespectrum.strategies import make_strategy


@pytest.fixture
def persona():
    from pathlib import Path

    return PersonaLibrary(Path(__file__).resolve().parents[2] / "personas").get("pet_owner")


async def test_yes_stays_for_the_video_no_skips_and_a_failed_call_is_an_invalid_step(
        feed_server, persona):
    backend = ScriptedBackend(["Yes.", BackendError("HTTP 400: image too large"), "No."])
    env = HttpFeedEnvironment(feed_server.url, "tiktok", "viewer-test")
    agent = ViewerAgent(persona, backend, make_strategy("simple"), env)
    steps = [o async for o in agent.scroll(3, seed=1)]
    await env.close()
    assert [o.decision.yes for o in steps] == [True, None, False]
    assert steps[1].decision.error.startswith("backend: BackendError: HTTP 400")
    assert [o.action.kind for o in steps] == ["stay", "skip", "skip"]
    assert steps[0].action.dwell_s == steps[0].observation.duration_s
    assert steps[0].result.watch_ratio == pytest.approx(1.0)
    assert steps[2].result.watch_ratio == 0.0


async def test_a_dead_endpoint_still_ends_the_trial(feed_server, persona):
    backend = ScriptedBackend([BackendUnavailable("connection refused")])
    env = HttpFeedEnvironment(feed_server.url, "tiktok", "viewer-dead")
    agent = ViewerAgent(persona, backend, make_strategy("simple"), env)
    with pytest.raises(BackendUnavailable):
        async for _ in agent.scroll(3, seed=1):
            pass
    await env.close()

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


async def test_kept_work_runs_while_the_model_decides_and_arrives_with_its_step(
        feed_server, persona):
    """The actor encodes the stored JPEG this way: off the step's critical path."""
    import asyncio

    both = asyncio.Barrier(2)  # passed only when keep and the model run at the same time

    async def keep(obs):
        await asyncio.wait_for(both.wait(), 5)
        return f"kept {obs.item_id}"

    async def reply(messages, config):
        await asyncio.wait_for(both.wait(), 5)
        return "Yes."

    env = HttpFeedEnvironment(feed_server.url, "tiktok", "viewer-keep")
    agent = ViewerAgent(persona, ScriptedBackend(reply), make_strategy("simple"), env)
    steps = [o async for o in agent.scroll(3, seed=1, keep=keep)]
    await env.close()
    assert [o.decision.yes for o in steps] == [True, True, True]  # no model call timed out
    assert [o.kept for o in steps] == [f"kept {o.observation.item_id}" for o in steps]


async def test_a_failed_step_cancels_its_kept_work_and_a_failed_keep_fails_the_step(
        feed_server, persona):
    import asyncio

    cancelled: list[str] = []

    async def slow_keep(obs):
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(obs.item_id)
            raise

    env = HttpFeedEnvironment(feed_server.url, "tiktok", "viewer-keep-fail")
    dead = ScriptedBackend([BackendUnavailable("connection refused")], latency_s=0.05)
    agent = ViewerAgent(persona, dead, make_strategy("simple"), env)
    with pytest.raises(BackendUnavailable):
        async for _ in agent.scroll(3, seed=1, keep=slow_keep):
            pass
    await asyncio.sleep(0)  # the cancellation reaches the task
    assert len(cancelled) == 1

    async def broken_keep(obs):
        raise OSError("No space left on device")

    agent = ViewerAgent(persona, ScriptedBackend("Yes."), make_strategy("simple"), env)
    with pytest.raises(OSError, match="No space left"):
        async for _ in agent.scroll(3, seed=1, keep=broken_keep):
            pass
    await env.close()


@pytest.mark.parametrize("kind", ["http", pytest.param("playwright", marks=pytest.mark.browser)])
async def test_each_step_row_carries_the_posts_labels_as_the_corpus_records_them(
        kind, feed_server, corpus, persona):
    """The agent's row is complete: category, value tags, value match and relevance are
    those of the corpus's post, through either environment (no driver adds them later)."""
    from valuespectrum.agents.viewer import step_record
    from valuespectrum.environments.spec import EnvironmentSpec, build_environment
    from valuespectrum.personas import is_relevant

    # the random feed (seeded): about one post in five is the pet owner's, one in nine
    # carries one of its values
    spec = EnvironmentSpec(kind=kind, feed_url=feed_server.url, style="random",
                           session_id=f"labels-{kind}")
    async with await build_environment(spec) as env:
        agent = ViewerAgent(persona, ScriptedBackend(["Yes.", "No.", "No."]),
                            make_strategy("simple"), env)
        rows = [step_record(o, trial_id="t", cell="c", persona=persona.name, model="m",
                            platform="tiktok", strategy="simple", isq_format=None)
                async for o in agent.scroll(30, seed=4, keep=_jpeg)]
    wanted = set(persona.values)
    for r in rows:
        item = corpus.get(r.item_id)
        assert (r.category, r.value_tags) == (item.category,
                                              tuple(v.value for v in item.value_tags))
        assert r.relevant == is_relevant(persona, item)
        assert r.value_match == (not wanted.isdisjoint(item.value_tags))
        assert r.screenshot_path == f"screens/t/{r.step:04d}.jpg"
    # the walk meets posts of both kinds, so a wrong label would show
    assert {r.relevant for r in rows} == {True, False}
    assert {r.value_match for r in rows} == {True, False}


async def _jpeg(obs):
    return b"\xff\xd8stored"


@pytest.mark.parametrize("strategy", ["plain", "simple", "isq", "caption_llm"])
async def test_the_posts_ground_truth_never_reaches_the_model(strategy, feed_server, persona):
    """The observation carries the post's labels for the record; every strategy sends the
    model exactly the same requests (images, text, settings) with them as without them."""
    async with HttpFeedEnvironment(feed_server.url, "tiktok", f"truth-{strategy}") as env:
        obs = await env.reset(seed=5)
    assert obs.ground_truth is not None and obs.ground_truth.item_id == obs.item_id
    blind = obs.model_copy(update={"ground_truth": None})
    sent = []
    for o in (obs, blind):
        backend = ScriptedBackend(["Yes.", "7", '{"a": 1}', "A dog on a sofa."])
        decision = await make_strategy(strategy).decide(o, persona, backend)
        sent.append((decision, list(backend.requests)))
    assert sent[0][1] and sent[0][1] == sent[1][1]
    assert sent[0][0].answers == sent[1][0].answers


async def test_given_the_trials_labels_the_agent_yields_each_steps_complete_row(
        feed_server, persona):
    from valuespectrum.agents.viewer import step_record

    labels = dict(trial_id="t", cell="c", persona=persona.name, model="m", platform="tiktok",
                  strategy="simple")
    env = HttpFeedEnvironment(feed_server.url, "tiktok", "viewer-labels")
    agent = ViewerAgent(persona, ScriptedBackend(["Yes.", "No."]),
                        make_strategy("simple"), env)
    try:
        outcomes = [o async for o in agent.scroll(4, seed=1, labels=labels)]
    finally:
        await env.close()
    assert [o.record for o in outcomes] == [step_record(o, **labels) for o in outcomes]
    assert [o.record.step for o in outcomes] == [0, 1, 2, 3]
    assert all(o.record.category for o in outcomes)  # the local feed knows its posts

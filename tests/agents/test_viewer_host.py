"""The live side of a viewer actor, in-process: agents share one browser."""

from __future__ import annotations

import asyncio
import json

import psutil
import pytest
from vspec_helpers import sweep_spec

from valuespectrum.agents.actor import ActorOptions, ViewerHost
from valuespectrum.feed.server import FeedServer
from valuespectrum.sweep.spec import expand
from valuespectrum.trial import EndEvent, StepEvent

pytestmark = pytest.mark.browser


def browser_processes() -> int:
    """Chromium browsers below this process: chromium processes whose parent is not chromium
    (renderers, helpers and fork-in-progress children all have a chromium parent)."""
    n = 0
    for c in psutil.Process().children(recursive=True):
        try:
            if c.status() == psutil.STATUS_ZOMBIE or "chrom" not in c.name().lower():
                continue
            n += "chrom" not in c.parent().name().lower()
        except psutil.Error:  # exited while we looked
            continue
    return n


async def test_concurrent_agents_share_one_browser_and_stream_every_step(corpus_dir, tmp_path):
    spec = sweep_spec(
        tmp_path / "host.yaml", name="host", personas=["pet_owner"],
        models=["always:yes"], platforms=["tiktok", "random"], strategies=["simple"],
        trials=2, scrolls=6, window=2,
    )
    trials = expand(spec)
    with FeedServer.from_corpus_dir(corpus_dir) as server:
        host = ViewerHost(ActorOptions(feed_url=server.url))
        peak = 0

        async def run(trial):
            nonlocal peak
            events = []
            async for event in host.run_trial(trial):
                peak = max(peak, browser_processes())
                events.append(event)
            return events

        try:
            results = await asyncio.gather(*(run(t) for t in trials))
        finally:
            await host.shutdown()
    assert peak == 1
    for trial, events in zip(trials, results, strict=True):
        steps = [e for e in events if isinstance(e, StepEvent)]
        assert [e.record.step for e in steps] == list(range(6))
        assert all(e.record.trial_id == trial.trial_id and e.record.action == "stay"
                   for e in steps)
        assert all(e.jpeg[:2] == b"\xff\xd8" for e in steps)
        assert (events[-1].status, events[-1].restarts) == ("done", 0)
        assert isinstance(events[-1], EndEvent)
    assert browser_processes() == 0  # shutdown closed it


def appium_servers() -> int:
    """Appium servers below this process (node processes running appium)."""
    n = 0
    for c in psutil.Process().children(recursive=True):
        try:
            n += c.name() == "node" and any("appium" in a for a in c.cmdline())
        except psutil.Error:
            continue
    return n


@pytest.mark.appium
@pytest.mark.slow
async def test_appium_agents_share_one_server_per_host(corpus_dir, tmp_path):
    spec = sweep_spec(
        tmp_path / "appium.yaml", name="appium", personas=["pet_owner"],
        models=["always:yes"], platforms=["tiktok"], strategies=["simple"],
        environment="appium-web", trials=2, scrolls=3, window=1,
    )
    trials = expand(spec)
    with FeedServer.from_corpus_dir(corpus_dir) as server:
        host = ViewerHost(ActorOptions(feed_url=server.url))
        peak = 0

        async def run(trial):
            nonlocal peak
            events = []
            async for event in host.run_trial(trial):
                peak = max(peak, appium_servers())
                events.append(event)
            return events

        try:
            results = await asyncio.gather(*(run(t) for t in trials))
            assert (await host.ping())["appium_alive"] is True
        finally:
            await host.shutdown()
    assert peak == 1
    for events in results:
        steps = [e for e in events if isinstance(e, StepEvent)]
        assert [e.record.step for e in steps] == [0, 1, 2]
        assert json.loads(steps[0].record.environment_info)["environment"] == "appium-web"
        assert (events[-1].status, events[-1].restarts) == ("done", 0)
    assert appium_servers() == 0  # shutdown stopped it

"""The live side of a viewer actor, in-process: agents share one browser."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

import psutil
import pytest
from vspec_helpers import sweep_spec

from valuespectrum.agents.actor import ActorOptions, ViewerHost
from valuespectrum.environments.base import EnvironmentCrashed, EnvironmentTimeout
from valuespectrum.feed.server import FeedServer
from valuespectrum.sweep.spec import expand
from valuespectrum.trial import EndEvent, RestartEvent, StepEvent

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


@dataclass
class HostRun:
    """What one host did: each trial's events, the peak of `probe()`, the last ping."""

    events: list[list]
    peak: int
    ping: dict | None


@pytest.fixture
def run_on_host(corpus_dir):
    """Run trials at once on a fresh `ViewerHost` (or a subclass) attached to one local feed
    server; the host is shut down after its trials, the server after the test."""
    with FeedServer.from_corpus_dir(corpus_dir) as server:

        async def run(trials, *, host_cls=ViewerHost, probe=None, ping=False) -> HostRun:
            host = host_cls(ActorOptions(feed_urls=(server.url,)))
            peak = 0

            async def one(trial):
                nonlocal peak
                events = []
                async for event in host.run_trial(trial):
                    peak = max(peak, probe()) if probe else peak
                    events.append(event)
                return events

            try:
                results = await asyncio.gather(*(one(t) for t in trials))
                return HostRun(list(results), peak, await host.ping() if ping else None)
            finally:
                await host.shutdown()

        yield run


def trials_of(tmp_path, name: str, **fields) -> list:
    """The trials of a one-persona sweep of the `always:yes` test double."""
    return expand(sweep_spec(tmp_path / f"{name}.yaml", name=name, personas=["pet_owner"],
                             models=["always:yes"], strategies=["simple"], **fields))


async def test_concurrent_agents_share_one_browser_and_stream_every_step(run_on_host, tmp_path):
    trials = trials_of(tmp_path, "host", platforms=["tiktok", "random"], trials=2, scrolls=6,
                       window=2)
    run = await run_on_host(trials, probe=browser_processes)
    assert run.peak == 1
    for trial, events in zip(trials, run.events, strict=True):
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
async def test_appium_agents_share_one_server_per_host(run_on_host, tmp_path):
    trials = trials_of(tmp_path, "appium", platforms=["tiktok"], environment="appium-web",
                       trials=2, scrolls=3, window=1)
    run = await run_on_host(trials, probe=appium_servers, ping=True)
    assert run.ping["appium_alive"] is True
    assert run.peak == 1
    for events in run.events:
        steps = [e for e in events if isinstance(e, StepEvent)]
        assert [e.record.step for e in steps] == [0, 1, 2]
        assert json.loads(steps[0].record.environment_info)["environment"] == "appium-web"
        assert (events[-1].status, events[-1].restarts) == ("done", 0)
    assert appium_servers() == 0  # shutdown stopped it


async def test_a_page_timeout_restarts_the_trial_from_its_seed(run_on_host, tmp_path):
    """A page that does not answer in time (seen on a loaded machine while four browser
    contexts started) restarts the trial, which then yields the same steps as a clean run."""
    trials = trials_of(tmp_path, "slow", platforms=[{"style": "tiktok", "environment": "http"}],
                       trials=1, scrolls=5, window=2)

    class SlowOnce(ViewerHost):
        calls = 0

        async def environment(self, trial):
            env = await super().environment(trial)
            SlowOnce.calls += 1
            if SlowOnce.calls == 1:
                await env.close()
                raise EnvironmentTimeout("page did not respond in 15.0 s")
            return env

    (slow,) = (await run_on_host(trials, host_cls=SlowOnce)).events
    (clean,) = (await run_on_host(trials)).events
    assert isinstance(slow[0], RestartEvent) and "did not respond" in slow[0].error
    assert (slow[-1].status, slow[-1].restarts) == ("done", 1)
    items = [[e.record.item_id for e in ev if isinstance(e, StepEvent)] for ev in (slow, clean)]
    assert len(items[0]) == 5 and items[0] == items[1]


async def test_an_environment_that_keeps_crashing_is_restarted_with_backoff_then_given_up(
        run_on_host, tmp_path, caplog):
    """Each crash restarts the trial after a wait (0.5 s, then 1 s) until `max_restarts`
    (2); then the trial fails naming the last crash. The full multi-line error is logged
    (the actor's log is the run's logs/output.log); the events carry it whole too."""
    trials = trials_of(tmp_path, "crashy", platforms=[{"style": "tiktok", "environment": "http"}],
                       trials=1, scrolls=3, window=1)
    error = "browser died: Target page, context or browser has been closed\nBrowser logs:\n" \
            "[pid=6284][err] Failed to connect to the bus"
    seen: list[float] = []

    class AlwaysCrashing(ViewerHost):
        async def environment(self, trial):
            seen.append(time.monotonic())
            raise EnvironmentCrashed(error)

    with caplog.at_level(logging.WARNING, logger="valuespectrum.agents.actor"):
        (events,) = (await run_on_host(trials, host_cls=AlwaysCrashing)).events
    assert [type(e) for e in events] == [RestartEvent, RestartEvent, EndEvent]
    assert [(e.attempt, e.error) for e in events[:2]] == [(1, error), (2, error)]
    assert (events[-1].status, events[-1].restarts, events[-1].error) == (
        "failed", 2, f"environment crashed 3 times; last: {error}")
    assert len(seen) == 3
    waits = [seen[1] - seen[0], seen[2] - seen[1]]  # at least (the loop's clock may round)
    assert waits[0] >= 0.49 and waits[1] >= 0.99, waits
    assert caplog.text.count(error) == 3, caplog.text  # two restarts and the give-up

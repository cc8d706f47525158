"""One event stream per viewer actor: trials started in the background, their events
batched into few messages, an abandoned attempt's events never mistaken for the current
one's, and a broken stream told to every trial that listened to it.

The host runs in-process (no Ray); the model is the scripted backend (a TEST DOUBLE with a
fixed latency) and the environment the HTTP feed client against a real local feed server.
"""

from __future__ import annotations

import asyncio

import pytest
from vspec_helpers import sweep_spec

from valuespectrum.agents.actor import ActorOptions, ViewerHost
from valuespectrum.sweep.spec import expand
from valuespectrum.trial import EndEvent, StepEvent


def trials(tmp_path, n: int, scrolls: int, latency: float):
    spec = sweep_spec(
        tmp_path / "stream.yaml", name="stream", personas=["pet_owner"], strategies=["simple"],
        models=[{"spec": "scripted:Yes.", "params": {"latency_s": latency}}], trials=n,
        scrolls=scrolls, window=1, cache_dir=None, screenshots=False,
        platforms=[{"style": "tiktok", "environment": "http",
                    "options": {"screenshot": "none"}}])
    return expand(spec)


async def read(stream, until) -> list[list[tuple[str, int, object]]]:
    """Batches from `stream` until `until(events so far)` holds (with a generous cap)."""
    batches, seen = [], []
    async with asyncio.timeout(120):
        async for batch in stream:
            batches.append(batch)
            seen += batch
            if until(seen):
                return batches
    return batches


def ends(n):
    return lambda seen: sum(isinstance(e, EndEvent) for _, _, e in seen) >= n


async def test_trials_started_in_the_background_arrive_whole_and_in_few_batches(
        feed_server, tmp_path):
    todo = trials(tmp_path, 4, scrolls=5, latency=0.2)
    host = ViewerHost(ActorOptions(feed_urls=(feed_server.url,)))
    try:
        stream = host.events(0.05)
        for i, trial in enumerate(todo):
            host.start_trial(trial, token=10 + i)
        batches = await read(stream, ends(4))
    finally:
        await host.shutdown()
    events = [e for b in batches for e in b]
    for i, trial in enumerate(todo):
        mine = [(tok, e) for tid, tok, e in events if tid == trial.trial_id]
        assert {tok for tok, _ in mine} == {10 + i}
        steps = [e.record.step for _, e in mine if isinstance(e, StepEvent)]
        assert steps == [0, 1, 2, 3, 4]
        assert isinstance(mine[-1][1], EndEvent) and mine[-1][1].status == "done"
        # a trial's last step and its end travel in one message (no wait between them)
        assert any(mine[-2][1] in [e for *_, e in b] and mine[-1][1] in [e for *_, e in b]
                   for b in batches)
    assert len(events) == 24 and len(batches) < len(events), [len(b) for b in batches]


async def test_a_trials_end_leaves_at_once_with_the_steps_held_for_the_window(
        feed_server, tmp_path):
    """Steps wait out the batch window (fewer messages: each costs the driver ~0.8 ms of
    CPU); a trial's end does not, since the driver starts the next trial on it."""
    (trial,) = trials(tmp_path, 1, scrolls=3, latency=0.05)
    host = ViewerHost(ActorOptions(feed_urls=(feed_server.url,)))
    try:
        stream = host.events(30.0)
        host.start_trial(trial, token=1)
        batches = await asyncio.wait_for(read(stream, ends(1)), timeout=20)
    finally:
        await host.shutdown()
    assert [len(b) for b in batches] == [4]  # three steps and the end, in one message
    assert isinstance(batches[0][-1][2], EndEvent)


async def test_a_cancelled_trial_stops_and_its_rerun_is_told_apart_by_its_token(
        feed_server, tmp_path):
    (trial,) = trials(tmp_path, 1, scrolls=30, latency=0.1)
    host = ViewerHost(ActorOptions(feed_urls=(feed_server.url,)))
    try:
        stream = host.events(0.0)
        host.start_trial(trial, token=1)
        first = await read(stream, lambda seen: any(isinstance(e, StepEvent)
                                                    for *_, e in seen))
        assert host.cancel_trial(trial.trial_id) is True
        assert host.cancel_trial(trial.trial_id) is False  # nothing left to stop
        host.start_trial(trial, token=2)
        rest = await read(stream, ends(1))
    finally:
        await host.shutdown()
    events = [e for b in first + rest for e in b]
    tokens = [tok for _, tok, _ in events]
    # the cancelled attempt ended without an end event, and the rerun is complete
    assert tokens == sorted(tokens) and 1 in tokens
    assert not any(isinstance(e, EndEvent) for _, tok, e in events if tok == 1)
    rerun = [e for _, tok, e in events if tok == 2]
    assert [e.record.step for e in rerun if isinstance(e, StepEvent)] == list(range(30))
    assert rerun[-1].status == "done"


async def test_a_newer_stream_takes_over_from_an_older_one(feed_server, tmp_path):
    """After the driver lost a stream it opens another: the old one must not keep reading."""
    (trial,) = trials(tmp_path, 1, scrolls=3, latency=0.05)
    host = ViewerHost(ActorOptions(feed_urls=(feed_server.url,)))
    try:
        old = host.events(0.0)
        waiting = asyncio.ensure_future(old.__anext__())
        await asyncio.sleep(0)  # the old stream waits for events
        new = host.events(0.0)
        host.start_trial(trial, token=1)
        batches = await read(new, ends(1))
        with pytest.raises(StopAsyncIteration):
            await waiting
    finally:
        await host.shutdown()
    assert sum(len(b) for b in batches) == 4  # three steps and the end, all on the new one


async def test_the_driver_routes_by_token_and_tells_every_trial_of_a_broken_stream():
    from valuespectrum.sweep.driver import _ActorStream, _StreamLost

    class ScriptedActor:
        """TEST DOUBLE of a viewer actor's handle: `events.remote` plays batches, then
        breaks as a dead actor's generator does."""

        def __init__(self, batches):
            self.batches = batches
            self.go = asyncio.Event()
            outer = self

            class Events:
                @staticmethod
                def remote(batch_s):
                    async def refs():
                        for batch in outer.batches:
                            await outer.go.wait()
                            fut = asyncio.get_running_loop().create_future()
                            fut.set_result(batch)
                            yield fut
                        raise RuntimeError("The actor died unexpectedly")
                    return refs()

            self.events = Events()

    actor = ScriptedActor([[("a", 1, "stale"), ("a", 2, "step0"), ("b", 3, "step0")],
                           [("a", 2, "step1"), ("x", 9, "nobody listens")]])
    stream = _ActorStream(actor)
    a, b = asyncio.Queue(), asyncio.Queue()
    stream.listen("a", 2, a.put_nowait)
    stream.listen("b", 3, b.put_nowait)
    actor.go.set()
    got_a = [await a.get() for _ in range(3)]
    got_b = [await b.get() for _ in range(2)]
    assert got_a[:2] == ["step0", "step1"] and isinstance(got_a[2], _StreamLost)
    assert got_b[0] == "step0" and isinstance(got_b[1], _StreamLost)
    assert "died unexpectedly" in str(got_a[2]) and stream.broken is not None
    late = []  # a trial that listens after the break hears of it at once
    stream.listen("c", 4, late.append)
    assert len(late) == 1 and isinstance(late[0], _StreamLost)
    stream.task.cancel()

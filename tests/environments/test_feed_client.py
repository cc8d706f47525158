"""FeedClient: HTTP environments sharing one client send their watch events in batches,
each answered as if sent alone; failures reach every viewer of a batch."""

from __future__ import annotations

import asyncio

import pytest

from valuespectrum.environments.base import EnvError, EnvironmentCrashed
from valuespectrum.environments.feed_client import FeedClient, Reply
from valuespectrum.environments.http_env import HttpFeedEnvironment
from valuespectrum.types import Skip, Stay


async def scroll(env: HttpFeedEnvironment, seed: int, steps: int) -> list[str]:
    seen = [(await env.reset(seed=seed)).item_id]
    for i in range(steps):
        result = await env.act(Stay(dwell_s=1.5) if (i + seed) % 2 else Skip())
        seen.append(result.observation.item_id)
    return seen


async def test_viewers_sharing_a_client_batch_their_events_and_see_the_feeds_they_would_alone(
        feed_server):
    alone = []
    for seed in range(12):
        async with HttpFeedEnvironment(feed_server.url, "tiktok", f"alone-{seed}") as env:
            alone.append(await scroll(env, seed, 5))
    client = FeedClient()
    envs = [HttpFeedEnvironment(feed_server.url, "tiktok", f"shared-{seed}", client=client)
            for seed in range(12)]
    shared = await asyncio.gather(*(scroll(env, seed, 5) for seed, env in enumerate(envs)))
    for env in envs:
        await env.close()
    assert client._session is not None and not client._session.closed  # the owner closes it
    await client.close()
    assert shared == alone
    assert client.events == 12 * 5
    assert client.batches < client.events  # twelve viewers at once: some requests carry several


class BatchSizes(FeedClient):
    """TEST DOUBLE: records how many events each batch request carries."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    async def request(self, method, url, timeout_s, **kwargs):
        if url.endswith("/api/events/batch"):
            self.sizes.append(len(kwargs["json"]["requests"]))
        return await super().request(method, url, timeout_s, **kwargs)


class LoseFirstBatchAnswer(BatchSizes):
    """TEST DOUBLE: the first batch reaches the server, its answer is dropped."""

    async def request(self, method, url, timeout_s, **kwargs):
        reply = await super().request(method, url, timeout_s, **kwargs)
        if url.endswith("/api/events/batch") and len(self.sizes) == 1:
            import aiohttp

            raise aiohttp.ClientOSError(104, "connection reset by peer")
        return reply


async def test_a_batch_answer_lost_after_the_server_acted_restarts_each_trial_once_recorded(
        feed_server):
    client = LoseFirstBatchAnswer()
    envs = [HttpFeedEnvironment(feed_server.url, "tiktok", f"lost-{i}", reconnect_s=5,
                                client=client) for i in range(4)]
    for i, env in enumerate(envs):
        await env.reset(seed=i)
    outcomes = await asyncio.gather(*(env.act(Skip()) for env in envs), return_exceptions=True)
    assert client.sizes[0] == 4
    for env, outcome in zip(envs, outcomes, strict=True):
        # each replayed its event (a 409), read its history, and found its next post lost
        assert isinstance(outcome, EnvironmentCrashed), outcome
        assert "served 2 posts but this viewer received 1" in str(outcome)
        assert len((await env._history())["events"]) == 1  # recorded once
        await env.close()
    await client.close()


async def test_a_batch_that_meets_a_restarting_server_is_resent_by_each_viewer(corpus):
    from valuespectrum.feed.platform import FeedPlatform
    from valuespectrum.feed.server import FeedServer

    async def viewers(server, bounce: bool) -> tuple[list[str], int]:
        client = BatchSizes()
        envs = [HttpFeedEnvironment(server.url, "tiktok", f"v{i}", reconnect_s=15,
                                    client=client) for i in range(4)]
        for i, env in enumerate(envs):
            await env.reset(seed=i)
        if bounce:  # the server is down for 2 s when the four events leave together
            bouncing = asyncio.create_task(asyncio.to_thread(server.restart, 2.0))
            while server._thread is not None:  # wait until it has stopped
                await asyncio.sleep(0.01)
        results = await asyncio.gather(*(env.act(Stay(dwell_s=2.0)) for env in envs))
        assert client.sizes[0] == 4  # the four events went in one request
        if bounce:
            await bouncing
        reconnects = sum(env.reconnects for env in envs)
        for env in envs:
            await env.close()
        await client.close()
        return [r.observation.item_id for r in results], reconnects

    with FeedServer(FeedPlatform(corpus)) as server:
        clean, _ = await viewers(server, bounce=False)
    with FeedServer(FeedPlatform(corpus)) as server:
        bounced, reconnects = await viewers(server, bounce=True)
    assert reconnects == 4  # every viewer of the failed batch reconnected on its own
    assert bounced == clean  # and its event was recorded once, its next post the same


class HeldBatches(FeedClient):
    """TEST DOUBLE: batch requests wait until `release` is set (the first is in flight while
    later events queue behind it)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.sent: list[int] = []

    async def request(self, method, url, timeout_s, **kwargs):
        if url.endswith("/api/events/batch"):
            self.sent.append(len(kwargs["json"]["requests"]))
            await self.release.wait()
        return await super().request(method, url, timeout_s, **kwargs)


async def test_events_wait_behind_the_batch_in_flight_and_a_cancelled_one_is_never_sent(
        feed_server):
    client = HeldBatches()
    envs = [HttpFeedEnvironment(feed_server.url, "tiktok", f"held-{i}", client=client)
            for i in range(4)]
    for env in envs:
        await env.reset(seed=1)
    first = asyncio.create_task(envs[0].act(Skip()))
    while not client.sent:  # the first batch is in flight
        await asyncio.sleep(0)
    later = [asyncio.create_task(env.act(Skip())) for env in envs[1:]]
    while len(client._waiting.get(feed_server.url, ())) < 3:  # queued behind the first
        await asyncio.sleep(0)
    later[1].cancel()  # its trial stopped while its event waited
    client.release.set()
    await first
    done = await asyncio.gather(*later, return_exceptions=True)
    assert isinstance(done[1], asyncio.CancelledError)
    assert all(r.item_id for r in (done[0], done[2]))
    assert client.sent == [1, 2]  # the three that queued went together, less the cancelled
    history = await envs[2]._history()
    assert history["events"] == []  # the cancelled viewer's event never reached the feed
    for env in envs:
        await env.close()
    await client.close()


async def test_a_batch_refused_whole_gives_every_viewer_the_refusal(feed_server):
    client = FeedClient()
    body = {"session": "s", "item_id": "x", "watched_s": 1.0}
    replies = await asyncio.gather(*(client.event(feed_server.url + "/nowhere", body, 5.0)
                                     for _ in range(3)))
    await client.close()
    assert [r.status for r in replies] == [404] * 3
    assert all("not found" in r.json()["error"].lower() for r in replies)


async def test_closing_the_client_cancels_the_events_in_flight_and_queued(feed_server):
    client = HeldBatches()
    body = {"session": "s", "item_id": "x", "watched_s": 1.0}
    in_flight = asyncio.create_task(client.event(feed_server.url, body, 5.0))
    while not client.sent:
        await asyncio.sleep(0)
    queued = [asyncio.create_task(client.event(feed_server.url, body, 5.0)) for _ in range(2)]
    while len(client._waiting.get(feed_server.url, ())) < 2:
        await asyncio.sleep(0)
    await client.close()
    results = await asyncio.gather(in_flight, *queued, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert client._senders == {} and client._session is None
    with pytest.raises(EnvError, match="the feed client is closed"):
        await client.event(feed_server.url, body, 5.0)


async def test_a_viewers_timeout_bounds_its_wait_behind_a_batch_in_flight(feed_server):
    client = HeldBatches()  # never released: the first batch hangs
    body = {"session": "s", "item_id": "x", "watched_s": 1.0}
    first = asyncio.create_task(client.event(feed_server.url, body, 30.0))
    while not client.sent:
        await asyncio.sleep(0)
    with pytest.raises(TimeoutError):  # queued behind it, with a 0.2 s limit of its own
        await client.event(feed_server.url, body, 0.2)
    assert client.sent == [1]
    await client.close()
    assert isinstance((await asyncio.gather(first, return_exceptions=True))[0],
                      asyncio.CancelledError)


class MalformedBatchAnswer(FeedClient):
    """TEST DOUBLE: a feed server whose batch answer is not the protocol's."""

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body

    async def request(self, method, url, timeout_s, **kwargs):
        return Reply(200, self.body)


@pytest.mark.parametrize(("body", "message"), [
    (b'{"replies": [1]}', "a malformed answer"),
    (b"not json", "a malformed answer"),
    (b'{"replies": []}', "answered 0 of 1 events"),
])
async def test_a_malformed_batch_answer_is_an_environment_error(body, message):
    client = MalformedBatchAnswer(body)
    with pytest.raises(EnvError, match=message):
        await client.event("http://127.0.0.1:9", {"session": "s"}, 5.0)
    await client.close()


def test_a_client_needs_room_for_one_event():
    with pytest.raises(ValueError, match="max_events must be >= 1"):
        FeedClient(max_events=0)

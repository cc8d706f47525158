"""FeedClient: the HTTP side of the feed's JSON API, shared by an actor's HTTP environments.

One aiohttp session (one pool of connections) serves every environment of a viewer actor,
and watch events travel in batches: while one batch is on its way to a feed server, the
events that arrive wait, and the next request carries them all (`POST /api/events/batch`).
A lone viewer waits for nothing (its batch holds its one event); a thousand viewers on two
cores send tens of events per request. Per request, aiohttp was the largest part of an
actor's CPU per step (docs/scale.md).

Each event is answered as `POST /api/events` would answer it alone, so a viewer's
retries, replays and errors are its own: a batch that fails in transit fails each of its
events with the same exception, and each environment reconnects and replays as it did
with a request of its own. A viewer's `timeout_s` bounds its whole wait (queued behind
the batch in flight, then sent); a viewer that times out restarts its trial, as before.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, NamedTuple

from valuespectrum.environments.base import EnvError

#: Events per request, at most (~200 bytes each; the server accepts up to MAX_BATCH).
MAX_EVENTS = 128


class Reply(NamedTuple):
    """A feed server's answer: its status and body (or, from a batch, the parsed body)."""

    status: int
    body: bytes
    data: Any = None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace") if self.data is None else json.dumps(
            self.data)

    def json(self) -> Any:
        return json.loads(self.body) if self.data is None else self.data


class _Waiting(NamedTuple):
    body: dict[str, Any]
    timeout_s: float
    answer: asyncio.Future


class FeedClient:
    """Requests to feed servers from one event loop, with watch events batched per server.

    Open it in the event loop that uses it (the session binds to that loop); `close` it
    there. The environments that share it do not close it.

    Args:
        max_events: events per batch request, at most.
    """

    def __init__(self, max_events: int = MAX_EVENTS) -> None:
        if max_events < 1:
            raise ValueError(f"max_events must be >= 1, got {max_events}")
        self.max_events = max_events
        self._session: Any = None
        self._waiting: dict[str, list[_Waiting]] = {}
        self._senders: dict[str, asyncio.Task] = {}
        self._closed = False
        #: Batch requests sent, and the events they carried (for benchmarks and tests).
        self.batches = 0
        self.events = 0

    def _check_open(self) -> None:
        if self._closed:
            raise EnvError("the feed client is closed")

    def _http(self) -> Any:
        import aiohttp

        self._check_open()
        if self._session is None:
            # TCP_NODELAY is aiohttp's default: no 40 ms delayed-ACK wait on a two-part request
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30))
        return self._session

    async def request(self, method: str, url: str, timeout_s: float, **kwargs: Any) -> Reply:
        """One request, its answer read in full (aiohttp: ~4x less CPU per request than
        httpx, which set the actors' cost per step; see docs/scale.md)."""
        import aiohttp

        async with self._http().request(method, url,
                                        timeout=aiohttp.ClientTimeout(total=timeout_s),
                                        **kwargs) as r:
            return Reply(r.status, await r.read())

    async def event(self, feed_url: str, body: dict[str, Any], timeout_s: float) -> Reply:
        """Send one watch event (the body of `POST /api/events`) to the feed server at
        `feed_url`, in the next batch to it; its own answer, as that request would get it.

        A batch that fails in transit (connection) raises its error here; `timeout_s`
        bounds the whole wait, queued and sent (TimeoutError).
        """
        self._check_open()
        answer = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(feed_url, []).append(_Waiting(body, timeout_s, answer))
        if feed_url not in self._senders:
            self._senders[feed_url] = asyncio.create_task(self._send_batches(feed_url))
        async with asyncio.timeout(timeout_s):  # a cancelled answer is skipped or ignored
            return await answer

    async def _send_batches(self, feed_url: str) -> None:
        """Send what waits for `feed_url`, a batch at a time, until nothing waits."""
        try:
            while waiting := self._waiting.get(feed_url):
                batch = waiting[:self.max_events]
                self._waiting[feed_url] = waiting[self.max_events:]
                # a viewer cancelled while it waited (its trial stopped) sends nothing
                batch = [w for w in batch if not w.answer.done()]
                if batch:
                    await self._send(feed_url, batch)
        finally:
            self._senders.pop(feed_url, None)

    async def _send(self, feed_url: str, batch: list[_Waiting]) -> None:
        try:
            r = await self.request("POST", feed_url + "/api/events/batch",
                                   max(w.timeout_s for w in batch),
                                   json={"requests": [w.body for w in batch]})
            if r.status < 400:
                try:
                    replies = [Reply(a["status"], b"", a["body"]) for a in r.json()["replies"]]
                except (ValueError, KeyError, TypeError) as e:
                    raise EnvError(f"POST /api/events/batch: a malformed answer "
                                   f"({type(e).__name__}: {e})") from e
                if len(replies) != len(batch):
                    raise EnvError(f"POST /api/events/batch: the feed server answered "
                                   f"{len(replies)} of {len(batch)} events")
            else:  # the batch as a whole was refused: each event gets the refusal
                replies = [r] * len(batch)
        except asyncio.CancelledError:  # the client closes
            for w in batch:
                w.answer.cancel()
            raise
        except Exception as e:  # every viewer of the batch gets the cause, and handles it
            for w in batch:
                if not w.answer.done():
                    w.answer.set_exception(e)
            return
        self.batches += 1
        self.events += len(batch)
        for w, reply in zip(batch, replies, strict=True):
            if not w.answer.done():
                w.answer.set_result(reply)

    async def close(self) -> None:
        """Cancel what still waits, stop the senders, close the session (idempotent);
        later requests raise EnvError."""
        self._closed = True
        senders = list(self._senders.values())
        self._senders.clear()
        for task in senders:
            task.cancel()
        for waiting in self._waiting.values():
            for w in waiting:
                if not w.answer.done():
                    w.answer.cancel()
        self._waiting.clear()
        await asyncio.gather(*senders, return_exceptions=True)
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

"""`ReplicaPool`: one model served by several servers, requests spread across them.

A ``vllm:`` spec with ``vllm.replicas: N`` starts N servers of the model (each its own Ray
actor asking for its GPUs). Each process that talks to the model (a viewer actor) keeps
one pool of OpenAI clients, one per replica, and sends every request to the replica with
the **fewest requests of this process in flight**; replicas tied on that count take turns
(round robin, from a random start, so that many processes do not all begin on replica 0).

Why least outstanding requests rather than plain round robin: requests differ in cost
(images, answer length) and replicas may run on unequal GPUs or nodes. A replica that
answers slowly keeps its requests in flight longer and so gets fewer new ones, while
round robin would keep handing it 1/N of the load. With equal replicas and equal
requests the ties make it exactly round robin. The count is per process: a cluster-wide
count would put a Ray call in the path of every request, and each viewer actor balancing
its own requests already spreads the total evenly (the tests count it on the servers).

**A replica that dies** is taken out of rotation: when a request fails at the connection
(refused, or cut mid-request) the pool asks the replica's owner whether its server is
still alive; if not, the request goes at once to another replica (it was never answered,
so sending it again neither loses nor duplicates a step). Only when every replica is dead
is the failure fatal (`BackendUnavailable`, with each server's exit code and log tail).
Other failures (HTTP 5xx, timeouts) pass up to `RetryingBackend`, whose next attempt is
again spread by the pool.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from valuespectrum.models.base import BackendUnavailable, ConnectionLost, EndpointUnreachable
from valuespectrum.types import Completion, GenerateConfig, Message

log = logging.getLogger(__name__)

#: How long a connection failure waits for the owner to see its server's exit: the socket
#: closes while the kernel tears the process down, a moment before it can be reaped.
DEATH_GRACE_S = 2.0

Health = Callable[[], Awaitable[dict[str, Any]]]


@dataclass
class Replica:
    """One server of the pool and this process's traffic to it.

    Attributes:
        index: The replica's number (0 .. N-1), as in its actor name.
        url: Its OpenAI-compatible base URL.
        client: The backend speaking to it (an `OpenAIBackend`).
        health: Asks the server's owner for ``{"alive", "returncode", "log_tail"}``; None when
            nobody owns it (an attached ``base_url``): it is then never taken out.
        in_flight: Requests of this process it is answering now.
        served: Requests it has answered for this process.
        death: Why it was taken out of rotation (None while in rotation).
        log_tail: The end of its server's log when it died.
    """

    index: int
    url: str
    client: Any
    health: Health | None = None
    in_flight: int = 0
    served: int = 0
    death: str | None = None
    log_tail: str = ""


class ReplicaPool:
    """Spreads one model's requests over its replicas; fails over when one dies.

    Args:
        name: The backend name, for messages.
        replicas: The pool's replicas (at least one).
    """

    def __init__(self, name: str, replicas: Sequence[Replica]) -> None:
        if not replicas:
            raise ValueError("a replica pool needs at least one replica")
        self.name = name
        self.replicas = list(replicas)
        self._last = random.randrange(len(self.replicas)) - 1

    @property
    def live(self) -> list[Replica]:
        """The replicas in rotation."""
        return [r for r in self.replicas if r.death is None]

    def pick(self) -> Replica:
        """The live replica with the fewest requests in flight; ties in turn.

        Raises:
            BackendUnavailable: every replica is dead.
        """
        live = self.live
        if not live:
            # the log of one that died with something to say (all usually share one cause)
            last = next((r for r in reversed(self.replicas) if r.log_tail), self.replicas[-1])
            if len(self.replicas) == 1:
                what = f"the vLLM server died ({last.death})"
            else:
                deaths = "; ".join(f"replica {r.index}: {r.death}" for r in self.replicas)
                what = f"all {len(self.replicas)} vLLM servers died ({deaths})"
            tail = f"; last log lines:\n{last.log_tail}" if last.log_tail else ""
            raise BackendUnavailable(f"{self.name}: {what}{tail}")
        low = min(r.in_flight for r in live)
        n = len(self.replicas)
        chosen = min((r for r in live if r.in_flight == low),
                     key=lambda r: (r.index - self._last - 1) % n)
        self._last = chosen.index
        return chosen

    async def _died(self, replica: Replica) -> str | None:
        """Why `replica`'s server is dead, or None if its owner says it is alive."""
        if replica.health is None:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEATH_GRACE_S
        while True:
            try:
                h = await replica.health()
            except Exception as e:  # the owning actor itself is gone (killed, node lost)
                return f"its owner is gone ({type(e).__name__})"
            if not h.get("alive"):
                replica.log_tail = h.get("log_tail") or ""
                return f"exit code {h.get('returncode')}"
            if loop.time() > deadline:
                return None
            await asyncio.sleep(0.1)

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Completion:
        """Answer on the least busy live replica, moving to another if that one dies."""
        while True:
            replica = self.pick()
            replica.in_flight += 1
            try:
                completion = await replica.client.generate(messages, config)
            except (ConnectionLost, EndpointUnreachable):
                if replica.death is None:  # a concurrent request may have found out already
                    replica.death = await self._died(replica)
                if replica.death is None:
                    raise
                log.warning("%s: replica %d at %s is dead (%s); its requests go to the %d "
                            "other(s)", self.name, replica.index, replica.url,
                            replica.death, len(self.live))
                continue
            finally:
                replica.in_flight -= 1
            replica.served += 1
            return completion

    def snapshot(self) -> list[dict[str, Any]]:
        """Per replica: index, URL, requests answered and in flight, alive or why not."""
        return [{"index": r.index, "url": r.url, "served": r.served, "in_flight": r.in_flight,
                 "alive": r.death is None, "death": r.death} for r in self.replicas]

    async def aclose(self) -> None:
        for r in self.replicas:
            await r.client.aclose()


__all__ = ["DEATH_GRACE_S", "Replica", "ReplicaPool"]

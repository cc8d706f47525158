"""One fault-tolerant pool of Ray actors, kept apart from what the actors do.

Both tasks run their work on it: a sweep's viewer actors (each hosts several agents) and the
benchmark's answer actors (each answers the questions of one (arm, value) unit at a time).
The pool knows nothing about trials or questions. It spawns the actors, tells whether one is
usable, and revives a dead one: it waits while Ray restarts the actor (the actor class's
`max_restarts`), and replaces it with a fresh one when Ray gives up or the actor was killed
for good. `ActorPool.call` runs one unit of work with that policy: an attempt on the worker's
actor, and after the actor's death the same attempt again on the revived one, up to a number
of restarts (tenacity), then `ActorLost`. What a unit already recorded is the caller's
business (journals make a rerun redo only the rest). An error the unit itself raised inside
the actor arrives as that error, not as Ray's wrapper (`task_error`).

Pattern: RLlib's `FaultTolerantActorManager` (health checks and restarts apart from the
algorithm). The waits use tenacity.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
)

log = logging.getLogger(__name__)

#: How long a revive waits for Ray to restart a dead actor before it starts a fresh one.
RESTART_WAIT_S = 120.0


T = TypeVar("T")


def first_line(err: BaseException) -> str:
    """An error's first line (Ray's and Playwright's errors carry long multi-line logs)."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


def actor_death() -> tuple[type[BaseException], ...]:
    """The errors that say an actor died under a call: killed, restarting, its node gone.

    (A function, not a constant: importing Ray costs a second, and `vspec --help` must not.)
    """
    from ray.exceptions import ActorUnavailableError, RayActorError

    return (RayActorError, ActorUnavailableError)


def task_error(err: BaseException) -> BaseException:
    """The error a task or actor method raised itself, out of Ray's `RayTaskError` wrapper
    (a store's, a backend's own error), so the caller sees the error the user can act on;
    any other error as it is."""
    from ray.exceptions import RayTaskError

    cause = getattr(err, "cause", None) if isinstance(err, RayTaskError) else None
    return cause if isinstance(cause, Exception) else err


class ActorLost(Exception):
    """A unit's actor died on every attempt `ActorPool.call` allowed.

    Attributes:
        deaths: How many times the actor died under the unit.
        last: The first line of the last death's error.
    """

    def __init__(self, deaths: int, last: str) -> None:
        super().__init__(f"its actor died {deaths} times (last: {last})")
        self.deaths, self.last = deaths, last


class ActorPool:
    """A fixed number of Ray actors that stays that number while actors die.

    Args:
        spawn: Starts one actor (``ActorClass.options(...).remote(...)``); it must expose an
            async ``ping()`` method (the health check).
        size: How many actors.
        restart_wait_s: How long to wait for Ray's own restart of a dead actor.
    """

    def __init__(self, spawn: Callable[[], Any], size: int, *,
                 restart_wait_s: float = RESTART_WAIT_S) -> None:
        if size < 1:
            raise ValueError(f"an actor pool needs at least one actor, not {size}")
        self.spawn = spawn
        self.size = size
        self.restart_wait_s = restart_wait_s
        #: The live actors (fault-injection tests kill them).
        self.actors: list[Any] = []
        #: Actors started in place of dead ones, over the pool's life.
        self.replaced = 0
        self._replacement: dict[str, Any] = {}  # a dead actor's id -> the one replacing it
        self._lock: asyncio.Lock | None = None

    def start(self) -> ActorPool:
        self.actors = [self.spawn() for _ in range(self.size)]
        return self

    def actor(self, i: int) -> Any:
        """The actor that serves worker `i` (workers share actors round-robin)."""
        return self.actors[i % len(self.actors)]

    async def revive(self, actor: Any) -> Any:
        """A usable actor after `actor` died: the same one once Ray restarted it, else one
        fresh actor in its place (every caller that shared the dead one moves to it)."""
        import ray
        from ray.exceptions import ActorUnavailableError, RayActorError

        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            key = actor._actor_id.hex()
            if key in self._replacement:
                return self._replacement[key]
            # Ray may be restarting it: wait for that (0.1 s doubling to 2 s)
            waiting = AsyncRetrying(retry=retry_if_exception_type(ActorUnavailableError),
                                    wait=wait_exponential(multiplier=0.1, max=2.0),
                                    stop=stop_before_delay(self.restart_wait_s), reraise=True)
            try:
                async for attempt in waiting:
                    with attempt:
                        await asyncio.wait_for(actor.ping.remote(), timeout=self.restart_wait_s)
                return actor
            except (ActorUnavailableError, RayActorError, TimeoutError) as e:
                log.warning("actor is gone for good (%s); starting a new one", first_line(e))
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already dead
                pass
            fresh = self.spawn()
            self._replacement[key] = fresh
            self.replaced += 1
            self.actors = [fresh if a is actor else a for a in self.actors]
            return fresh

    async def call(self, worker: int, attempt: Callable[[Any, int], Awaitable[T]], *,
                   restarts: int, died: tuple[type[BaseException], ...] = (),
                   on_death: Callable[[BaseException, int], None] | None = None) -> T:
        """Run one unit of work on worker `worker`'s actor, surviving the actor's death.

        Args:
            attempt: ``attempt(actor, number)`` (number from 1) does the unit once on `actor`.
            restarts: How many times the unit runs again after its actor died.
            died: Errors of the caller's own that also mean the actor died (e.g. a lost
                event stream), beside Ray's (`actor_death`).
            on_death: Called with the error and the attempt's number before a revive.

        Returns:
            What the attempt returned.

        Raises:
            ActorLost: the actor died under the unit `restarts` + 1 times.
            Exception: the unit's own error, out of Ray's wrapper (`task_error`).
        """
        deaths = actor_death() + died
        retrying = AsyncRetrying(retry=retry_if_exception_type(deaths),
                                 stop=stop_after_attempt(restarts + 1), reraise=True)
        try:
            async for tries in retrying:
                with tries:
                    actor, number = self.actor(worker), tries.retry_state.attempt_number
                    try:
                        return await attempt(actor, number)
                    except deaths as e:
                        log.warning("actor died under a unit (attempt %d): %s",
                                    number, first_line(e))
                        if number <= restarts and on_death is not None:  # tried again
                            on_death(e, number)
                        # revived after the last death too: the worker's next unit must
                        # not start on a dead actor and be charged its death
                        await self.revive(actor)
                        raise
                    except Exception as e:  # noqa: BLE001 - re-raised: the unit's own error
                        own = task_error(e)
                        if own is e:
                            raise
                        raise own from None
        except deaths as e:
            raise ActorLost(restarts + 1, first_line(e)) from None
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover

    async def shutdown(self, goodbye: bool = True) -> None:
        """Stop every actor: ask each to shut down (unless `goodbye` is False), then kill."""
        import ray

        if goodbye:
            await asyncio.gather(*(a.shutdown.remote() for a in self.actors),
                                 return_exceptions=True)
        for a in self.actors:
            ray.kill(a)
        self.actors = []

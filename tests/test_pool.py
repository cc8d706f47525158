"""The engine's actor pool runs a unit of work through its actor's death (engine/pool.py).

The three tasks (sweep, benchmark, probe) all run their units through `ActorPool.call`;
their own fault tests kill real actors mid-run. These pin the policy itself: a unit whose
actor dies runs again on the revived actor, gives up after its restarts with `ActorLost`,
and an error the unit raised inside the actor arrives as that error, not Ray's wrapper.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from valuespectrum.engine.pool import ActorLost, ActorPool, task_error


def _pool(tmp_path, deaths: int, max_restarts: int) -> ActorPool:
    import ray

    # defined here, not at module level: Ray's workers cannot import the tests folder, a
    # class local to a function travels to them by value
    class Worker:
        """An actor that dies (its process exits) on its first `deaths` calls of `work`."""

        def __init__(self, marker: str, deaths: int) -> None:
            self.marker, self.deaths = marker, deaths

        async def ping(self) -> bool:
            return True

        async def work(self, x: int) -> int:
            # the count survives the actor's own death: it lives in a file
            died = int(open(self.marker).read() or 0) if os.path.exists(self.marker) else 0
            if died < self.deaths:
                with open(self.marker, "w") as f:
                    f.write(str(died + 1))
                os._exit(1)
            return x * 2

        async def fail(self) -> None:
            raise ValueError("the unit's own error")

        async def shutdown(self) -> None:
            return None

    cls = ray.remote(num_cpus=0, max_restarts=max_restarts)(Worker)
    marker = str(tmp_path / "deaths")
    return ActorPool(lambda: cls.remote(marker, deaths), 1, restart_wait_s=30).start()


async def _call(pool: ActorPool, restarts: int, seen: list[int]) -> int:
    try:
        return await pool.call(0, lambda actor, n: actor.work.remote(21), restarts=restarts,
                               on_death=lambda err, n: seen.append(n))
    finally:
        await pool.shutdown(goodbye=False)


@pytest.mark.parametrize("max_restarts", [2, 0], ids=["ray-restarts-it", "replaced"])
def test_a_unit_whose_actor_dies_runs_again_on_the_revived_actor(ray_session, tmp_path,
                                                                 max_restarts):
    pool = _pool(tmp_path, deaths=2, max_restarts=max_restarts)
    seen: list[int] = []
    assert asyncio.run(_call(pool, restarts=3, seen=seen)) == 42
    assert seen == [1, 2]  # two deaths, each revived before the next attempt
    assert pool.replaced == (2 if max_restarts == 0 else 0)


def test_a_unit_whose_actor_keeps_dying_ends_in_actor_lost(ray_session, tmp_path):
    pool = _pool(tmp_path, deaths=10, max_restarts=0)
    seen: list[int] = []
    with pytest.raises(ActorLost) as lost:
        asyncio.run(_call(pool, restarts=1, seen=seen))
    assert lost.value.deaths == 2 and seen == [1]
    assert pool.replaced == 2  # revived after the last death too: the worker has a live actor
    assert "died 2 times" in str(lost.value)


def test_the_units_own_error_arrives_as_itself(ray_session, tmp_path):
    import ray

    pool = _pool(tmp_path, deaths=0, max_restarts=0)

    async def run() -> None:
        try:
            await pool.call(0, lambda actor, n: actor.fail.remote(), restarts=3)
        finally:
            await pool.shutdown(goodbye=False)

    with pytest.raises(ValueError, match="the unit's own error") as err:
        asyncio.run(run())
    assert not isinstance(err.value, ray.exceptions.RayTaskError)
    assert pool.replaced == 0  # an error is not a death: nothing was revived


def test_task_error_leaves_other_errors_alone():
    err = KeyError("x")
    assert task_error(err) is err

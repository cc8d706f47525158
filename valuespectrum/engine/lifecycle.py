"""One run lifecycle for every task: lock, plan, log, Ray, shared actors, tables.

    acquire the run directory's lock
    -> body.plan(); run_dir.begin(spec, plan)   (a changed plan is refused, nothing written)
    -> third-party output to logs/output.log
    -> body.resume()                            (torn journals cut, damaged tables noted)
    -> body.execute(life)                       (starts Ray via `life.start_ray` when needed)
    -> body.finish(failure)                     (tables and summary, also after a failure)
    -> release the run's shared actors, stop the Ray this run started, release the lock
"""

from __future__ import annotations

from typing import Any

from valuespectrum.cluster import start_ray, stop_ray
from valuespectrum.console import output_to_log
from valuespectrum.engine.task import RunBody
from valuespectrum.models.shared import release_shared_actors


class RunLifecycle:
    """Drives a `RunBody` through the one lifecycle (module docstring).

    Args:
        ray_address: Join this Ray cluster (None: start Ray locally when the body asks).
    """

    def __init__(self, ray_address: str | None = None) -> None:
        self.ray_address = ray_address
        self.started_ray = False

    def start_ray(self, *, log_to_driver: bool = False) -> None:
        """Start (or join) Ray for the body; stopped at the end if this run started it."""
        self.started_ray = start_ray(self.ray_address, log_to_driver=log_to_driver) \
            or self.started_ray

    def run(self, body: RunBody, *, restart: bool = False) -> Any:
        """Run `body` from plan to tables; returns what its `execute` returned."""
        run_dir = body.run_dir
        run_dir.acquire()  # RunWriteError here: not writable, before any model call
        try:  # before anything is written: a refused directory stays as it was
            run_dir.begin(body.saved_spec(), body.plan(), restart=restart,
                          resumable=body.resumable)
        except BaseException:
            run_dir.release()
            raise
        try:
            # third-party output (Ray, the actors' models) goes to the run's log
            with output_to_log(run_dir.log_path()):
                return self._drive(body)
        finally:
            run_dir.release()

    def _drive(self, body: RunBody) -> Any:
        failure: BaseException | None = None
        try:
            body.resume()
            return body.execute(self)
        except BaseException as e:
            failure = e
            raise
        finally:
            try:
                body.finish(failure)
            finally:
                release_shared_actors(body.scope)
                stop_ray(self.started_ray)
                self.started_ray = False

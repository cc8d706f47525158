"""What a kind of run is: the `Task` protocol, and the `RunBody` the run lifecycle drives.

A *task* (inspect_ai's word: a dataset of units, the solver that answers them, the scorer
that summarizes) is everything one kind of run adds to the engine's shared machinery:

- its spec (`load_spec`): the units of work it plans, the environment and the strategy;
- its run (`launch`): plan, run the units on the engine's actor pool under the one run
  lifecycle (`engine.lifecycle.RunLifecycle`), print what a researcher reads;
- its summary and report (`summarize`, `report`), read back from the run directory;
- its pages in the run viewer (`source`: a `view.run_source.RunSource` subclass).

The engine supplies the rest: the run directory (lock, plan fingerprint, journals, tables:
`valuespectrum.runs`), Ray's start and stop, the fault-tolerant actor pool
(`engine.pool.ActorPool`), the run's log. Tasks are registered by name in
`engine.registry.TASKS` (one line each); nothing outside the registry asks which kind a run
is. docs/engine.md shows a third kind, `probe`, written as one module plus one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel

if TYPE_CHECKING:
    from valuespectrum.runs import Plan, RunDirectory


class LaunchOptions(Protocol):
    """What `vspec run` passes to a task's `launch` (see `launch.RunOptions`)."""

    spec_path: Path
    ray_address: str | None
    restart: bool
    output: Path | None
    live: bool | None
    report: bool


@runtime_checkable
class Task(Protocol):
    """One kind of run (registered in `engine.registry.TASKS`)."""

    #: The spec's ``kind:`` and the run directory's kind (spec.yaml, summary.json).
    kind: str
    #: How a person names it ("persona sweep", "Value-Spectrum benchmark").
    title: str
    #: The pydantic model of its summary.json (what `engine.reader.RunReader.summary`
    #: returns for a run of this kind).
    summary_model: type[BaseModel]

    def load_spec(self, path: str | Path) -> Any:
        """The spec file, validated and resolved (`ConfigError` naming file and field)."""

    def launch(self, spec: Any, options: LaunchOptions) -> None:
        """Run (or resume) the spec, print its result, write its report; a failure ends in
        `console.fail` with the command that resumes."""

    def report(self, run_dir: Path) -> Path:
        """Write the run's report (report.md and figures) from its tables; returns it."""

    def source(self, root: Path, rid: str, spec: dict[str, Any]) -> Any:
        """The run viewer's source for this run directory (pages, exports, replays), or
        None when the task has no viewer pages (`vspec view` then skips its runs)."""


class Life(Protocol):
    """What a body's `execute` may ask of the lifecycle (`engine.lifecycle.RunLifecycle`)."""

    def start_ray(self, *, log_to_driver: bool = False) -> None:
        """Start (or join) Ray; stopped at the end of the run if this run started it."""


class RunBody(Protocol):
    """What `RunLifecycle.run` drives: one run of one task, from plan to tables.

    Order: `plan` (under the run directory's lock; `saved_spec` and `plan` are then checked
    against an earlier run's), `resume` (repair torn journals, say what was repaired),
    `execute` (the units; it starts Ray through the lifecycle only when it has work),
    `finish` (tables and summary from the journals; also after a failure, unless the user
    pressed Ctrl-C twice). Shared actors of the run's scope are released and Ray stopped
    after `finish`, whatever happened.
    """

    run_dir: RunDirectory
    #: The run's scope for shared actors (budget ledger, rate limiters).
    scope: str
    #: Spec fields that may change between a run and its resume.
    resumable: frozenset[str]

    def saved_spec(self) -> dict[str, Any]: ...

    def plan(self) -> Plan: ...

    def resume(self) -> None: ...

    def execute(self, life: Life) -> Any: ...

    def finish(self, failure: BaseException | None) -> None: ...

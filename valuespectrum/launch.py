"""Run a spec file of any registered kind: load it by its `kind`, run or resume it.

`vspec run SPEC` and `vspec spectrum run SPEC` both end here; the task registry
(`engine.registry`) says which task loads, runs, prints and reports it. The task is imported
when a command runs it, so `vspec --help` loads the command tree only (docs/README.md).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from valuespectrum.config import read_yaml
from valuespectrum.console import fail, user_errors
from valuespectrum.engine.registry import kind_of_spec, task_for


@dataclass(frozen=True)
class RunOptions:
    """What `vspec run` passes to a task's `launch` (`engine.task.LaunchOptions`)."""

    spec_path: Path
    ray_address: str | None = None
    restart: bool = False
    output: Path | None = None
    live: bool | None = None
    report: bool = True


def load_any(path: str | Path) -> Any:
    """Load a spec of any registered kind by its `kind` (resolved, ready to run)."""
    data, _ = read_yaml(path)
    return task_for(kind_of_spec(data, str(path))).load_spec(path)


def run_spec_file(spec_path: Path, *, kind: str | None = None, ray_address: str | None = None,
                  restart: bool = False, output: Path | None = None, live: bool | None = None,
                  report: bool = True) -> None:
    """`vspec run` / `vspec spectrum run`: load, run (or resume), print, report."""
    try:
        with user_errors(FileNotFoundError):
            spec = load_any(spec_path)
            if kind is not None and spec.kind != kind:
                fail(f"{spec_path}: a {spec.kind} spec; run it with `vspec run {spec_path}`")
            task_for(spec.kind).launch(spec, RunOptions(
                spec_path=spec_path, ray_address=ray_address, restart=restart, output=output,
                live=live, report=report))
    except KeyboardInterrupt:
        fail(f"interrupted; what was recorded is kept: run "
             f"`{resume_command(spec_path, output, ray_address)}` to resume", code=130)


def resume_command(spec_path: Path, output: Path | None, ray_address: str | None) -> str:
    """The exact command that resumes this run (never with --restart: that would clear it)."""
    words = ["vspec", "run", str(spec_path)]
    if output is not None:
        words += ["--output", str(output)]
    if ray_address:
        words += ["--ray-address", ray_address]
    return shlex.join(words)

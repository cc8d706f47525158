"""The registry of tasks: one line per kind of run.

Each entry names the module attribute that implements `engine.task.Task`; it is imported
when a run of that kind is loaded, run, reported or viewed (so `vspec --help` imports no
pipeline, and the registry imports none of the tasks that use the engine). A third kind of
run is one new module plus one line here (docs/engine.md, the `probe` task).

These are the only places that ask which kind a run is: `kind_of_spec` (a spec file's
``kind:``) and `kind_of_run` (a run directory's spec.yaml).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml

from valuespectrum.config import ConfigError

#: kind -> "module:attribute" of its `Task`. The first is the default kind of a spec.
TASKS: dict[str, str] = {
    "sweep": "valuespectrum.sweep.task:TASK",
    "spectrum": "valuespectrum.spectrum.task:TASK",
    "probe": "valuespectrum.probe:TASK",
}

DEFAULT_KIND = next(iter(TASKS))


def kinds() -> tuple[str, ...]:
    return tuple(TASKS)


def task_for(kind: str) -> Any:
    """The registered task of `kind` (`ConfigError` for an unknown kind)."""
    target = TASKS.get(kind)
    if target is None:
        raise ConfigError(f"kind: {kind!r} is not a kind of run; expected one of "
                          f"{', '.join(TASKS)}")
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def kind_of_spec(data: Any, source: str) -> str:
    """The `kind` of a parsed spec (the default kind when the field is absent)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of spec fields")
    kind = data.get("kind", DEFAULT_KIND)
    if kind not in TASKS:
        raise ConfigError(f"{source}: kind: {kind!r} is not a spec kind; expected "
                          f"{' or '.join(TASKS)}")
    return kind


def kind_of_run(root: str | Path) -> str:
    """The kind of the run in directory `root`, from its spec.yaml (or summary.json).

    Raises:
        FileNotFoundError: `root` is no run directory (no spec.yaml or summary.json).
        ConfigError: the file is unreadable or names no registered kind.
    """
    root = Path(root)
    for name in ("spec.yaml", "summary.json"):
        path = root / name
        if path.exists():
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as e:
                raise ConfigError(f"{path}: not readable YAML ({e})") from None
            return kind_of_spec(data, str(path))
    raise FileNotFoundError(f"{root}: not a run directory (no spec.yaml or summary.json)")


def write_report(run_dir: str | Path) -> Path:
    """`vspec report RUN_DIR`: the report of the run's task (report.md and its figures)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run directory")
    return task_for(kind_of_run(run_dir)).report(run_dir)

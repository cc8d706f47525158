"""Open run directories for the viewer: find them, tell their kind, build each one's source.

The sources themselves: `view/run_source.py` (the base, `RunSource`); each task of the
engine's registry names its own (`Task.source`: `view/sweep_source.py`,
`view/spectrum_source.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from valuespectrum.config import ConfigError
from valuespectrum.engine.reader import RunReader
from valuespectrum.engine.registry import task_for
from valuespectrum.errors import RunReadError
from valuespectrum.names import safe_name
from valuespectrum.runs import RunDirectory
from valuespectrum.view.run_source import RunSource, ViewError


def _kind_of(root: Path) -> tuple[str, dict[str, Any]]:
    """The run's kind and saved spec, read by its `RunReader`."""
    reader = RunReader(root)
    try:
        return reader.kind, reader.spec()
    except (ConfigError, RunReadError) as e:
        raise ViewError(str(e)) from None


def _run_dirs(path: Path) -> list[Path]:
    if not path.is_dir():
        raise ViewError(f"{path}: no such directory")
    if (path / RunDirectory.SPEC).exists():
        return [path]
    found = sorted(p for p in path.iterdir() if (p / RunDirectory.SPEC).is_file())
    if not found:
        raise ViewError(f"{path}: not a run directory (no spec.yaml) and holds none; give a "
                        "directory written by `vspec run`")
    return found


def open_runs(paths: Iterable[str | Path]) -> dict[str, RunSource]:
    """The runs at `paths` (run directories, or folders of run directories) by unique id.

    A run whose task has no viewer pages (`Task.source` returns None, e.g. a probe) is
    skipped in a folder of runs, and refused by name when given itself.

    Raises:
        ViewError: a path is missing, or neither a run directory nor a folder of them.
    """
    out: dict[str, RunSource] = {}
    skipped: list[str] = []
    for given in paths:
        for root in _run_dirs(Path(given)):
            kind, spec = _kind_of(root)
            base = safe_name(root.resolve().name).strip("-.") or "run"
            rid, n = base, 2
            while rid in out:
                rid, n = f"{base}-{n}", n + 1
            task = task_for(kind)
            source = task.source(root, rid, spec)
            if source is None:
                if root == Path(given):
                    raise ViewError(f"{root}: a {task.title} run; the run viewer has no pages "
                                    "for it (read its report.md and results.parquet)")
                skipped.append(str(root))
                continue
            out[rid] = source
    if not out:
        raise ViewError("no run directory given" + (
            f" that the viewer shows (skipped: {', '.join(skipped)})" if skipped else ""))
    return out

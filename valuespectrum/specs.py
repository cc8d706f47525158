"""Spec files of both pipelines: which kind a file is, and how paths in it resolve.

A leaf: the pipelines' spec modules import it (`engine.registry` says which kind a file is).

Path rules (the same for sweeps and the benchmark):

- **Inputs** named in a spec (``persona_dir``, ``corpus``, ``prompts``, ``recommenders``,
  ``store``, ``values``, ``ingest``) resolve against the **spec file's folder**, so a spec
  works from any current directory.
- **Outputs** (``output``, ``cache_dir``) resolve against the **current directory**.
- ``${VSPEC_HOME}`` (default ``./.vspec``), other environment variables and ``~`` are
  expanded first, so ``${VSPEC_HOME}/corpus/openclipart`` names the default corpus.

A run saves its *resolved* spec (absolute input paths, personas and recommender parameters
inline) as ``RUN_DIR/spec.yaml``; ``vspec run RUN_DIR/spec.yaml`` reruns it as it is.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from valuespectrum.config import ConfigError

_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def vspec_home() -> Path:
    """`$VSPEC_HOME`, default `./.vspec` (corpora, stores, caches)."""
    return Path(os.environ.get("VSPEC_HOME") or Path.cwd() / ".vspec")


def expand(value: str | Path) -> str:
    """Expand ``${VSPEC_HOME}`` (with its default), other variables and ``~``.

    Raises:
        ConfigError: a variable other than VSPEC_HOME is not set.
    """

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name == "VSPEC_HOME":
            return str(vspec_home())
        if name not in os.environ:
            raise ConfigError(f"{value}: environment variable ${name} is not set")
        return os.environ[name]

    return os.path.expanduser(_VAR.sub(sub, str(value)))


def resolve_input(value: str | Path, base: str | Path) -> Path:
    """An input path from a spec: expanded, then relative to `base` (the spec's folder)."""
    path = Path(expand(value))
    return Path(os.path.normpath(path if path.is_absolute() else Path(base) / path))


def resolve_output(value: str | Path) -> Path:
    """An output path from a spec: expanded, relative to the current directory."""
    return Path(expand(value))


def check_output_template(value: str) -> str:
    """`output` may use the placeholder {name} and nothing else (a pydantic validator)."""
    try:
        value.format(name="x")
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"output {value!r}: only the placeholder {{name}} is supported ({e!r})"
                         ) from None
    return value


def check_unique_labels(models: Any) -> None:
    """Every model of a spec needs its own label (tables, trial ids and journals use it)."""
    labels = [m.label for m in models]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise ValueError(f"models: duplicate labels {dupes}; give each a distinct 'name'")

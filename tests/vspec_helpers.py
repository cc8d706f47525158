"""Helpers to run `vspec` as a user does, in a subprocess with its own VSPEC_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
VSPEC = [sys.executable, "-m", "valuespectrum.cli"]


def write_spec(path: Path, **fields) -> Path:
    spec = {"persona_dir": str(ROOT / "personas"), **fields}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def vspec_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(VSPEC_HOME=str(tmp / "home"), HF_HUB_OFFLINE="1", RAY_AUTH_MODE="disabled",
               RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1")
    return env


def run_vspec(args: list[str], tmp: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([*VSPEC, *args], env=vspec_env(tmp), capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def sweep_spec(path: Path, **fields):
    """Write a sweep spec file (personas from the repository) and load it as `vspec` would."""
    from valuespectrum.sweep.spec import load_sweep_spec

    return load_sweep_spec(write_spec(path, **fields))


def renderers_pss_mb(root=None) -> float:
    """PSS (MB) of the Chromium renderer processes below psutil process `root` (default: this
    process); processes gone or exiting meanwhile (other tests' browsers) are skipped."""
    import psutil

    total = 0
    for p in (root or psutil.Process()).children(recursive=True):
        try:
            if "--type=renderer" in p.cmdline():
                total += p.memory_full_info().pss
        except psutil.Error:
            continue
    return total / 2**20

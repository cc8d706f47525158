"""`vspec spectrum run SPEC.yaml`: the Value-Spectrum benchmark (same as `vspec run` on a
``kind: spectrum`` spec, which it insists on)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from valuespectrum.console import command_group
from valuespectrum.launch import run_spec_file

spectrum_app = command_group("The Value-Spectrum benchmark (Table 1, Figures 2-9).")


@spectrum_app.command("run")
def run(
    spec_path: Annotated[Path, typer.Argument(help="spectrum spec (YAML, kind: spectrum)")],
    ray_address: Annotated[str | None, typer.Option(
        "--ray-address", help="join a Ray cluster (default: local Ray)")] = None,
    restart: Annotated[bool, typer.Option(
        "--restart", help="start over: clear the run directory's earlier results")] = False,
    output: Annotated[Path | None, typer.Option(
        "--output", help="run directory (default: the spec's `output`)")] = None,
    report: Annotated[bool, typer.Option(
        "--report/--no-report", help="write RUN_DIR/report.md and its figures at the end")] = True,
) -> None:
    """Retrieve images per value keyword, ask every model, write Table 1 and the figures.

    Rerunning the same command resumes an interrupted run.
    """
    run_spec_file(spec_path, kind="spectrum", ray_address=ray_address, restart=restart,
                  output=output, report=report)

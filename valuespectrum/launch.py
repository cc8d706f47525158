"""Run a spec file of either kind: load it by its `kind`, run or resume it, print, report.

`vspec run SPEC` and `vspec spectrum run SPEC` both end here. Like the command modules
(`cli.py`, `*/cli.py`, `doctor.py`), it imports what a command runs (the sweep's spec and
driver, the benchmark's run, the reports) inside the function that runs it, so that
`vspec --help` loads the command tree only (docs/README.md, layout).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from valuespectrum.config import read_yaml
from valuespectrum.console import console, fail, user_errors
from valuespectrum.embedders import EmbedderUnavailable
from valuespectrum.models.base import BackendError
from valuespectrum.specs import spec_kind
from valuespectrum.spectrum.spec import SpectrumSpec, load_spectrum_spec

if TYPE_CHECKING:
    from valuespectrum.sweep.spec import SweepSpec


def load_any(path: str | Path) -> SweepSpec | SpectrumSpec:
    """Load a sweep or spectrum spec by its `kind` (resolved, ready to run)."""
    data, _ = read_yaml(path)
    if spec_kind(data, str(path)) == "spectrum":
        return load_spectrum_spec(path)
    from valuespectrum.sweep.spec import load_sweep_spec  # a command's module: see __doc__

    return load_sweep_spec(path)


def run_spec_file(spec_path: Path, *, kind: str | None = None, ray_address: str | None = None,
                  restart: bool = False, output: Path | None = None, live: bool | None = None,
                  report: bool = True) -> None:
    """`vspec run` / `vspec spectrum run`: load, run (or resume), print, report."""
    try:
        with user_errors(FileNotFoundError):
            spec = load_any(spec_path)
            if kind is not None and spec.kind != kind:
                fail(f"{spec_path}: a {spec.kind} spec; run it with `vspec run {spec_path}`")
            if spec.kind == "spectrum":
                _run_spectrum(spec, ray_address, restart, output, report)
            else:
                _run_sweep(spec, spec_path, ray_address, restart, output, live, report)
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


def _run_sweep(spec, spec_path: Path, ray_address, restart, output, live, report) -> None:
    from valuespectrum.report.sweep import write_sweep_report
    from valuespectrum.report.terminal import print_summary
    from valuespectrum.sweep.driver import SweepRunner
    from valuespectrum.sweep.progress import SweepProgress

    progress = SweepProgress(console, window=spec.window, live=live)
    runner = SweepRunner(spec, ray_address=ray_address, progress=progress, restart=restart,
                         output=output)
    outcome = runner.run()
    print_summary(console, outcome.run_dir)
    if outcome.interrupted:
        fail(f"interrupted (Ctrl-C): the steps in flight were recorded and the summary of "
             f"what is done written to {outcome.run_dir}; run "
             f"`{resume_command(spec_path, output, ray_address)}` to resume", code=130)
    if report:
        write_sweep_report(outcome.run_dir)
    console.print(
        f"run directory: {outcome.run_dir} ({outcome.planned} trials, {outcome.skipped} resumed, "
        f"{outcome.wall_s:.0f} s)", markup=False, highlight=False, soft_wrap=True)
    if outcome.fatal:
        fail(f"the run stopped early: {outcome.fatal}; fix the cause and rerun the same "
             "command to resume", code=1)
    if any(k != "done" for k in outcome.statuses):
        fail(f"some trials did not finish: {outcome.statuses}; rerun the same command to "
             "resume", code=1)


def _run_spectrum(spec, ray_address, restart, output, report) -> None:
    # gRPC (pymilvus) logs fork notices when Ray starts workers after the store was used.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    from valuespectrum.report.spectrum import ValueScore, table1_markdown, write_spectrum_report
    from valuespectrum.spectrum.run import SpectrumRun

    run = SpectrumRun(spec, ray_address=ray_address, restart=restart, output=output)
    try:
        summary = run.run(progress=True)
        out = write_spectrum_report(run.root) if report else None
    except (EmbedderUnavailable, BackendError) as e:
        fail(str(e))
    plain = [a["label"] for a in summary["arms"] if a["strategy"] == "plain"]
    scores = {a: {v: ValueScore(**s) for v, s in per.items()}
              for a, per in summary["scores"].items()}
    console.print(table1_markdown(scores, plain), markup=False, highlight=False)
    console.print(f"run directory: {run.root}" + (f"; report: {out}" if out else ""),
                  markup=False, highlight=False, soft_wrap=True)  # a path is never wrapped
    if summary["stopped"]:
        fail(f"some models stopped early: {summary['stopped']}; rerun the same command to "
             "resume", code=1)
    if not summary["complete"]:
        fail("some answers are missing (backend failures); rerun the same command to resume",
             code=1)

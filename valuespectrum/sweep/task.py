"""The persona sweep as a task of the engine (`engine.registry.TASKS["sweep"]`).

Its units are trials (persona x model x platform x strategy x seed), run by viewer actors
of the engine's pool; its summary is summary.json (sweep/summary.py), its report report.md
(report/sweep.py), its viewer pages `view.sweep_source.SweepSource`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from valuespectrum.console import console, fail
from valuespectrum.engine.task import LaunchOptions
from valuespectrum.launch import resume_command
from valuespectrum.report.sweep import write_sweep_report
from valuespectrum.report.terminal import print_summary
from valuespectrum.sweep.driver import SweepRunner
from valuespectrum.sweep.progress import SweepProgress
from valuespectrum.sweep.spec import SweepSpec, load_sweep_spec
from valuespectrum.sweep.summary_model import SweepSummary
from valuespectrum.view.sweep_source import SweepSource


class SweepTask:
    kind = "sweep"
    title = "persona sweep"
    summary_model = SweepSummary

    def load_spec(self, path: str | Path) -> SweepSpec:
        return load_sweep_spec(path)

    def launch(self, spec: SweepSpec, options: LaunchOptions) -> None:
        """`vspec run`: run or resume, print the summary, write the report."""
        resume = resume_command(options.spec_path, options.output, options.ray_address)
        progress = SweepProgress(console, window=spec.window, live=options.live)
        runner = SweepRunner(spec, ray_address=options.ray_address, progress=progress,
                             restart=options.restart, output=options.output)
        outcome = runner.run()
        print_summary(console, outcome.run_dir)
        if outcome.interrupted:
            fail(f"interrupted (Ctrl-C): the steps in flight were recorded and the summary of "
                 f"what is done written to {outcome.run_dir}; run `{resume}` to resume",
                 code=130)
        if options.report:
            write_sweep_report(outcome.run_dir)
        console.print(
            f"run directory: {outcome.run_dir} ({outcome.planned} trials, {outcome.skipped} "
            f"resumed, {outcome.wall_s:.0f} s)", markup=False, highlight=False, soft_wrap=True)
        if outcome.fatal:
            fail(f"the run stopped early: {outcome.fatal}; fix the cause and rerun the same "
                 "command to resume", code=1)
        if any(k != "done" for k in outcome.statuses):
            fail(f"some trials did not finish: {outcome.statuses}; rerun the same command to "
                 "resume", code=1)

    def report(self, run_dir: Path) -> Path:
        return write_sweep_report(run_dir)

    def source(self, root: Path, rid: str, spec: dict[str, Any]) -> SweepSource:
        return SweepSource(root, rid, spec)


TASK = SweepTask()

"""The Value-Spectrum benchmark as a task of the engine (`engine.registry.TASKS["spectrum"]`).

Its prepare step is the retrieval (top-k screenshots per value keyword, once); its units are
the questions of one (arm, value), answered by answer actors of the engine's pool; its
summary is Table 1 (report/spectrum.py), its viewer pages `view.spectrum_source`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from valuespectrum.console import console, fail
from valuespectrum.embedders import EmbedderUnavailable
from valuespectrum.engine.task import LaunchOptions
from valuespectrum.models.base import BackendError
from valuespectrum.report.spectrum import (
    SpectrumSummary,
    ValueScore,
    table1_markdown,
    write_spectrum_report,
)
from valuespectrum.spectrum.run import SpectrumRun
from valuespectrum.spectrum.spec import SpectrumSpec, load_spectrum_spec
from valuespectrum.view.spectrum_source import SpectrumSource


class SpectrumTask:
    kind = "spectrum"
    title = "Value-Spectrum benchmark"
    summary_model = SpectrumSummary

    def load_spec(self, path: str | Path) -> SpectrumSpec:
        return load_spectrum_spec(path)

    def launch(self, spec: SpectrumSpec, options: LaunchOptions) -> None:
        """`vspec run`: retrieve, answer (or resume), print Table 1, write the report."""
        # gRPC (pymilvus) logs fork notices when Ray starts workers after the store was used.
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
        run = SpectrumRun(spec, ray_address=options.ray_address, restart=options.restart,
                          output=options.output)
        try:
            summary = run.run(progress=True)
            out = write_spectrum_report(run.root) if options.report else None
        except (EmbedderUnavailable, BackendError) as e:
            fail(str(e))
        plain = [a["label"] for a in summary["arms"] if a["strategy"] == "plain"]
        scores = {a: {v: ValueScore(**s) for v, s in per.items()}
                  for a, per in summary["scores"].items()}
        console.print(table1_markdown(scores, plain), markup=False, highlight=False)
        if run.restarts:
            console.print(f"restarted {run.restarts} unit(s) after their answer actor died; "
                          "their unanswered questions were asked again",
                          markup=False, highlight=False)
        console.print(f"run directory: {run.root}" + (f"; report: {out}" if out else ""),
                      markup=False, highlight=False, soft_wrap=True)  # a path is never wrapped
        if summary["stopped"]:
            fail(f"some models stopped early: {summary['stopped']}; rerun the same command to "
                 "resume", code=1)
        if not summary["complete"]:
            fail("some answers are missing (backend failures); rerun the same command to "
                 "resume", code=1)

    def report(self, run_dir: Path) -> Path:
        return write_spectrum_report(run_dir)

    def source(self, root: Path, rid: str, spec: dict[str, Any]) -> SpectrumSource:
        return SpectrumSource(root, rid, spec)


TASK = SpectrumTask()

"""Re-read a finished sweep under another analysis than the declared one (exploratory).

``vspec report RUN --analysis estimand=delta`` writes ``RUN/exploratory/<what changed>/``:
its own summary.json, report.md and figures, every table and figure labelled exploratory
with how the reading departs from the declared plan. The run's own summary and report
(the declared plan's) are left as they are.
"""

from __future__ import annotations

import re
from pathlib import Path

from valuespectrum.config import ConfigError
from valuespectrum.engine.reader import RunReader
from valuespectrum.runs import RunDirectory, write_json
from valuespectrum.sweep.analysis import override, parse_overrides
from valuespectrum.sweep.spec import SweepSpec, expand, sweep_spec_from_data
from valuespectrum.sweep.summary import summarize
from valuespectrum.sweep.summary_model import SweepSummary


def saved_sweep_spec(run_dir: Path) -> SweepSpec:
    """The spec a sweep run saved (spec.yaml: inputs absolute, personas inline)."""
    data = RunReader(run_dir).spec()
    if not data:
        raise ConfigError(f"{run_dir}: no spec.yaml; not a run directory")
    if data.get("kind", "sweep") != "sweep":
        raise ConfigError(f"{run_dir}: a {data.get('kind')} run; --analysis re-reads sweeps")
    data = {k: v for k, v in data.items() if k != "kind"}
    return sweep_spec_from_data(data, run_dir, str(run_dir / RunDirectory.SPEC))


def reread(run_dir: str | Path, pairs: list[str]) -> Path:
    """Write the exploratory reading of `run_dir` under `pairs` (KEY=VALUE); returns its
    folder. Raises ConfigError for a bad pair, or a reading that departs from nothing."""
    run_dir = Path(run_dir)
    spec = saved_sweep_spec(run_dir)
    plan, window = override(spec.analysis, spec.window, parse_overrides(pairs))
    if 2 * window > spec.scrolls:
        raise ConfigError(f"--analysis: window {window} must be at most half of the run's "
                          f"{spec.scrolls} scrolls")
    departs = plan.differences(spec.analysis, window, spec.window)
    if not departs:
        raise ConfigError("--analysis: this is the declared plan; `vspec report RUN` writes it")
    name = ",".join(re.sub(r"[^A-Za-z0-9_.=-]", "_", d.split(" instead of ")[0].replace(" ", "="))
                    for d in departs)
    out = run_dir / "exploratory" / name
    out.mkdir(parents=True, exist_ok=True)
    planned = [t.trial_id for t in expand(spec)]
    summary = summarize(run_dir, spec, planned, analysis=plan, window=window)
    SweepSummary.model_validate(summary)  # what its readers read it with
    write_json(out / "summary.json", summary)
    return out

"""`vspec power` before a run, and `vspec report --analysis` after it (exploratory)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from vspec_helpers import ROOT, run_vspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "view"))
from view_runs import synthetic_sweep  # noqa: E402 - the viewer tests' synthetic run


def test_power_prints_the_power_at_the_specs_trials_and_the_trials_needed(tmp_path):
    proc = run_vspec(["power", str(ROOT / "experiments" / "demo.yaml"), "--sims", "200"],
                     tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "session yes-rate, paired, α 0.05, Holm over 1 confirmatory contrast" in out
    assert "inputs (assumed)" in out and "power at 10 trials per cell" in out
    assert all(f"+{e:.3f}" in out for e in (0.05, 0.1, 0.2))
    assert "trials per cell for 80%" in out


def test_power_from_a_pilot_run_measures_its_control_arm(tmp_path):
    from valuespectrum.sweep.power_plan import inputs_from_run, power_table
    from valuespectrum.sweep.reread import saved_sweep_spec

    run = synthetic_sweep(tmp_path / "pilot", trials=6, scrolls=20)
    spec = saved_sweep_spec(run)
    inputs = inputs_from_run(run, spec)
    # every trial alternates yes and no: rate 0.5, no spread, a lag-1 correlation of -1
    # (clipped to 0: the simulation's chains are not anti-correlated)
    assert (inputs.base_rate, inputs.between_sd, inputs.lag1) == (0.5, 0.0, 0.0)
    assert inputs.treatment_sd == 0.0  # measured on the learning arm, not copied
    assert inputs.source.startswith(f"pilot run {run} (6 twin trials, 6 pairs)")
    rows = power_table(spec, inputs, [0.2], sims=100)
    assert rows[0]["trials"] == 6 and 0 <= rows[0]["power"] <= 1
    proc = run_vspec(["power", str(run), "--sims", "100", "--effects", "0.3"], tmp_path,
                     timeout=300)
    assert proc.returncode == 0 and "inputs (pilot run" in proc.stdout, proc.stderr[-2000:]
    assert "(0.000 in the learning arm)" in proc.stdout


@pytest.mark.parametrize("args, message", [
    (["nope.yaml"], "nope.yaml"),
    ([str(ROOT / "experiments" / "demo.yaml"), "--shape", "wave"], "--shape"),
    ([str(ROOT / "experiments" / "demo.yaml"), "--between-sd", "0.9"], "between_sd"),
])
def test_power_refuses_bad_input_in_one_line(tmp_path, args, message):
    proc = run_vspec(["power", *args], tmp_path, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert message in " ".join(proc.stderr.split())


def test_another_reading_is_written_apart_and_labelled_exploratory(tmp_path):
    run = synthetic_sweep(tmp_path / "done", trials=4, scrolls=10)
    declared = (run / "summary.json").read_bytes()
    proc = run_vspec(["report", str(run), "--analysis", "estimand=delta",
                      "--analysis", "reading=unpaired"], tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder = run / "exploratory" / "estimand=delta,reading=unpaired"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["analysis"]["declared"] is False
    assert summary["analysis"]["departs"] == ["estimand delta instead of session",
                                              "reading unpaired instead of paired"]
    assert {r["family"] for r in summary["contrasts"]} == {"exploratory"}
    report = (folder / "report.md").read_text()
    assert report.startswith("# Sweep report: done (EXPLORATORY re-reading)")
    assert "EXPLORATORY reading (estimand delta instead of session" in report
    assert "EXPLORATORY reading" in " ".join(proc.stdout.split())
    assert (run / "summary.json").read_bytes() == declared  # the declared reading stays
    for bad, message in ((["estimand=delta,alpha"], "expected KEY=VALUE"),
                         (["windows=3"], "unknown field 'windows'"),
                         (["reading=paired"], "this is the declared plan"),
                         (["window=9"], "at most half")):
        proc = run_vspec(["report", str(run), "--analysis", *bad], tmp_path, timeout=120)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, bad
        assert message in " ".join(proc.stderr.split()), (bad, proc.stderr)

"""`engine.reader.RunReader`: one typed reader of a run directory (issue 24).

What a user notices: a sweep read back gives its cells and contrasts with the cell as four
columns; a summary written by the previous version (keys only) still reads and reports the
same; a damaged or missing summary is one line naming the file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from vspec_helpers import ROOT, run_vspec

from valuespectrum.engine.reader import CellColumns, RunReader
from valuespectrum.errors import RunReadError
from valuespectrum.runs import RunDirectory
from valuespectrum.sweep.results import SweepResults, TrialRecord
from valuespectrum.sweep.spec import SweepSpec
from valuespectrum.sweep.summary import summarize
from valuespectrum.sweep.summary_model import SweepSummary
from valuespectrum.types import StepRecord

sys.path.insert(0, str(ROOT / "tests" / "view"))
from view_runs import synthetic_sweep  # noqa: E402 - the viewer tests' synthetic run

TRIALS, SCROLLS = 2, 6


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """A finished sweep: pet_owner x random:0.5 x (tiktok, tiktok-frozen) x simple."""
    return synthetic_sweep(tmp_path_factory.mktemp("reader") / "sweep", TRIALS, SCROLLS)


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _old_summary(path: Path) -> dict:
    """summary.json as the previous version wrote it: arms named by their keys only."""
    data = json.loads(path.read_text())
    for row in [*data["contrasts"], *data["curves"]]:
        del row["treatment_cell"], row["control_cell"]
    path.write_text(json.dumps(data, indent=2))
    return data


def test_a_sweep_read_back_gives_typed_cells_and_contrasts_with_columns(sweep):
    reader = RunReader(sweep)
    assert reader.kind == "sweep" and reader.spec()["name"] == "sweep"
    assert len(reader.plan().entries) == 2 * TRIALS

    s = reader.summary()  # the kind's model, from the task registry
    assert isinstance(s, SweepSummary)
    assert [c.columns for c in s.cells] == [
        CellColumns(persona="pet_owner", model="random-0.5", platform=p, strategy="simple")
        for p in ("tiktok-frozen", "tiktok")]  # by key
    lead = s.contrasts[0]
    assert (lead.kind, lead.role, lead.family) == ("control feed", "twin", "confirmatory")
    assert lead.treatment_cell.platform == "tiktok"
    assert lead.control_cell.platform == "tiktok-frozen"
    assert lead.treatment_cell.differs_from(lead.control_cell) == ["platform"]
    assert lead.treatment == lead.treatment_cell.key  # the key stays, as its name
    assert s.curves and s.curves[0].control_cell == lead.control_cell

    # on disk the cell is stored as columns, not only as the joined key
    raw = json.loads((sweep / "summary.json").read_text())
    assert raw["contrasts"][0]["treatment_cell"] == {
        "persona": "pet_owner", "model": "random-0.5", "platform": "tiktok",
        "strategy": "simple"}

    records = reader.trial_records()
    assert len(records) == 2 * TRIALS
    assert all(isinstance(r, TrialRecord) and r.status == "done" for r in records.values())
    assert reader.trial_table() == records  # trials.parquet holds the same records
    tid = sorted(records)[0]
    steps = reader.steps([tid])
    assert [type(x) for x in steps] == [StepRecord] * SCROLLS
    assert [x.step for x in steps] == list(range(SCROLLS))
    assert reader.table("steps.parquet").num_rows == 2 * TRIALS * SCROLLS
    assert reader.num_rows("steps.parquet") == 2 * TRIALS * SCROLLS


def test_an_old_summary_without_cell_columns_still_reads_and_reports_the_same(sweep, tmp_path):
    from valuespectrum.report.sweep import write_sweep_report

    new = SweepSummary.model_validate(json.loads((sweep / "summary.json").read_text()))
    old_dir = _copy(sweep, tmp_path / "old")
    _old_summary(old_dir / "summary.json")
    old = RunReader(old_dir).summary()
    assert [(r.treatment_cell, r.control_cell) for r in old.contrasts] == \
        [(r.treatment_cell, r.control_cell) for r in new.contrasts]
    assert [(c.treatment_cell, c.control_cell) for c in old.curves] == \
        [(c.treatment_cell, c.control_cell) for c in new.curves]
    new_report = write_sweep_report(_copy(sweep, tmp_path / "new")).read_text()
    assert write_sweep_report(old_dir).read_text() == new_report
    assert "| tiktok − tiktok-frozen | pet_owner, random-0.5, simple |" in new_report


def test_a_malformed_cell_key_in_an_old_summary_is_an_error_naming_file_and_field(sweep,
                                                                                   tmp_path):
    run = _copy(sweep, tmp_path / "bad-key")
    data = _old_summary(run / "summary.json")
    data["contrasts"][1]["control"] = "pet_owner|random-0.5|tiktok-frozen"  # 3 parts
    (run / "summary.json").write_text(json.dumps(data))
    with pytest.raises(RunReadError) as e:
        RunReader(run).summary()
    msg = str(e.value)
    assert str(run / "summary.json") in msg and "contrasts.1" in msg
    assert "'pet_owner|random-0.5|tiktok-frozen' is not a cell key" in msg


def test_a_damaged_or_missing_summary_is_an_error_naming_the_file(sweep, tmp_path):
    run = _copy(sweep, tmp_path / "damaged")
    path = run / "summary.json"
    path.write_text(path.read_text()[:200])  # torn, as a copy cut short leaves it
    with pytest.raises(RunReadError, match=rf"{path}: damaged, not readable JSON"):
        RunReader(run).summary()
    proc = run_vspec(["report", str(run)], tmp_path, timeout=300)
    assert proc.returncode != 0
    assert f"{path}: damaged, not readable JSON" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr

    path.write_text(json.dumps({"kind": "sweep", "name": "x"}))  # fields missing
    with pytest.raises(RunReadError, match=rf"{path}: window: Field required"):
        RunReader(run).summary()

    path.unlink()
    with pytest.raises(RunReadError, match=rf"{path}: no summary"):
        RunReader(run).summary()
    assert RunReader(run).summary_or_none() is None  # the viewer shows a run in progress


def test_the_summary_is_read_again_only_when_it_changed(sweep, tmp_path):
    run = _copy(sweep, tmp_path / "cached")
    reader = RunReader(run)
    first = reader.summary()
    assert reader.summary() is first
    data = json.loads((run / "summary.json").read_text())
    data["name"] = "renamed, a longer name than before"
    (run / "summary.json").write_text(json.dumps(data))
    assert reader.summary().name == "renamed, a longer name than before"


def test_pooled_contrasts_carry_persona_star_as_a_column(tmp_path):
    run = RunDirectory(tmp_path, "sweep")
    run.acquire()
    results = SweepResults(run)
    for i, (persona, platform) in enumerate(
            (p, f) for p in ("pet_owner", "athlete") for f in ("tiktok", "tiktok-frozen")):
        cell = f"{persona}|random-0.5|{platform}|simple"
        for step in range(4):
            results.stage_step(StepRecord(trial_id=f"t{i}", cell=cell, persona=persona,
                                          model="random-0.5", platform=platform,
                                          strategy="simple", step=step, decision=step % 2))
        results.finish_trial(TrialRecord(trial_id=f"t{i}", cell=cell, persona=persona,
                                         model="random-0.5", platform=platform,
                                         strategy="simple", index=0, seed=i % 2,
                                         status="done", steps=4))
    run.release()
    spec = SweepSpec(name="s", personas=["pet_owner", "athlete"],
                     persona_dir=str(ROOT / "personas"), models=["random:0.5"],
                     platforms=["tiktok", "tiktok-frozen"], scrolls=4, window=2)
    s = SweepSummary.model_validate(summarize(tmp_path, spec))
    pooled = [r for r in s.contrasts if r.kind == "control feed, personas pooled"]
    assert pooled and all(r.treatment_cell.pooled and r.control_cell.pooled for r in pooled)
    assert pooled[0].treatment == "*|random-0.5|tiktok|simple"
    assert pooled[0].control_cell == CellColumns(persona="*", model="random-0.5",
                                                 platform="tiktok-frozen", strategy="simple")
    per_persona = [r for r in s.contrasts if r.kind == "control feed"]
    assert {r.treatment_cell.persona for r in per_persona} == {"pet_owner", "athlete"}


def test_the_example_of_docs_engine_md_runs_on_a_sweep(sweep, capsys):
    import re

    text = (ROOT / "docs" / "engine.md").read_text()
    section = text.split("## Reading a run", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block, "docs/engine.md lost its example of reading a run"
    scope: dict = {}
    exec(block.group(1).replace('"runs/demo"', repr(str(sweep))), scope)  # noqa: S102
    assert capsys.readouterr().out.startswith("tiktok - tiktok-frozen ")
    assert len(scope["steps"]) == SCROLLS and scope["table"].num_rows == 2 * TRIALS * SCROLLS


def test_the_viewer_shows_an_old_summary_and_a_run_without_one_by_the_cell_columns(sweep,
                                                                                   tmp_path):
    from starlette.testclient import TestClient

    from valuespectrum.view import open_runs
    from valuespectrum.view.app import create_app

    old = _copy(sweep, tmp_path / "old" / "sweep")
    _old_summary(old / "summary.json")
    bare = _copy(sweep, tmp_path / "bare" / "sweep")
    (bare / "summary.json").unlink()  # a run stopped before its summary
    tiktok = "pet_owner|random-0.5|tiktok|simple"
    for run, has_summary in ((sweep, True), (old, True), (bare, False)):
        client = TestClient(create_app(open_runs([run])))
        page = client.get("/run/sweep").text
        assert ("tiktok − tiktok-frozen" in page) == has_summary
        cell = client.get("/run/sweep/cell", params={"id": tiktok}).text
        # the cell's columns, from the summary or from the steps' own columns
        assert "<dt>persona</dt><dd>pet_owner</dd>" in cell.replace("\n", "")
        assert "<dt>platform</dt><dd>tiktok</dd>" in cell.replace("\n", "")
        # the one cell a dimension away, to set side by side
        assert "Compare side by side with" in cell and "tiktok-frozen|simple</a>" in cell


def test_the_viewer_says_a_summary_is_unreadable_instead_of_stopped(sweep, tmp_path):
    from valuespectrum.view import open_runs

    run = _copy(sweep, tmp_path / "viewer-bad" / "sweep")
    data = _old_summary(run / "summary.json")
    data["contrasts"][1]["control"] = "pet_owner|random-0.5|tiktok-frozen"  # 3 parts
    (run / "summary.json").write_text(json.dumps(data))
    status = next(iter(open_runs([run]).values())).status()
    assert status.startswith("summary unreadable: ") and "contrasts.1" in status, status
    assert "stopped" not in status
    (run / "summary.json").unlink()  # no summary at all: a run stopped before it
    assert next(iter(open_runs([run]).values())).status().startswith("stopped")

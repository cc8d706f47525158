"""The `probe` task: a third kind of run as one module plus one registry line (docs/engine.md).

The spec run here is the one docs/engine.md shows (read from the page), so the page's
example cannot drift from what works.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from PIL import Image

from valuespectrum.engine.registry import TASKS, task_for
from valuespectrum.runs import PlanChanged

ROOT = Path(__file__).resolve().parents[1]


def docs_spec() -> dict:
    text = (ROOT / "docs" / "engine.md").read_text()
    block = re.search(r"```yaml\n(kind: probe\n.*?)```", text, re.S)
    assert block, "docs/engine.md lost its probe spec"
    return yaml.safe_load(block.group(1))


@pytest.fixture
def probe_dir(tmp_path) -> Path:
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for i in range(6):
        Image.new("RGB", (40 + i, 30), (40 * i, 100, 200)).save(pictures / f"p{i}.png")
    (pictures / "notes.txt").write_text("not an image")
    spec = {**docs_spec(), "output": str(tmp_path / "runs" / "{name}")}
    (tmp_path / "probe.yaml").write_text(yaml.safe_dump(spec))
    return tmp_path


def test_the_probe_is_one_registry_line_and_runs_on_the_engine(probe_dir, ray_session):
    assert TASKS["probe"] == "valuespectrum.probe:TASK"
    task = task_for("probe")
    spec = task.load_spec(probe_dir / "probe.yaml")
    from valuespectrum.probe import ProbeRun

    run = ProbeRun(spec)
    summary = run.run()
    rows = pq.read_table(run.run_dir.root / "results.parquet").to_pylist()
    assert [r["image"] for r in rows] == [f"p{i}.png" for i in range(6)]  # not notes.txt
    assert all(r["yes"] is not None and r["error"] is None for r in rows)
    assert summary["complete"] and summary["answered"] == 6
    assert summary["yes_share"] == sum(r["yes"] for r in rows) / 6
    assert run.pool is not None and run.pool.size == 2  # answered on the engine's pool

    again = ProbeRun(spec).run()  # a rerun resumes: nothing asked twice, the same table
    assert again == summary
    assert len((run.run_dir.root / "journal" / "answers.jsonl").read_text().splitlines()) == 6
    changed = spec.model_copy(update={"question": "Is it blue?"})
    with pytest.raises(PlanChanged, match="question"):
        ProbeRun(changed).run()


def test_vspec_runs_and_reports_a_probe_and_names_bad_input(probe_dir):
    from vspec_helpers import run_vspec

    done = run_vspec(["run", str(probe_dir / "probe.yaml")], probe_dir, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "answered (6 images)" in done.stdout
    report = run_vspec(["report", str(probe_dir / "runs" / "smiles")], probe_dir, timeout=120)
    assert report.returncode == 0 and "report.md" in report.stdout, report.stderr

    bad = probe_dir / "bad.yaml"
    bad.write_text("kind: probe\nmodel: random:0.5\nquestion: Is it?\nimages: nowhere/\n")
    refused = run_vspec(["run", str(bad)], probe_dir, timeout=120)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "images:" in refused.stderr and "is not a folder" in refused.stderr


def test_the_viewer_skips_a_probe_in_a_folder_and_names_one_given(probe_dir, ray_session):
    from valuespectrum.probe import ProbeRun
    from valuespectrum.view.run_source import ViewError
    from valuespectrum.view.sources import open_runs

    ProbeRun(task_for("probe").load_spec(probe_dir / "probe.yaml")).run()
    with pytest.raises(ViewError, match="a probe run; the run viewer has no pages"):
        open_runs([probe_dir / "runs" / "smiles"])
    with pytest.raises(ViewError, match=r"no run directory given that the viewer shows "
                                        r"\(skipped: .*smiles\)"):
        open_runs([probe_dir / "runs"])

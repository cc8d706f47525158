"""`vspec sensitivity`: the same sweep at several values of one parameter, then the plot."""

from __future__ import annotations

import json

import pytest
from vspec_helpers import write_spec

from valuespectrum.config import ConfigError
from valuespectrum.sweep.sensitivity import parse_assignment, run_sensitivity, variants

pytestmark = pytest.mark.slow


def test_one_run_per_value_then_a_table_and_a_figure(tmp_path, corpus_dir, ray_session):
    spec = write_spec(tmp_path / "s.yaml", name="sens", personas=["pet_owner"],
                      models=["embed:minilm"], platforms=["tiktok", "tiktok-frozen"],
                      environment="http", trials=3, scrolls=20, window=10,
                      corpus=str(corpus_dir), output=str(tmp_path / "runs" / "{name}"))
    path = run_sensitivity(spec, "recommenders.tiktok.warmup_views=0,40",
                           sets=["concurrency=3"])
    assert path == tmp_path / "runs" / "sens-sensitivity" / "sensitivity.json"
    result = json.loads(path.read_text())
    assert result["values"] == [0, 40] and result["fixed"] == ["concurrency=3"]
    for v in (0, 40):
        run = path.parent / f"recommenders.tiktok.warmup_views={v}"
        saved = (run / "spec.yaml").read_text()
        assert f"warmup_views: {v}" in saved and "concurrency: 3" in saved
    tiktok = [r for r in result["rows"] if r["platform"] == "tiktok"]
    assert [r["value"] for r in tiktok] == [0, 40]
    assert all(r["contrast"]["control"].endswith("tiktok-frozen|simple") for r in tiktok)
    assert path.with_suffix(".png").stat().st_size > 10_000
    again = run_sensitivity(spec, "recommenders.tiktok.warmup_views=0,40", sets=["concurrency=3"])
    assert json.loads(again.read_text())["statuses"] == {"0": {"resumed": 6}, "40": {"resumed": 6}}


def test_bad_assignments_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="expected PATH=VALUE"):
        parse_assignment("warmup", many=True)
    spec = tmp_path / "s.yaml"
    spec.write_text("name: x\nrecommenders: my.yaml\n")
    with pytest.raises(ConfigError, match="recommenders is 'my.yaml', not a mapping"):
        variants(spec, "recommenders.tiktok.warmup_views=1,2")
    spec.write_text("kind: spectrum\nname: x\n")
    with pytest.raises(ConfigError, match="runs a sweep spec"):
        variants(spec, "top_k=1,2")


def test_the_command_fails_like_vspec_run_naming_the_cause(tmp_path, corpus_dir):
    """Bad input exits 2 naming the file; a run directory that cannot be written exits 1
    (not bad input: rerunning resumes), as `vspec run` does."""
    from vspec_helpers import run_vspec

    missing = tmp_path / "nope.yaml"
    proc = run_vspec(["sensitivity", str(missing), "--param", "seed=1,2"], tmp_path,
                     timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert str(missing) in " ".join(proc.stderr.split())

    (tmp_path / "a-file").write_text("not a directory")
    spec = write_spec(tmp_path / "s.yaml", name="sens", personas=["pet_owner"],
                      models=["random:0.5"], platforms=["tiktok"], environment="http",
                      trials=1, scrolls=4, window=2, corpus=str(corpus_dir))
    proc = run_vspec(["sensitivity", str(spec), "--param", "seed=1,2", "--plain",
                      "--output", str(tmp_path / "a-file" / "runs")], tmp_path, timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == 1 and "cannot write" in proc.stderr, proc.stderr[-2000:]

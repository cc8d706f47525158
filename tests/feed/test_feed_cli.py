"""`vspec corpus` and `vspec feed` commands: results on disk and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from valuespectrum.cli import app
from valuespectrum.feed.corpus import Corpus


@pytest.fixture()
def runner():
    return CliRunner()


@pytest.mark.skipif(not Path("/usr/share/openclipart/png").is_dir(), reason="no openclipart")
def test_build_then_stats(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("VSPEC_HOME", str(tmp_path))
    r = runner.invoke(app, ["corpus", "build", "openclipart", "--limit", "12", "--seed", "1"])
    assert r.exit_code == 0, r.output
    assert "12 items" in r.output or "11 items" in r.output
    assert len(Corpus.load(tmp_path / "corpus" / "openclipart")) >= 11
    r = runner.invoke(app, ["corpus", "stats"])
    assert r.exit_code == 0 and "category" in r.output and "items" in r.output


@pytest.mark.parametrize(("args", "message"), [
    (["corpus", "build", "pexels"], "unknown corpus source 'pexels'"),
    (["corpus", "build", "openclipart", "--source-dir", "/nonexistent"], "not found"),
    (["corpus", "stats", "--corpus", "/nonexistent"], "not a corpus"),
    (["corpus", "import", "/nonexistent"], "expected a folder of images or a .csv file"),
    (["feed", "serve", "--corpus", "/nonexistent"], "not a corpus"),
])
def test_bad_input_is_a_message_not_a_traceback(runner, args, message):
    r = runner.invoke(app, args)
    assert r.exit_code == 2
    assert message in " ".join(r.output.split())
    assert "Traceback" not in r.output


def test_import_into_its_own_source_folder_is_refused_and_deletes_nothing(runner, tmp_path):
    from PIL import Image

    shots = tmp_path / "shots"
    shots.mkdir()
    Image.new("RGB", (40, 60), "red").save(shots / "a.png")
    (shots / "notes.txt").write_text("my notes")
    r = runner.invoke(app, ["corpus", "import", str(shots), "--output", str(shots)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "refusing to build a corpus here: it is the source folder" in " ".join(r.output.split())
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.png", "notes.txt", "shots"]


def test_build_into_a_folder_with_other_files_is_refused(runner, tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    r = runner.invoke(app, ["corpus", "build", "openclipart", "--output", str(tmp_path),
                            "--source-dir", "/nonexistent"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "not empty and not a corpus" in " ".join(r.output.split())
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]

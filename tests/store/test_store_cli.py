"""`vspec store` and `vspec spectrum` commands: results and clear errors, no tracebacks."""

from __future__ import annotations

import re

import pytest
from PIL import Image
from typer.testing import CliRunner

from valuespectrum.cli import app


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_store_ingest_folder_then_stats(tmp_path, runner, monkeypatch, store_location):
    """The same commands on a milvus-lite file and on a Milvus server (``--store URI``)."""
    folder = tmp_path / "shots"
    folder.mkdir()
    for c in ("red", "blue"):
        Image.new("RGB", (16, 16), c).save(folder / f"{c}.png")
    (tmp_path / "m.csv").write_text(
        "path,platform,posted,caption\nred.png,tiktok,2024-08-01,a red square\n"
        "blue.png,youtube,2024-09-30,a blue square\n")
    db = store_location
    args = ["store", "ingest", "--folder", str(folder), "--csv", str(tmp_path / "m.csv"),
            "--store", str(db), "--embedder", "minilm"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "2 inserted" in flat(first.output)
    again = flat(runner.invoke(app, args).output)
    assert "0 inserted" in again and "2 in the store" in again
    stats = runner.invoke(app, ["store", "stats", "--store", str(db)])
    assert stats.exit_code == 0
    assert "2024-08-01 .. 2024-09-30" in flat(stats.output) and "tiktok" in stats.output
    # what `vspec spectrum run` opens (in a StoreActor) reads the same store
    from valuespectrum.store.actor import StoreOwner

    owner = StoreOwner(db, "minilm")
    try:
        assert owner.stats().count == 2
    finally:
        owner.close()
    # every unit vector is within L2 2.0 of every keyword: both screenshots, for each value
    ab = runner.invoke(app, ["store", "abundance", "--store", str(db), "--radius", "2.0"])
    assert ab.exit_code == 0, ab.output
    assert re.search(r"Hedonism\s+│\s+2\s+│", ab.output)
    assert re.search(r"Tradition\s+│\s+2\s+│", ab.output)


def test_store_errors_are_messages(tmp_path, runner):
    out = runner.invoke(app, ["store", "stats", "--store", str(tmp_path / "none.db")])
    assert out.exit_code == 2 and "no store here" in out.output
    out = runner.invoke(app, ["store", "ingest", "--run", "a", "--folder", "b"])
    assert out.exit_code == 2 and "exactly one of" in out.output
    assert "Traceback" not in out.output


def test_a_store_held_by_another_owner_is_a_message_naming_it(tmp_path, runner):
    import os

    from valuespectrum.store.vector_store import ScreenshotStore

    db = tmp_path / "held.db"
    with ScreenshotStore(db, "minilm", 8):  # the holder (the lock is per open file)
        out = runner.invoke(app, ["store", "stats", "--store", str(db)])
    assert out.exit_code == 2, out.output
    said = flat(out.output)
    assert f"vector store {db} is being written by pid {os.getpid()}" in said
    assert "one process per .db" in said and "Traceback" not in out.output


def test_a_store_server_that_does_not_answer_is_a_message(runner):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = runner.invoke(app, ["store", "stats", "--store", f"http://127.0.0.1:{port}"])
    assert out.exit_code == 2, out.output
    assert f"cannot reach the Milvus server at http://127.0.0.1:{port}" in flat(out.output)
    assert "Traceback" not in out.output


def test_spectrum_run_bad_spec_is_a_message(tmp_path, runner):
    spec = tmp_path / "s.yaml"
    spec.write_text("kind: spectrum\nstore: x.db\nmodels: []\noutput_dir: out\n")
    out = runner.invoke(app, ["spectrum", "run", str(spec)])
    assert out.exit_code == 2 and "s.yaml" in out.output and "models" in out.output
    assert out.exception is None or isinstance(out.exception, SystemExit)

"""Each run records the lock's hash and key versions; `vspec report` says what differs."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from typer.testing import CliRunner

from valuespectrum.cli import app
from valuespectrum.versions import lock_path, lock_status, run_versions, versions_changes

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"


def test_the_package_carries_the_repository_lock():
    assert lock_path() is not None
    assert lock_path().read_bytes() == LOCK.read_bytes()


def test_a_run_records_the_lock_hash_python_and_key_packages(tmp_path):
    sys.path.insert(0, str(ROOT / "tests" / "view"))
    from view_runs import synthetic_sweep

    run = synthetic_sweep(tmp_path / "run")
    recorded = json.loads((run / "versions.json").read_text())
    assert recorded["lock"]["sha256"] == hashlib.sha256(LOCK.read_bytes()).hexdigest()
    assert recorded["python"] == ".".join(map(str, sys.version_info[:3]))
    assert recorded["packages"]["numpy"] and recorded["packages"]["ray"]
    assert versions_changes(recorded, run_versions()) == []


def _record(sha="a" * 64, differs=None, numpy="2.4.6", python="3.11.7"):
    return {"python": python, "lock": {"sha256": sha, "differs": differs or {}},
            "packages": {"numpy": numpy, "ray": "2.60.0"}}


def test_changes_name_the_lock_and_each_package_that_moved():
    assert versions_changes(_record(), _record()) == []
    assert versions_changes(_record(), _record(sha="b" * 64, numpy="2.4.7")) == [
        f"lock {'a' * 12} -> {'b' * 12}", "numpy 2.4.6 -> 2.4.7"]
    # one lock, a package installed off it on one side: its effective versions
    off = {"scipy": {"locked": "1.17.1", "installed": "1.16.0"}}
    assert versions_changes(_record(), _record(differs=off)) == ["scipy 1.17.1 -> 1.16.0"]
    assert versions_changes(_record(differs=off), _record()) == ["scipy 1.16.0 -> 1.17.1"]
    assert versions_changes(_record(), _record(python="3.11.9")) == ["python 3.11.7 -> 3.11.9"]


def test_a_run_from_before_the_lock_says_none_was_recorded():
    old = {"numpy": "2.3.0", "ray": "2.60.0"}  # the earlier flat versions.json
    assert versions_changes(old, _record()) == [
        "lock: none recorded (a run from before the lock, or a package built without it)",
        "numpy 2.3.0 -> 2.4.6"]


def test_lock_status_lists_installed_packages_off_the_lock(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("numpy==0.0.1 \\\n    --hash=sha256:00\nnot-installed-pkg==1.0 \\\n"
                    "    --hash=sha256:11\n")
    import numpy

    status = lock_status(lock)
    assert status["differs"] == {"numpy": {"locked": "0.0.1", "installed": numpy.__version__}}
    assert status["sha256"] == hashlib.sha256(lock.read_bytes()).hexdigest()


def test_report_says_in_one_line_when_a_run_is_read_under_other_versions(tmp_path):
    sys.path.insert(0, str(ROOT / "tests" / "view"))
    from view_runs import synthetic_sweep

    run = synthetic_sweep(tmp_path / "run")
    same = CliRunner().invoke(app, ["report", str(run)], prog_name="vspec")
    assert same.exit_code == 0, same.output
    assert "note:" not in same.output

    path = run / "versions.json"
    data = json.loads(path.read_text())
    data["lock"]["sha256"] = "0" * 64
    data["packages"]["numpy"] = "1.26.0"
    path.write_text(json.dumps(data))
    moved = CliRunner().invoke(app, ["report", str(run)], prog_name="vspec")
    assert moved.exit_code == 0, moved.output
    notes = [ln for ln in moved.output.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1, moved.output
    assert "other versions" in notes[0] and f"lock {'0' * 12} -> " in notes[0]
    assert "numpy 1.26.0 -> " in notes[0]

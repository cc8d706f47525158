"""`vspec doctor`: OK here, a clear fix when Chromium is missing, key names but never values."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner
from vspec_helpers import ROOT, VSPEC

from valuespectrum import doctor
from valuespectrum.cli import app

REQUIRED = ("chromium", "playwright", "ray", "milvus-lite", "minilm", "openclipart", "corpus")
OPTIONAL = ("tesseract", "chromium-driver", "appium", "adb", "key OPENAI_API_KEY", "gpu (nvidia-smi)",
            "gpu (torch.cuda)", "vllm")


def test_milvus_lite_check_waits_for_the_background_index_build(tmp_path, monkeypatch):
    """The check's temporary .db is deleted only after milvus-lite's background index build
    ends. A CI run failed the check with "Directory not empty: '_default'": the build wrote
    into the folder while it was being deleted. Here every segment's build starts 0.5 s late;
    the old check (close the client, delete the folder) then left the build's index folder
    behind in the temporary directory, recreated after the deletion."""
    slow_build = (
        "import time\n"
        "from milvus_lite.storage.segment import Segment\n"
        "_real = Segment.build_or_load_index\n"
        "def _slow(self, *a, **k):\n"
        "    time.sleep(0.5)\n"
        "    return _real(self, *a, **k)\n"
        "Segment.build_or_load_index = _slow\n"
    )
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    ok, detail = doctor._probe(slow_build + doctor._MILVUS, 120)
    assert ok, detail
    assert detail.startswith("temp .db: insert + query (milvus-lite 3."), detail
    assert [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")] == []


@pytest.mark.slow
@pytest.mark.browser
def test_doctor_passes_on_a_set_up_machine_and_prints_key_names_only():
    sentinel = f"sk-SENTINEL-{uuid.uuid4()}"
    env = dict(os.environ, OPENAI_API_KEY=sentinel, GEMINI_API_KEY=sentinel,
               PYTHONUNBUFFERED="1")
    env.pop("ANTHROPIC_API_KEY", None)
    p = subprocess.run([*VSPEC, "doctor"], env=env, capture_output=True, text=True,
                       timeout=900, cwd=ROOT)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    lines = {ln.split()[1]: ln for ln in p.stdout.splitlines() if ln.startswith(("OK", "MISS"))}
    for name in REQUIRED:
        assert lines[name].startswith("OK"), lines[name]
    for name in OPTIONAL:
        assert name in p.stdout, name
    assert "the embedded default can run" in p.stdout
    # the key is reported by name, as set, and its value nowhere
    assert any(ln.startswith("OK") and "key OPENAI_API_KEY" in ln and " set " in ln
               for ln in p.stdout.splitlines()), p.stdout
    assert "export ANTHROPIC_API_KEY=" in p.stdout
    assert sentinel not in out
    assert "SENTINEL" not in out


def test_missing_chromium_fails_with_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr("valuespectrum.environments.playwright_env.CHROMIUM",
                        str(tmp_path / "no-chromium"))
    # the slow checks (Ray, milvus-lite, MiniLM, GPU) are not what this test is about
    monkeypatch.setattr(doctor, "GROUPS", (doctor.check_chromium, doctor.check_corpus))
    r = CliRunner().invoke(app, ["doctor"])
    assert r.exit_code == 1, r.output
    assert "MISSING chromium" in r.output
    assert "sudo apt-get install -y chromium" in r.output
    assert "cannot run: chromium" in r.output


def test_missing_optional_parts_never_fail_it(monkeypatch, tmp_path):
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DASHSCOPE_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("VSPEC_APPIUM_DIR", str(tmp_path / "no-appium"))
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))  # no adb, appium, nvidia-smi
    monkeypatch.setattr(doctor, "GROUPS", (doctor.check_appium, doctor.check_adb,
                                           doctor.check_api_keys))
    r = CliRunner().invoke(app, ["doctor"])
    assert r.exit_code == 0, r.output
    assert "MISSING appium" in r.output and "(optional)" in r.output
    assert "MISSING adb" in r.output and "sudo apt-get install -y adb" in r.output
    assert "export OPENAI_API_KEY=..." in r.output


@pytest.mark.skipif(not Path("/usr/share/openclipart/svg").is_dir(), reason="no openclipart")
def test_a_corpus_not_built_yet_is_optional_vspec_run_builds_it(monkeypatch, tmp_path):
    monkeypatch.setenv("VSPEC_HOME", str(tmp_path / "empty-home"))
    monkeypatch.setattr(doctor, "GROUPS", (doctor.check_corpus,))
    r = CliRunner().invoke(app, ["doctor"])
    assert r.exit_code == 0, r.output
    assert re.search(r"^OK +openclipart +[\d,]+ PNG files", r.output, re.M), r.output
    assert re.search(r"^MISSING corpus .*first `vspec run`.*\(optional\)$", r.output, re.M)
    assert f"vspec corpus build openclipart --output {tmp_path / 'empty-home'}" in r.output


def test_without_corpus_and_openclipart_it_names_the_apt_packages(monkeypatch, tmp_path):
    monkeypatch.setenv("VSPEC_HOME", str(tmp_path / "empty-home"))
    monkeypatch.setattr("valuespectrum.feed.sources.OPENCLIPART", tmp_path / "no-openclipart")
    monkeypatch.setattr(doctor, "GROUPS", (doctor.check_corpus,))
    r = CliRunner().invoke(app, ["doctor"])
    assert r.exit_code == 1, r.output
    assert "MISSING openclipart" in r.output
    assert "fix: sudo apt-get install -y openclipart-png openclipart-svg" in r.output
    assert "cannot run: openclipart" in r.output


def test_a_hung_check_is_reported_not_waited_for():
    import time

    t0 = time.monotonic()
    ok, detail = doctor._probe("import time; time.sleep(60)", timeout_s=2)
    assert not ok and detail == "no answer in 2 s"
    assert time.monotonic() - t0 < 30


def test_tesseract_is_checked_with_its_english_model_and_its_absence_names_the_fix(
        monkeypatch, tmp_path):
    import pytesseract

    monkeypatch.setattr(doctor, "GROUPS", (doctor.check_tesseract,))
    r = CliRunner().invoke(app, ["doctor"])
    assert r.exit_code == 0, r.output
    assert "OK      tesseract" in r.output and "with 'eng' (ocr:minilm)" in r.output
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(tmp_path / "none"))
    r = CliRunner().invoke(app, ["doctor"])
    assert r.exit_code == 0, r.output  # optional: only ocr:minilm needs it
    assert "MISSING tesseract" in r.output and "(optional)" in r.output
    assert "sudo apt-get install -y tesseract-ocr tesseract-ocr-eng" in r.output

"""A run's terminal shows vspec's own lines only; third-party output goes to its log.

Each run loads MiniLM (`embed:minilm`, the `minilm` store embedder) in Ray actors and
tasks, whose "Loading weights: 100%|...|" bars used to come through as
"(ViewerActor pid=...) ..." lines. Both kinds of run are checked, the sweep both with
`--plain` (every line must be one of vspec's formats) and in the live view on a real
pseudo-terminal; each run's `logs/output.log` must hold the bars that were kept away.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess

import pytest
import yaml
from vspec_helpers import ROOT, VSPEC, run_vspec, vspec_env, write_spec

pytestmark = pytest.mark.slow

#: Third-party output that must never reach the terminal.
NOISE = ("pid=", "%|", "Warning", "WARNING", "Loading weights", "Traceback")

#: Every line a `--plain` sweep prints (sweep/progress.py, report/terminal.py, cli.py).
SWEEP_LINES = [
    r"running \d+ trials$",
    r"progress: \d+/\d+ trials, \d+ steps, [\d.]+ steps/s$",
    r"\[\d+/\d+\] \S+: done, \d+ steps, yes-rate [\d.]+$",
    r"[\u2500-\u257f]",  # a table's borders and rows
    r" *\S.*: what the feed did, treatment − control.*$",
    r"(declared plan: |EXPLORATORY reading \().*$",
    r" *each arm \((cell|group)s\); Δ and I_avg: first vs last \d+ of \d+ scrolls *$",
    r"\S.* − \S.*: (last-window gap|cannot reach) .*$",
    r"session: share of yes over a whole trial; ",
    r"p adj\.: Holm over the confirmatory family; ",
    r"run directory: \S+ \(\d+ trials, \d+ resumed, \d+ s\)$",
]

#: Every line a `kind: spectrum` run prints (spectrum/run.py, report/spectrum.py, cli.py).
SPECTRUM_LINES = [
    r"\d+ arms x \d+ images .* \d+/\d+ \d+:\d\d:\d\d$",
    r"\|.*\|$",  # Table 1 (Markdown)
    r"run directory: \S+; report: \S+report\.md$",
]


def foreign_lines(text: str, formats: list[str]) -> list[str]:
    return [ln for ln in text.splitlines()
            if ln.strip() and not any(re.match(f, ln) for f in formats)]


def sweep_spec(tmp_path, corpus_dir, name: str):
    return write_spec(
        tmp_path / f"{name}.yaml", kind="sweep", name=name, personas=["pet_owner"],
        models=["embed:minilm"], platforms=["tiktok", "tiktok-frozen"], strategies=["simple"],
        environment="http", trials=2, scrolls=4, window=2, concurrency=2, agents_per_actor=2,
        corpus=str(corpus_dir), output=str(tmp_path / name))


def assert_logged(run_dir, *who: str) -> None:
    log = (run_dir / "logs" / "output.log").read_text(errors="replace")
    assert "Loading weights" in log, log[-2000:]
    for w in who:
        assert f"--- vspec: {w}" in log, log[-2000:]


def test_a_plain_sweep_prints_only_vspecs_lines_and_logs_the_rest(tmp_path, corpus_dir):
    spec = sweep_spec(tmp_path, corpus_dir, "quiet")
    p = run_vspec(["run", str(spec), "--plain"], tmp_path)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = p.stdout + p.stderr
    assert not [n for n in NOISE if n in out], out
    assert foreign_lines(p.stdout, SWEEP_LINES) == []
    assert p.stderr == ""
    assert re.search(r"^\[4/4\] ", p.stdout, re.M)
    assert_logged(tmp_path / "quiet", "driver", "viewer actor")


def test_the_live_view_on_a_terminal_shows_no_third_party_output(tmp_path, corpus_dir):
    spec = sweep_spec(tmp_path, corpus_dir, "live")
    master, slave = pty.openpty()
    proc = subprocess.Popen([*VSPEC, "run", str(spec), "--live"], stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave, env=vspec_env(tmp_path), cwd=ROOT)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=600) == 0
    out = b"".join(chunks).decode(errors="replace")
    assert "run directory:" in out and "what the feed did" in out
    assert not [n for n in NOISE if n in out], out[-3000:]
    assert_logged(tmp_path / "live", "driver", "viewer actor")


def test_a_spectrum_run_prints_only_vspecs_lines_and_logs_the_rest(tmp_path, corpus_dir):
    spec = tmp_path / "spectrum.yaml"
    spec.write_text(yaml.safe_dump({
        "kind": "spectrum", "name": "quiet-spectrum", "store": str(tmp_path / "s.db"),
        "embedder": "minilm", "ingest": {"corpus": str(corpus_dir)},
        "models": [{"spec": "embed:minilm", "name": "minilm-viewer"},
                   {"spec": "random:0.5", "name": "coin"}],
        "top_k": 1, "abundance_radius": 1.2, "followups": False, "seed": 0,
        "concurrency": 4, "parallel": "ray", "output": str(tmp_path / "spectrum-run")}))
    p = run_vspec(["run", str(spec), "--plain"], tmp_path)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = p.stdout + p.stderr
    assert not [n for n in NOISE if n in out], out
    assert foreign_lines(p.stdout, SPECTRUM_LINES) == []
    assert p.stderr == ""
    assert_logged(tmp_path / "spectrum-run", "driver", "store actor", "arm minilm-viewer")

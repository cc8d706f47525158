"""A viewer actor whose browser is killed mid-trial rebuilds it and the run loses nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import psutil
import pytest
from vspec_helpers import sweep_spec

from valuespectrum.agents.actor import kill_browsers_below
from valuespectrum.runs import read_table as load_table
from valuespectrum.sweep.driver import SweepRunner
from valuespectrum.sweep.spec import SweepSpec

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SCROLLS = 15


def kill_browsers_of(ray, actors) -> int:
    """SIGKILL the Chromium processes of these viewer actors only (not those of a demo or
    another run on the machine): the processes below the pid each actor reports."""
    killed = 0
    for health in ray.get([a.ping.remote() for a in actors], timeout=60):
        try:
            killed += kill_browsers_below(psutil.Process(health["pid"]))
        except psutil.NoSuchProcess:
            continue
    return killed


class CrashAfter:
    """Progress sink that kills the browsers of `runner`'s actors once, after `n` steps
    overall (set `runner` before it runs)."""

    def __init__(self, n: int, ray) -> None:
        self.n, self.ray, self.steps, self.killed, self.restarts = n, ray, 0, 0, []
        self.runner: SweepRunner | None = None

    def step(self, trial, record) -> None:
        self.steps += 1
        if self.steps == self.n:
            actors = list(self.runner.actors)

            def kill() -> None:
                self.killed = kill_browsers_of(self.ray, actors)

            # from another thread: the runner's event loop must keep consuming events
            t = threading.Thread(target=kill)
            t.start()
            t.join()

    def restart(self, trial, error) -> None:
        self.restarts.append((trial.trial_id, error))

    def __getattr__(self, name):
        return lambda *a, **k: None


def spec(tmp: Path, corpus: Path, name: str, env: str) -> SweepSpec:
    return sweep_spec(
        tmp / f"{name}.yaml", name=name, personas=["pet_owner"],
        models=["embed:minilm"], platforms=[{"style": "tiktok", "environment": env}],
        strategies=["simple"], trials=2, scrolls=SCROLLS, window=5, seed=11, concurrency=2,
        corpus=str(corpus), output=str(tmp / name),
    )


def rows(run_dir: Path) -> list[tuple]:
    return [(r["trial_id"], r["step"], r["item_id"], r["decision"])
            for r in load_table(run_dir / "steps.parquet")]


@pytest.fixture
def ray_local(ray_session):
    return ray_session


def test_browser_crash_mid_trial_restarts_without_duplicate_or_missing_steps(
        ray_local, tmp_path, corpus_dir):
    crash = CrashAfter(n=6, ray=ray_local)
    s = spec(tmp_path, corpus_dir, "crashed", "playwright")
    crash.runner = runner = SweepRunner(s, progress=crash)
    outcome = runner.run()
    assert crash.killed > 0, "no browser process was found to kill"
    assert crash.restarts, "the runner saw no restart"
    # the terminal gets one line of each restart's error; the run's log has all of it
    log_text = (tmp_path / "crashed" / "logs" / "output.log").read_text()
    assert all(error in log_text for _, error in crash.restarts), (crash.restarts, log_text)
    assert outcome.statuses == {"done": 2}
    trials = load_table(tmp_path / "crashed" / "trials.parquet")
    assert sum(t["restarts"] for t in trials) >= 1
    got = rows(tmp_path / "crashed")
    assert len(got) == 2 * SCROLLS and len(set((r[0], r[1]) for r in got)) == 2 * SCROLLS

    # the same trials without a crash (no browser) see the same posts and decide the same
    clean = spec(tmp_path, corpus_dir, "clean", "http")
    SweepRunner(clean).run()
    assert got == rows(tmp_path / "clean")

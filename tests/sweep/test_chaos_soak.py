"""The chaos soak at a small scale: one sweep under many faults at once (endpoint errors and
hangs past the model's 2 s timeout, the driver SIGKILLed and resumed, viewer actors killed,
the feed server restarted) ends
with no step lost or duplicated and the fault-free run's tables. The full-size soak is
`benchmarks/bench_chaos.py`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_a_small_chaos_soak_loses_and_duplicates_nothing(ray_session, tmp_path, corpus_dir):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from bench_chaos import soak

    fig = soak(corpus_dir, tmp_path, trials=4, scrolls=40, rate=0.1, kills=2, bounces=1,
               seed=3, timeout_s=2.0)
    assert fig["fatal"] is None
    assert fig["faults_injected"]["driver SIGKILL"] == 1
    assert fig["faults_injected"].get("kill-restarted") == 1
    assert fig["faults_injected"].get("kill-for-good") == 1
    assert fig["faults_injected"].get("bounce") == 1
    assert sum(n for k, n in fig["faults_injected"].items() if k.startswith("endpoint")) > 0
    assert fig["faults_injected"].get("endpoint hang", 0) >= 1  # abandoned after 2 s, retried
    assert fig["statuses"] == {"done": 4}
    assert fig["steps_lost"] == 0 and fig["steps_duplicated"] == 0
    # every fault was retried or asked again: the same decisions, the same feed, the same
    # tables (an empty reply asked again leaves both replies in that step's answers; one
    # empty twice changes the answer, and its trial is left out of the comparison)
    assert fig["steps_equal"]
    assert fig["summary_equal"] is True or fig["trials_left_out"]
    assert len(fig["trials_left_out"]) < 4


@pytest.mark.browser
def test_a_small_browser_chaos_soak_loses_and_duplicates_nothing(ray_session, tmp_path,
                                                                  corpus_dir):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from bench_chaos import browser_soak

    fig = browser_soak(corpus_dir, tmp_path, trials=2, scrolls=30, chromium_kills=1,
                       bounces=1, seed=2)
    assert fig["fatal"] is None
    assert fig["faults_injected"] == {"chromium": 1, "bounce": 1}
    assert fig["trial_restarts"] >= 1  # Chromium's death restarted the trials it hit
    assert fig["statuses"] == {"done": 2}
    assert fig["steps_lost"] == 0 and fig["steps_duplicated"] == 0
    assert fig["steps_equal"]
    # and every step showed the viewer the post the fault-free run showed, image included
    assert fig["screens_compared"] == 60 and fig["screens_differ"] == []

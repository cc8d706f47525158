"""Two arms that differ in one environment option: named platforms of one feed style."""

from __future__ import annotations

import json

from vspec_helpers import sweep_spec

from valuespectrum.report.sweep import write_sweep_report
from valuespectrum.runs import read_table
from valuespectrum.sweep.driver import SweepRunner

TEXT = {"observation": "screenshot_text"}


def test_observation_modes_as_arms_each_with_its_matched_control_feed(ray_session, tmp_path,
                                                                      corpus_dir):
    spec = sweep_spec(
        tmp_path / "arms.yaml", name="arms", personas=["pet_owner"], models=["random:0.5"],
        strategies=["simple"], trials=2, scrolls=8, window=3, seed=5,
        platforms=[{"style": "tiktok", "environment": "http", "name": "tiktok-shot"},
                   {"style": "tiktok", "environment": "http", "name": "tiktok-text",
                    "options": TEXT},
                   {"style": "tiktok-frozen", "environment": "http", "name": "frozen-shot"},
                   {"style": "tiktok-frozen", "environment": "http", "name": "frozen-text",
                    "options": TEXT}],
        contrasts=[{"dimension": "platform", "treatment": "tiktok-text",
                    "control": "tiktok-shot"}],
        concurrency=4, agents_per_actor=4, screenshots=False, cache_dir=None,
        corpus=str(corpus_dir), output=str(tmp_path / "arms"))
    SweepRunner(spec).run()
    run_dir = tmp_path / "arms"
    steps = read_table(run_dir / "steps.parquet")
    modes = {(r["platform"], r["observation_mode"]) for r in steps}
    assert modes == {("tiktok-shot", "screenshot"), ("tiktok-text", "screenshot_text"),
                     ("frozen-shot", "screenshot"), ("frozen-text", "screenshot_text")}
    assert all(f".{r['platform']}." in r["trial_id"] for r in steps)
    # trial i of the two arms starts from the same seed, so the same first post
    first = {(r["platform"], r["trial_id"][-3:]): r["item_id"] for r in steps if r["step"] == 0}
    for i in ("000", "001"):
        assert first[("tiktok-shot", i)] == first[("tiktok-text", i)]
    summary = json.loads((run_dir / "summary.json").read_text())
    pairs = [(c["kind"], c["treatment_cell"]["platform"], c["control_cell"]["platform"])
             for c in summary["contrasts"]
             if c["estimand"] == "session" and c["reading"] == "paired"]
    assert pairs == [("control feed", "tiktok-shot", "frozen-shot"),
                     ("control feed", "tiktok-text", "frozen-text"),
                     ("spec: platform", "tiktok-text", "tiktok-shot")]
    report = write_sweep_report(run_dir).read_text()
    assert "| control feed | pet_owner|random-0.5|tiktok-text|simple " \
           "| pet_owner|random-0.5|frozen-text|simple |" in report

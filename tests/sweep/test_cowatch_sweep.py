"""A sweep with the collaborative feed and its frozen twin, end to end on the shared Ray."""

from __future__ import annotations

import json

from vspec_helpers import sweep_spec

from valuespectrum.runs import read_table
from valuespectrum.sweep.driver import SweepRunner

TRIALS, SCROLLS = 2, 20


def test_a_sweep_with_cowatch_and_its_twin_runs_and_pairs_them(ray_session, tmp_path,
                                                                corpus_dir):
    spec = sweep_spec(
        tmp_path / "cowatch.yaml", name="cowatch", personas=["pet_owner"],
        models=["random:0.5"], strategies=["simple"], trials=TRIALS, scrolls=SCROLLS, window=5,
        seed=4, platforms=["cowatch", "cowatch-frozen", "random"], environment="http",
        concurrency=3, agents_per_actor=3, feed_servers=1, screenshots=False, cache_dir=None,
        corpus=str(corpus_dir), output=str(tmp_path / "cowatch"))
    SweepRunner(spec).run()  # a feed process (feed_servers: 1) builds the population itself
    run_dir = tmp_path / "cowatch"
    trials = read_table(run_dir / "trials.parquet")
    steps = read_table(run_dir / "steps.parquet")
    assert len(trials) == 3 * TRIALS and {t["status"] for t in trials} == {"done"}
    assert len(steps) == 3 * TRIALS * SCROLLS
    served = {}
    for r in sorted(steps, key=lambda r: r["step"]):
        served.setdefault((r["platform"], r["trial_id"][-3:]), []).append(r["item_id"])
    for i in ("000", "001"):
        learned, twin = served[("cowatch", i)], served[("cowatch-frozen", i)]
        assert len(set(learned)) == SCROLLS and learned[0] == twin[0]  # one seed per index
        assert learned != twin  # the random viewer's stays and skips moved the learning feed
    summary = json.loads((run_dir / "summary.json").read_text())
    pairs = [(c["kind"], c["treatment_cell"]["platform"], c["control_cell"]["platform"])
             for c in summary["contrasts"]]
    assert ("control feed", "cowatch", "cowatch-frozen") in pairs
    assert ("control feed", "cowatch", "random") in pairs

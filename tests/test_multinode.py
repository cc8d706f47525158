"""A sweep on a real two-node Ray cluster on this machine (`ray start` twice, see
ray_two_nodes.py): trials run on both nodes, the tables equal a one-node run with the same
seed, and the screenshots of the other node land in the one run directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ray_two_nodes import RAY, TwoNodeCluster, _env
from vspec_helpers import ROOT, run_vspec, write_spec

pytestmark = pytest.mark.slow

# what a viewer decided and saw, step by step (not timings, not node ids)
COMPARED = ("trial_id", "step", "item_id", "decision", "score", "action", "dwell_s",
            "watched_s", "watch_ratio", "value_match")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = TwoNodeCluster(tmp_path_factory.mktemp("ray2"))
    try:
        yield c.start()
    finally:
        c.stop()
    assert not c.processes(), "a process of the test cluster outlived it"


def spec_file(tmp: Path, corpus_dir: Path, output: Path, **extra) -> Path:
    # random:0.5 is a CPU control viewer: its answers hash the screenshot's pixels with the
    # trial's seed, so equal tables mean equal screens, feeds and decisions
    return write_spec(tmp / "two-nodes.yaml", name="two-nodes",
                      personas=["pet_owner", "foodie_traveler"], models=["random:0.5"],
                      platforms=["tiktok"], environment="http", trials=2, scrolls=6, window=3,
                      seed=7, concurrency=2, agents_per_actor=1, corpus=str(corpus_dir),
                      output=str(output), cache_dir=None, **extra)


def table(path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def test_a_sweep_spreads_over_two_nodes_and_equals_a_one_node_run(cluster, tmp_path,
                                                                  corpus_dir):
    spec = spec_file(tmp_path, corpus_dir, tmp_path / "multi")
    r = run_vspec(["run", str(spec), "--ray-address", cluster.address, "--no-report"],
                  tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    trials = table(tmp_path / "multi" / "trials.parquet")
    assert [t["status"] for t in trials] == ["done"] * 4
    nodes = {t["node_id"] for t in trials}
    assert len(nodes) == 2 and "" not in nodes, f"trials ran on {nodes}"

    steps = table(tmp_path / "multi" / "steps.parquet")
    assert len(steps) == 4 * 6
    # every screenshot, whichever node took it, is a file in this run directory
    for s in steps:
        shot = tmp_path / "multi" / s["screenshot_path"]
        assert shot.is_file() and shot.read_bytes()[:2] == b"\xff\xd8", shot

    one = spec_file(tmp_path, corpus_dir, tmp_path / "single")
    r = run_vspec(["run", str(one), "--no-report"], tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    single = table(tmp_path / "single" / "steps.parquet")
    key = lambda s: (s["trial_id"], s["step"])  # noqa: E731
    assert [{c: s[c] for c in COMPARED} for s in sorted(steps, key=key)] == \
           [{c: s[c] for c in COMPARED} for s in sorted(single, key=key)]
    assert len({s["decision"] for s in single}) == 2  # the comparison can tell runs apart


def test_ray_job_submit_runs_a_sweep_on_the_cluster(cluster, tmp_path, corpus_dir):
    spec = spec_file(tmp_path, corpus_dir, tmp_path / "job")
    r = subprocess.run([RAY, "job", "submit", "--address", cluster.dashboard, "--",
                        sys.executable, "-m", "valuespectrum.cli", "run", str(spec),
                        "--ray-address", "auto", "--no-report"],
                       env={**_env(), "VSPEC_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)},
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "succeeded" in r.stdout
    trials = table(tmp_path / "job" / "trials.parquet")
    assert [t["status"] for t in trials] == ["done"] * 4


def test_feed_processes_on_each_node_serve_that_nodes_trials(cluster, tmp_path, corpus_dir):
    """`feed_placement: nodes`: a feed process on each node, and a trial's feed is the one on
    the node its actor ran on; the tables equal a one-node run with the driver's feed."""
    spec = spec_file(tmp_path, corpus_dir, tmp_path / "nodes", feed_servers=1,
                     feed_placement="nodes")
    r = run_vspec(["run", str(spec), "--ray-address", cluster.address, "--no-report"],
                  tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    node_of = {t["trial_id"]: t["node_id"] for t in table(tmp_path / "nodes" / "trials.parquet")}
    steps = table(tmp_path / "nodes" / "steps.parquet")
    feeds: dict[str, set[str]] = {}
    for s in steps:
        feeds.setdefault(node_of[s["trial_id"]], set()).add(s["url"].split("/")[2])
    assert len(feeds) == 2, feeds  # trials ran on both nodes
    assert all(len(f) == 1 for f in feeds.values()), feeds  # one feed per node ...
    assert len(set.union(*feeds.values())) == 2, feeds  # ... and not the same one

    one = spec_file(tmp_path, corpus_dir, tmp_path / "single")
    r = run_vspec(["run", str(one), "--no-report"], tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    key = lambda s: (s["trial_id"], s["step"])  # noqa: E731
    assert [{c: s[c] for c in COMPARED} for s in sorted(steps, key=key)] == \
           [{c: s[c] for c in COMPARED}
            for s in sorted(table(tmp_path / "single" / "steps.parquet"), key=key)]

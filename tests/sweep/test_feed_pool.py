"""Feed processes beside the driver (`feed_servers`): same tables, trials spread over them."""

from __future__ import annotations

import pytest
from vspec_helpers import sweep_spec

from valuespectrum.feed.pool import feed_for
from valuespectrum.runs import read_table
from valuespectrum.sweep.driver import SweepRunner

STABLE = ("trial_id", "step", "item_id", "decision", "action", "watched_s", "watch_ratio")


def run(tmp_path, corpus_dir, name: str, feed_servers: int, progress=None, **extra):
    spec = sweep_spec(
        tmp_path / f"{name}.yaml", name=name, personas=["pet_owner", "athlete"],
        models=["random:0.5"], strategies=["simple"], trials=3, scrolls=12, window=4, seed=9,
        platforms=[{"style": "tiktok", "environment": "http"},
                   {"style": "tiktok-frozen", "environment": "http"}],
        concurrency=4, agents_per_actor=2, feed_servers=feed_servers, screenshots=False,
        cache_dir=None, corpus=str(corpus_dir), output=str(tmp_path / name), **extra)
    runner = SweepRunner(spec, progress=progress)
    runner.run()
    rows = read_table(tmp_path / name / "steps.parquet")
    return runner, sorted(tuple(r[c] for c in STABLE) for r in rows), rows


class UrlsSeen:
    """Progress sink: the feed URL each step's record names (a TEST helper)."""

    def __init__(self) -> None:
        self.urls: dict[str, set[str]] = {}

    def step(self, trial, event) -> None:  # a StepEvent: its record parsed from its line
        self.urls.setdefault(trial.trial_id, set()).add(event.record.url.split("/")[2])

    def __getattr__(self, name):
        return lambda *a, **k: None


@pytest.mark.slow
def test_two_feed_processes_give_the_tables_of_the_driver_served_feed(ray_session, tmp_path,
                                                                      corpus_dir):
    _, served_by_driver, _ = run(tmp_path, corpus_dir, "driver", 0)
    seen = UrlsSeen()
    runner, served_by_pool, rows = run(tmp_path, corpus_dir, "pool", 2, seen)
    assert len(rows) == 2 * 2 * 3 * 12 and served_by_pool == served_by_driver
    hosts = {h for urls in seen.urls.values() for h in urls}
    assert len(hosts) == 2, hosts  # both processes served trials
    assert all(len(urls) == 1 for urls in seen.urls.values())  # each trial stayed on one
    assert runner.feed_server is None  # stopped at the end


def test_a_trial_always_maps_to_the_same_feed():
    urls = ("http://a", "http://b", "http://c")
    ids = [f"pet_owner.random-0.5.tiktok.simple.{i:03d}" for i in range(300)]
    first = [feed_for(t, urls) for t in ids]
    assert first == [feed_for(t, urls) for t in ids]
    counts = {u: first.count(u) for u in urls}
    assert min(counts.values()) > 60, counts  # spread, not all on one
    assert feed_for("x", ("http://only",)) == "http://only"
    # two servers: ids that differ in a digit still spread (CRC-32 put them all on one)
    halves = [feed_for(t, urls[:2]) for t in ids[:12]]
    assert 3 <= halves.count("http://a") <= 9


def test_the_driver_builds_a_platform_only_when_it_serves_the_feed(ray_session, corpus_dir):
    """With feed processes the driver's own platform (recommenders for every style, ~0.3 s
    and ~12 MB on the full corpus) would go unused: it is not built."""
    from valuespectrum.feed.corpus import Corpus
    from valuespectrum.feed.pool import FeedPool
    from valuespectrum.feed.recommenders import RecommenderParams

    corpus, params = Corpus.load(corpus_dir), RecommenderParams()
    for processes in (0, 1):
        pool = FeedPool(corpus, str(corpus_dir), params, processes).start()
        try:
            assert len(pool.urls) == 1
            assert (pool.platform is not None) == (processes == 0)
        finally:
            pool.stop()


def test_feed_placement_nodes_needs_feed_processes(tmp_path, corpus_dir):
    from valuespectrum.config import ConfigError

    with pytest.raises(ConfigError, match="feed_placement: nodes .* feed_servers to 1 or more"):
        sweep_spec(tmp_path / "s.yaml", name="s", personas=["pet_owner"], models=["random:0.5"],
                   platforms=[{"style": "tiktok", "environment": "http"}], trials=1,
                   scrolls=4, window=2, feed_placement="nodes", feed_servers=0,
                   corpus=str(corpus_dir), output=str(tmp_path / "s"))


def test_an_actor_uses_its_own_nodes_feed_and_any_feed_on_a_node_not_listed(monkeypatch):
    from valuespectrum.agents import actor
    from valuespectrum.agents.actor import ActorOptions, ViewerHost

    monkeypatch.setattr(actor, "_node_id", lambda: "n3")  # the node the actor runs on
    mine = ViewerHost(ActorOptions(feed_urls=("http://a", "http://b"),
                                   feed_urls_by_node={"n3": ("http://b",), "n2": ("http://a",)}))
    assert mine.feed_urls() == ("http://b",)
    elsewhere = ViewerHost(ActorOptions(feed_urls=("http://a", "http://b"),
                                        feed_urls_by_node={"n1": ("http://a",)}))
    assert elsewhere.feed_urls() == ("http://a", "http://b")
    driver = ViewerHost(ActorOptions(feed_urls=("http://a",)))
    assert driver.feed_urls() == ("http://a",)


@pytest.mark.slow
def test_feed_processes_on_the_viewer_nodes_give_the_same_tables(ray_session, tmp_path,
                                                                 corpus_dir):
    """`feed_placement: nodes` on this one-node Ray: two feed processes on the node, listed
    as its own, each trial on one of them, and the tables of the driver-served feed."""
    _, served_by_driver, _ = run(tmp_path, corpus_dir, "driver", 0)
    seen = UrlsSeen()
    runner, served_by_nodes, _ = run(tmp_path, corpus_dir, "nodes", 2, seen,
                                     feed_placement="nodes")
    assert served_by_nodes == served_by_driver
    hosts = {h for urls in seen.urls.values() for h in urls}
    assert len(hosts) == 2 and all(len(urls) == 1 for urls in seen.urls.values())


def test_a_viewer_node_without_the_corpus_is_named_in_one_line(ray_session, corpus_dir):
    import ray

    from valuespectrum.errors import ClusterError
    from valuespectrum.feed.corpus import Corpus
    from valuespectrum.feed.pool import FeedPool
    from valuespectrum.feed.recommenders import RecommenderParams

    here = (ray.get_runtime_context().get_node_id(), "127.0.0.1")
    pool = FeedPool(Corpus.load(corpus_dir), "/nonexistent/corpus", RecommenderParams(), 1,
                    placement="nodes", nodes=[here])
    with pytest.raises(ClusterError) as e:
        pool.start()
    msg = str(e.value)
    assert "no corpus at /nonexistent/corpus" in msg and "\n" not in msg, msg
    assert pool.urls == () and not pool._actors


def test_a_viewer_node_with_another_corpus_at_the_path_is_refused_in_one_line(
        ray_session, corpus_dir, tmp_path):
    """The same path on a node, but not the driver's corpus (another build, an old copy):
    the feed would serve and learn from other items than the plan fingerprinted."""
    import shutil

    import numpy as np
    import ray

    from valuespectrum.errors import ClusterError
    from valuespectrum.feed.corpus import Corpus
    from valuespectrum.feed.pool import FeedPool
    from valuespectrum.feed.recommenders import RecommenderParams

    other = tmp_path / "corpus"
    shutil.copytree(corpus_dir, other)
    emb = np.load(other / "embeddings.npy")
    emb[0, 0] += 1.0
    np.save(other / "embeddings.npy", emb)
    here = (ray.get_runtime_context().get_node_id(), "127.0.0.1")
    driver = Corpus.load(corpus_dir)
    pool = FeedPool(driver, str(other), RecommenderParams(), 1, placement="nodes",
                    nodes=[here])
    with pytest.raises(ClusterError) as e:
        pool.start()
    msg = str(e.value)
    assert f"the corpus at {other} is not the driver's" in msg and "\n" not in msg, msg
    assert driver.fingerprint in msg and not pool._actors


def test_feed_processes_that_do_not_start_in_time_are_stopped_and_named(
        ray_session, corpus_dir, monkeypatch):
    from valuespectrum.errors import ClusterError
    from valuespectrum.feed import pool as module
    from valuespectrum.feed.corpus import Corpus
    from valuespectrum.feed.recommenders import RecommenderParams

    monkeypatch.setattr(module, "START_TIMEOUT_S", 0.001)  # a corpus takes seconds to load
    pool = module.FeedPool(Corpus.load(corpus_dir), str(corpus_dir), RecommenderParams(), 2)
    with pytest.raises(ClusterError, match="2 feed processes did not all start within"):
        pool.start()
    assert not pool._actors and pool.urls == ()


def test_a_finished_trials_session_is_closed_on_the_feed_its_actor_used(monkeypatch):
    """`close_session` names the feed `ViewerHost.feed_urls` chose for the trial: its node's
    own, any of them on a node added later, and every candidate when the trial moved."""
    from valuespectrum.agents import actor
    from valuespectrum.agents.actor import ActorOptions, ViewerHost
    from valuespectrum.feed.pool import FeedPool

    pool = FeedPool(None, "", None, 2, placement="nodes", nodes=[("n1", ""), ("n2", "")])
    pool.urls_by_node = {"n1": ("http://a", "http://b"), "n2": ("http://c", "http://d")}
    pool.urls = ("http://a", "http://b", "http://c", "http://d")
    options = ActorOptions(feed_urls=pool.urls, feed_urls_by_node=pool.urls_by_node)
    ids = [f"pet_owner.random-0.5.tiktok.simple.{i:03d}" for i in range(40)]
    for node in ("n1", "n2", "n3"):  # n3: added to the cluster after the feed started
        monkeypatch.setattr(actor, "_node_id", lambda node=node: node)
        host = ViewerHost(options)
        for trial_id in ids:
            used = feed_for(trial_id, host.feed_urls())
            assert pool.session_feeds(trial_id, node) == {used}
            moved = pool.session_feeds(trial_id, node, moved=True)
            assert used in moved and moved == pool.session_feeds(trial_id, "")
    driver = FeedPool(None, "", None, 2)
    driver.urls = ("http://a", "http://b")
    assert driver.session_feeds(ids[0], "n1", moved=True) == {feed_for(ids[0], driver.urls)}

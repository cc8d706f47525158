"""The collaborative feed (cowatch): learns from a simulated population, reads no post text."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from valuespectrum.config import ConfigError
from valuespectrum.feed.corpus import Corpus
from valuespectrum.feed.platform import FeedPlatform
from valuespectrum.feed.population import simulate_population
from valuespectrum.feed.recommenders import (
    RecommenderParams,
    load_recommender_params,
    make_recommender,
    with_overrides,
)

#: The test corpus has 300 posts: four clusters of ~75 keep a cluster-lover's session from
#: running out of its cluster within 60 posts.
SMALL = {"cowatch": {"clusters": 4, "users": 1000, "watches_per_user": 40}}


@pytest.fixture(scope="module")
def small_params() -> RecommenderParams:
    return with_overrides(load_recommender_params(), SMALL)


def likes(item_id: str) -> bool:
    """A viewer whose taste is a hash of the post id: about 30 % of posts, no content read."""
    return hashlib.blake2b(item_id.encode(), digest_size=1).digest()[0] < 77


def session(platform: FeedPlatform, style: str, seed: int, steps: int, stays=likes,
            name: str = "v") -> list[str]:
    """Served post ids of a session that watches what `stays` says to the end, skips the rest."""
    platform.open_session(name, style, seed)
    for _ in range(steps):
        item = platform.next_item(name)
        stay = stays(item.item_id)
        platform.record_watch(name, item.item_id, item.duration_s if stay else 0.0,
                              skipped=not stay)
    return list(platform.history(name)["served"])


def shuffled_text(corpus: Corpus, seed: int = 0) -> Corpus:
    """The corpus with every caption, hashtag list, category, value tag, image and MiniLM
    vector moved to another post (ids, creators, durations, dates, popularity stay)."""
    perm = np.random.default_rng(seed).permutation(len(corpus))
    src = [corpus.items[i] for i in perm]
    items = [it.model_copy(update={"caption": s.caption, "hashtags": s.hashtags,
                                   "category": s.category, "value_tags": s.value_tags,
                                   "image_path": s.image_path})
             for it, s in zip(corpus.items, src, strict=True)]
    assert sum(a.category != b.category for a, b in zip(items, corpus.items, strict=True)) > 100
    return Corpus(corpus.root, items, corpus.embeddings[perm], corpus.meta)


def test_no_text_of_a_post_changes_what_cowatch_serves(corpus, small_params, monkeypatch):
    shuffled = shuffled_text(corpus)
    for style in ("cowatch", "cowatch-frozen"):
        for seed in (0, 1):
            a = session(FeedPlatform(corpus, small_params), style, seed, 60)
            b = session(FeedPlatform(shuffled, small_params), style, seed, 60)
            assert a == b, style
    # the same shuffle moves a content feed (so the check can see a feature in use)
    assert (session(FeedPlatform(corpus, small_params), "tiktok", 0, 60)
            != session(FeedPlatform(shuffled, small_params), "tiktok", 0, 60))
    # and the platform's tag/category features are never even computed

    def refuse(self):
        raise AssertionError("cowatch read the tag/category features")

    monkeypatch.setattr(Corpus, "tag_features", refuse)
    fresh = Corpus(corpus.root, corpus.items, corpus.embeddings, corpus.meta)
    assert len(session(FeedPlatform(fresh, small_params), "cowatch", 2, 40)) == 40


def test_same_seed_same_feed_and_another_population_another_feed(corpus, small_params):
    platform = FeedPlatform(corpus, small_params)
    first = session(platform, "cowatch", 5, 50)
    assert session(platform, "cowatch", 5, 50) == first and len(set(first)) == 50
    assert session(platform, "cowatch", 6, 50) != first
    again = session(FeedPlatform(corpus, small_params), "cowatch", 5, 50)
    assert again == first  # a second platform simulates the very same population
    other = with_overrides(small_params, {"cowatch": {"population_seed": 1}})
    assert session(FeedPlatform(corpus, other), "cowatch", 5, 50) != first


def test_the_frozen_twin_consumes_the_same_draws_and_differs_only_in_learning(corpus,
                                                                              small_params):
    platform = FeedPlatform(corpus, small_params)
    baseline = small_params.cowatch.baseline

    def neutral(item_id: str) -> float:  # watches every post for the neutral ratio
        return baseline

    def neutral_session(style: str, seed: int) -> list[str]:
        platform.open_session("n", style, seed)
        for _ in range(50):
            item = platform.next_item("n")
            platform.record_watch("n", item.item_id, neutral(item.item_id) * item.duration_s)
        return list(platform.history("n")["served"])

    for seed in (0, 3):  # no learning signal: the very same posts on both
        assert neutral_session("cowatch", seed) == neutral_session("cowatch-frozen", seed)
    # with a signal, the learning feed moves and the twin does not
    twin = session(platform, "cowatch-frozen", 0, 50)
    assert session(platform, "cowatch-frozen", 0, 50, stays=lambda _: True) == twin
    assert session(platform, "cowatch", 0, 50) != twin
    assert platform.recommender("cowatch-frozen").model is None  # it never builds one


def test_cowatch_learns_a_viewer_who_stays_on_one_latent_cluster(corpus, small_params):
    """What the feed can learn: co-watch structure. A viewer who stays on the posts of one
    of the population's latent clusters gets more of them; the twin does not move."""
    platform = FeedPlatform(corpus, small_params)
    clusters = platform.recommender("cowatch").model.clusters
    row = {it.item_id: i for i, it in enumerate(corpus.items)}

    def share(style: str) -> float:
        shares = []
        for seed in range(4):
            served = session(platform, style, seed, 60,
                             stays=lambda item_id: clusters[row[item_id]] == 0)
            shares.append(np.mean([clusters[row[i]] == 0 for i in served[30:]]))
        return float(np.mean(shares))

    base = float(np.mean(clusters == 0))
    learned, frozen = share("cowatch"), share("cowatch-frozen")
    print(f"cluster 0: base {base:.2f} cowatch {learned:.2f} frozen {frozen:.2f}")
    assert learned >= 0.7 and learned > frozen + 0.35


def test_the_population_is_bounded_and_its_matrix_well_formed(corpus):
    pop = np.array([it.popularity for it in corpus.items])
    model = simulate_population(pop, users=500, watches_per_user=30, clusters=6,
                                concentration=0.1, neighbours=20, seed=3)
    m = model.neighbours
    assert m.shape == (len(corpus), len(corpus)) and m.dtype == np.float32
    assert np.diff(m.indptr).max() <= 20 and (m.data > 0).all() and (m.data <= 1 + 1e-6).all()
    assert m.diagonal().sum() == 0 and model.watches == 500 * 30
    # the neighbours are mostly the post's own latent cluster, which the feed never reads
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    assert np.mean(model.clusters[rows] == model.clusters[m.indices]) > 0.8
    again = simulate_population(pop, users=500, watches_per_user=30, clusters=6,
                                concentration=0.1, neighbours=20, seed=3)
    assert (again.neighbours != m).nnz == 0 and np.array_equal(again.tiebreak, model.tiebreak)


def test_a_corpus_smaller_than_its_clusters_still_serves(corpus):
    tiny = Corpus(corpus.root, corpus.items[:3], corpus.embeddings[:3], corpus.meta)
    platform = FeedPlatform(tiny)  # 20 clusters, 100 neighbours for 3 posts
    served = session(platform, "cowatch", 0, 7, stays=lambda _: True)
    assert len(set(served[:3])) == 3 and len(served) == 7  # repeats once exhausted


def test_cowatch_params_follow_the_rule_and_are_validated(corpus):
    params = load_recommender_params()
    session_fields = set(type(params.tiktok).model_fields)
    assert params.cowatch.model_dump(include=session_fields) == params.tiktok.model_dump()
    with pytest.raises(ConfigError, match="population watches"):
        make_recommender("cowatch", corpus, {"users": 50_001, "watches_per_user": 100})
    with pytest.raises(ConfigError, match="cowatch.*clusters"):
        with_overrides(params, {"cowatch": {"clusters": 0}})


def test_population_parameters_are_part_of_the_plan(tmp_path):
    from vspec_helpers import sweep_spec

    from valuespectrum.sweep.spec import expand, plan_for

    def plan(users: int) -> dict[str, str]:
        spec = sweep_spec(tmp_path / "s.yaml", name="s", personas=["pet_owner"],
                          models=["always:yes"], platforms=["cowatch", "cowatch-frozen"],
                          strategies=["simple"], trials=1, scrolls=4, window=2,
                          recommenders={"cowatch": {"users": users}})
        params = spec.recommender_params()
        # the context as the sweep driver builds it (SweepRunner._load_feed)
        context = {"corpus": "c", "prompts": "p", "recommenders": {
            s: params.for_style(s).model_dump(mode="json") for s in ("cowatch", "cowatch-frozen")}}
        return plan_for(expand(spec), context, options=spec.strategy_options).entries

    a, b = plan(5000), plan(4000)
    assert a.keys() == b.keys() and all(a[k] != b[k] for k in a)  # a resume would be refused

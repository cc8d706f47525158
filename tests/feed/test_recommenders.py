"""Recommenders: per-session state, determinism, no repeats, and how each style reacts."""

from __future__ import annotations

import time

import numpy as np
import pytest

from valuespectrum.config import ConfigError
from valuespectrum.feed.platform import EventRejected, FeedError, FeedPlatform, UnknownSession
from valuespectrum.feed.recommenders import (
    RecommenderParams,
    SessionState,
    load_recommender_params,
    make_recommender,
)


@pytest.fixture(scope="module")
def platform(corpus):
    return FeedPlatform(corpus)


def animal_lover(platform: FeedPlatform, style: str, seed: int, steps: int) -> np.ndarray:
    """Watch every animals post to the end, skip everything else; 1 where a post was animals."""
    platform.open_session("lover", style, seed)
    shown = []
    for _ in range(steps):
        item = platform.next_item("lover")
        animal = item.category == "animals"
        shown.append(animal)
        platform.record_watch("lover", item.item_id, item.duration_s if animal else 0.0,
                              skipped=not animal)
    return np.array(shown, dtype=float)


def test_tiktok_learns_an_animal_lover_and_random_does_not(platform, corpus):
    base_rate = corpus.categories()["animals"] / len(corpus)
    # 100 posts: the cold-start exploration decays over ~50 views (warmup_views)
    tiktok = np.stack([animal_lover(platform, "tiktok", s, 100) for s in range(4)])
    random = np.stack([animal_lover(platform, "random", s, 100) for s in range(4)])
    tt_early, tt_late = tiktok[:, :10].mean(), tiktok[:, 60:].mean()
    rd_early, rd_late = random[:, :10].mean(), random[:, 60:].mean()
    print(f"base {base_rate:.2f} tiktok {tt_early:.2f}->{tt_late:.2f} "
          f"random {rd_early:.2f}->{rd_late:.2f}")
    assert tt_late >= 0.6 and tt_late >= 2.5 * base_rate
    assert tt_late > tt_early + 0.3  # the share grows as the interest vector forms
    assert abs(rd_late - base_rate) < 0.15  # the control stays at the corpus's base rate
    assert tt_late > rd_late + 0.35


def test_instagram_is_popularity_led(platform, corpus):
    mean_pop = {}
    for style in ("instagram", "random"):
        platform.open_session("pop", style, 1)
        mean_pop[style] = np.mean([platform.next_item("pop").popularity for _ in range(30)])
    assert mean_pop["instagram"] > mean_pop["random"] + 0.2


def test_youtube_mixes_personal_and_topical(platform):
    lover = animal_lover(platform, "youtube", 0, 60)
    # personalised half shows animals well above the base rate; topical half keeps it < 1
    assert 0.3 < lover[20:].mean() < 0.95


@pytest.mark.parametrize("style", ["tiktok", "youtube", "instagram", "random"])
def test_same_seed_same_feed_and_no_repeats(platform, style):
    a = animal_lover(platform, style, 5, 30)
    first = list(platform.history("lover")["served"])
    b = animal_lover(platform, style, 5, 30)
    assert np.array_equal(a, b) and platform.history("lover")["served"] == first
    assert len(set(first)) == len(first)
    animal_lover(platform, style, 6, 30)
    assert platform.history("lover")["served"] != first


def test_items_repeat_only_once_the_corpus_is_exhausted(corpus):
    rec = make_recommender("tiktok", corpus)
    state = SessionState("s", "tiktok", 0, len(corpus))
    rng = np.random.default_rng(0)
    served = [rec.next_item(state, rng).item_id for _ in range(len(corpus) + 5)]
    assert len(set(served[: len(corpus)])) == len(corpus)
    assert len(set(served)) == len(corpus)  # the five extra ones are repeats


def test_params_are_validated_with_located_errors(corpus):
    params = load_recommender_params()
    assert isinstance(params, RecommenderParams) and params.tiktok.explore < 0.5
    with pytest.raises(ConfigError, match="explore"):
        make_recommender("tiktok", corpus, {"explore": 2.0})
    with pytest.raises(ConfigError, match="unknown field"):
        make_recommender("tiktok", corpus, {"exploration": 0.1})
    with pytest.raises(ConfigError, match="unknown feed style 'vine'"):
        make_recommender("vine", corpus)


def test_bad_params_file_names_file_line_and_field(tmp_path):
    path = tmp_path / "rec.yaml"
    path.write_text("tiktok:\n  explore: 0.1\n  top_k: zero\n")
    with pytest.raises(ConfigError, match=r"rec.yaml:3: tiktok.top_k"):
        load_recommender_params(path)


def test_watch_events_and_virtual_clock(platform, corpus):
    state = platform.open_session("clock", "tiktok", 0)
    item = platform.next_item("clock")
    start = time.perf_counter()
    ratio = platform.record_watch("clock", item.item_id, item.duration_s / 2)
    assert ratio == pytest.approx(0.5)
    assert state.clock_s == pytest.approx(item.duration_s / 2)
    second = platform.next_item("clock")
    assert platform.record_watch("clock", second.item_id, 10_000) == 1.0  # clamped
    assert time.perf_counter() - start < 1.0  # virtual seconds cost no real time
    events = platform.history("clock")["events"]
    assert [e["item_id"] for e in events] == [item.item_id, second.item_id]
    assert events[1]["watched_s"] == second.duration_s


def test_platform_rejects_bad_events(platform, corpus):
    platform.open_session("bad", "random", 0)
    item = platform.next_item("bad")
    unserved = next(it for it in corpus.items if it.item_id != item.item_id)
    with pytest.raises(UnknownSession):
        platform.next_item("never-opened")
    with pytest.raises(EventRejected, match="was not served"):
        platform.record_watch("bad", unserved.item_id, 1.0)
    with pytest.raises(FeedError, match="finite number"):
        platform.record_watch("bad", item.item_id, -3)
    platform.record_watch("bad", item.item_id, 1.0)
    with pytest.raises(EventRejected, match="already has a watch event"):
        platform.record_watch("bad", item.item_id, 1.0)
    with pytest.raises(FeedError, match="unknown style"):
        platform.open_session("bad", "vine", 0)
    with pytest.raises(FeedError, match="unknown clock"):
        platform.open_session("bad", "tiktok", 0, clock="sundial")

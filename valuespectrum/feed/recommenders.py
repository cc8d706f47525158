"""Feed recommenders, one per platform style, behind one protocol, with matched controls.

Each keeps its per-viewer state in a `SessionState` (never in the recommender), draws all
randomness from the generator it is given, and never serves an item twice in a session
until the corpus is exhausted. Parameters come from `valuespectrum/data/recommenders.yaml`.

Two kinds of learning style, as real platforms have both (docs/feed.md has the table of
what each learns from and which viewers read it):

- content styles (tiktok, youtube, instagram) learn from watch events in the platform's own
  tag/category space (`feed.features`), never in a viewer's embedding;
- the collaborative style (cowatch) learns from what a simulated background population
  watched (`feed.population`): item-to-item co-watch similarity, no feature of a post's
  text at all.

Each has a frozen twin (``tiktok-frozen``...): the same code, parameters, popularity and
exploration schedule, with learning switched off, so a learning feed and its twin differ in
exactly one thing. ``random`` stays as a second control.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np
from pydantic import Field, create_model, model_validator

from valuespectrum.config import ConfigError, load_yaml_model, validate
from valuespectrum.feed.corpus import Corpus
from valuespectrum.feed.population import CoWatchModel, simulate_population
from valuespectrum.types import FeedItem, Frozen

#: Population watch events a `cowatch` recommender may simulate: ten times the packaged
#: 500,000; at the cap the build took 9 s and 339 MiB on the 8,102-post corpus.
MAX_POPULATION_WATCHES = 5_000_000


def validate_style(style: str) -> str:
    """Return `style` if it is a registered feed style, else raise ValueError naming them."""
    if style not in STYLES:
        raise ValueError(f"unknown feed style {style!r}; expected one of {', '.join(STYLES)}")
    return style


class InterestParams(Frozen):
    """How watch ratios move a session's interest vector, and the cold-start schedule.

    ``v <- decay * v + learning_rate * (watch_ratio - baseline) * x_item``, where ``x_item``
    is the post's row in the style's space: its tag/category features (tiktok, youtube,
    instagram; `feed.features`), or the post itself (cowatch: a one-hot row over the posts,
    read through the population's co-watch matrix).

    Every learning style uses the same kind of schedule: the share of exploration picks is
    ``explore + (explore_start - explore) * exp(-views / warmup_views)``. The packaged
    values follow a rule: ``explore_start = 1`` (a new account: nothing is known),
    ``warmup_views = 1 / (1 - decay)`` (the interest vector's memory, in views), and
    ``explore`` as in the styles' first design; cowatch takes tiktok's whole block, so the
    two differ only in the space they learn in. ``warmup_views: 0`` means no warm-up. The
    rule came after drift had been measured, not before (docs/feed.md has the commit order).
    """

    learning_rate: float = Field(1.0, ge=0)
    baseline: float = Field(0.3, ge=0, le=1, description="watch ratio that is neutral")
    decay: float = Field(0.9, ge=0, lt=1)
    explore: float = Field(0.1, ge=0, le=1, description="exploration share once warmed up")
    explore_start: float = Field(1.0, ge=0, le=1,
                                 description="exploration share for a new viewer")
    warmup_views: float = Field(10.0, ge=0,
                                description="e-folding of the exploration decay, in views")

    def exploration(self, views: int) -> float:
        """The share of exploration picks after `views` watch events."""
        if self.warmup_views <= 0:
            return self.explore
        return self.explore + (self.explore_start - self.explore) * float(
            np.exp(-views / self.warmup_views))


class TikTokParams(InterestParams):
    top_k: int = Field(8, ge=1)
    temperature: float = Field(0.05, gt=0)


class YouTubeParams(InterestParams):
    top_k: int = Field(15, ge=1)
    temperature: float = Field(0.1, gt=0)
    recency_half_life_days: float = Field(30.0, gt=0)


class InstagramParams(InterestParams):
    personal_weight: float = Field(0.15, ge=0, le=1)
    noise: float = Field(0.1, ge=0)


class CoWatchParams(InterestParams):
    """The collaborative style: session learning as tiktok, plus the simulated population.

    The population (`feed.population.simulate_population`) is built once per recommender
    from `population_seed`; its parameters are part of a trial's plan fingerprint like any
    other style parameter.
    """

    top_k: int = Field(8, ge=1)
    temperature: float = Field(0.05, gt=0)
    population_seed: int = Field(0, ge=0, description="seed of the simulated population")
    users: int = Field(5000, ge=1, le=1_000_000, description="simulated users")
    watches_per_user: int = Field(100, ge=1, le=100_000,
                                  description="posts each simulated user watches")
    clusters: int = Field(20, ge=1, le=10_000, description="latent taste clusters")
    concentration: float = Field(0.1, gt=0, le=100,
                                 description="Dirichlet parameter of a user's cluster mixture")
    neighbours: int = Field(100, ge=1, le=2_000, description="co-watched posts kept per post")

    @model_validator(mode="after")
    def _bounded(self) -> CoWatchParams:
        if self.users * self.watches_per_user > MAX_POPULATION_WATCHES:
            raise ValueError(f"users x watches_per_user = "
                             f"{self.users * self.watches_per_user:,} population watches; "
                             f"at most {MAX_POPULATION_WATCHES:,} (memory)")
        return self

    def population(self) -> dict[str, Any]:
        """The keyword arguments of `simulate_population`."""
        return {"users": self.users, "watches_per_user": self.watches_per_user,
                "clusters": self.clusters, "concentration": self.concentration,
                "neighbours": self.neighbours, "seed": self.population_seed}


class RandomParams(Frozen):
    pass


def load_recommender_params(path: str | Path | None = None) -> RecommenderParams:
    """Load the packaged recommender parameters, or a user YAML with the same schema."""
    if path is None:
        path = Path(str(resources.files("valuespectrum") / "data" / "recommenders.yaml"))
    return load_yaml_model(RecommenderParams, path)


def with_overrides(params: RecommenderParams, overrides: dict[str, Any],
                   source: str = "recommenders") -> RecommenderParams:
    """`params` with per-style overrides merged in (``{tiktok: {warmup_views: 25}}``).

    Raises:
        ConfigError: an unknown style or parameter, or a value out of range.
    """
    if not overrides:
        return params
    data = params.model_dump()
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return validate(RecommenderParams, data, source)


@dataclass
class WatchEvent:
    """One watch event a session reported: how long the viewer stayed on an item."""

    item_id: str
    watched_s: float
    watch_ratio: float
    skipped: bool
    t_s: float


@dataclass
class SessionState:
    """Everything one viewer session's feed depends on (recommenders keep no state)."""

    session_id: str
    style: str
    seed: int
    n_items: int
    clock: str = "manual"
    speed: float = 1.0
    served: list[str] = field(default_factory=list)
    events: list[WatchEvent] = field(default_factory=list)
    interest: np.ndarray | None = None
    clock_s: float = 0.0
    seen: np.ndarray = field(init=False)
    #: How often each post was served and reported: a watch event is checked in O(1), not
    #: by scanning the session's history (which made later scrolls dearer than early ones)
    served_count: Counter = field(default_factory=Counter)
    reported_count: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.seen = np.zeros(self.n_items, dtype=bool)

    @property
    def current(self) -> str | None:
        """The item on screen (last served): the page shows it again when it is replaced."""
        return self.served[-1] if self.served else None

    def unseen(self) -> np.ndarray:
        """Indices of items not served yet; all items again once the corpus is exhausted."""
        idx = np.flatnonzero(~self.seen)
        if idx.size == 0:
            self.seen[:] = False
            idx = np.arange(self.n_items)
        return idx


class Recommender(Protocol):
    """Chooses the next post of a session and learns from its watch events."""

    def next_item(self, session: SessionState, rng: np.random.Generator) -> FeedItem:
        """Pick the next post and mark it served in `session`."""
        ...

    def update(self, session: SessionState, item: FeedItem, watch_ratio: float) -> None:
        """Learn from how long the session watched `item` (ratio in [0, 1])."""
        ...


class _Base:
    """Shared mechanics: serving, the exploration schedule, popularity picks, interest.

    Args:
        corpus: The posts.
        params: This style's parameters.
        learning: False makes the frozen twin: the same popularity, the same exploration
            schedule, the same random draws, and watch events change nothing.
    """

    def __init__(self, corpus: Corpus, params: Any, learning: bool = True) -> None:
        self.corpus = corpus
        self.params = params
        self.learning = learning
        self.popularity = np.array([it.popularity for it in corpus.items], dtype=np.float64)

    def _serve(self, session: SessionState, row: int) -> FeedItem:
        session.seen[row] = True
        item = self.corpus.items[row]
        session.served.append(item.item_id)
        session.served_count[item.item_id] += 1
        return item

    def _explores(self, session: SessionState, rng: np.random.Generator) -> bool:
        """Draw the exploration coin (always: the frozen twin consumes the same draws)."""
        coin = rng.random() < self.params.exploration(len(session.events))
        return coin or not self._has_interest(session)

    def _popular_pick(self, cand: np.ndarray, rng: np.random.Generator) -> int:
        w = self.popularity[cand] + 1e-3
        return int(cand[rng.choice(cand.size, p=w / w.sum())])

    def _similar_pick(self, session: SessionState, cand: np.ndarray, rng: np.random.Generator,
                      top_k: int, temperature: float) -> int:
        sims = self._similarities(session)[cand]
        k = min(top_k, cand.size)
        top = np.argpartition(-sims, k - 1)[:k]  # O(n), then order the k by (score, row)
        top = top[np.lexsort((cand[top], -sims[top]))]
        logits = sims[top] / temperature
        p = np.exp(logits - logits.max())
        return int(cand[top[rng.choice(top.size, p=p / p.sum())]])

    def _similarities(self, session: SessionState) -> np.ndarray:
        """Every post's score against the session's interest (the style's space)."""
        raise NotImplementedError

    def _row(self, i: int) -> np.ndarray:
        """Post `i` in the style's space, dense: what a watch event adds to the interest."""
        raise NotImplementedError

    def update(self, session: SessionState, item: FeedItem, watch_ratio: float) -> None:
        if not self.learning:
            return
        p = self.params
        row = self._row(self.corpus.index(item.item_id))
        if session.interest is None:
            session.interest = np.zeros_like(row)
        session.interest = p.decay * session.interest + p.learning_rate * (
            watch_ratio - p.baseline) * row

    @staticmethod
    def _has_interest(session: SessionState) -> bool:
        return session.interest is not None and float(np.linalg.norm(session.interest)) > 1e-9


class _ContentBase(_Base):
    """A content style: the interest lives in the platform's tag/category features."""

    def __init__(self, corpus: Corpus, params: Any, learning: bool = True) -> None:
        super().__init__(corpus, params, learning)
        self.features = corpus.tag_features()

    def _similarities(self, session: SessionState) -> np.ndarray:
        """Cosine of every post's tag/category features to the session's interest."""
        return self.features @ _unit(session.interest)

    def _row(self, i: int) -> np.ndarray:
        """Row `i` of the feature matrix, dense (what `getrow(i).toarray()` gives, read
        straight from the CSR arrays: scipy's getrow built a matrix per watch event)."""
        f = self.features
        row = np.zeros(f.shape[1], dtype=f.dtype)
        lo, hi = f.indptr[i], f.indptr[i + 1]
        np.add.at(row, f.indices[lo:hi], f.data[lo:hi])
        return row


def _unit(v: np.ndarray | None) -> np.ndarray:
    assert v is not None
    return v / max(float(np.linalg.norm(v)), 1e-12)


class TikTokRecommender(_ContentBase):
    """Explore: a popularity-weighted pick. Exploit: the k most similar posts (softmax)."""

    params: TikTokParams

    def next_item(self, session: SessionState, rng: np.random.Generator) -> FeedItem:
        cand = session.unseen()
        p = self.params
        if self._explores(session, rng):
            return self._serve(session, self._popular_pick(cand, rng))
        return self._serve(session, self._similar_pick(session, cand, rng, p.top_k, p.temperature))


class YouTubeRecommender(_ContentBase):
    """Explore: popular, recent ("topical") posts. Exploit: the k most similar posts."""

    params: YouTubeParams

    def __init__(self, corpus: Corpus, params: YouTubeParams, learning: bool = True) -> None:
        super().__init__(corpus, params, learning)
        dates = [dt.date.fromisoformat(it.posted[:10]) for it in corpus.items]
        newest = max(dates)
        age = np.array([(newest - d).days for d in dates], dtype=np.float64)
        self.topical = self.popularity * 0.5 ** (age / params.recency_half_life_days)

    def next_item(self, session: SessionState, rng: np.random.Generator) -> FeedItem:
        cand = session.unseen()
        p = self.params
        if not self._explores(session, rng):
            return self._serve(session, self._similar_pick(session, cand, rng, p.top_k, p.temperature))
        scores = self.topical[cand]
        k = min(p.top_k, cand.size)
        top = np.argpartition(-scores, k - 1)[:k]
        top = cand[top[np.lexsort((cand[top], -scores[top]))]]
        w = self.topical[top] + 1e-6
        return self._serve(session, int(top[rng.choice(top.size, p=w / w.sum())]))


class InstagramRecommender(_ContentBase):
    """Popularity-led ranking with noise; exploit picks add a weak personal term."""

    params: InstagramParams

    def next_item(self, session: SessionState, rng: np.random.Generator) -> FeedItem:
        cand = session.unseen()
        p = self.params
        explore = self._explores(session, rng)
        score = (1 - p.personal_weight) * self.popularity[cand]
        if not explore:
            score = score + p.personal_weight * self._similarities(session)[cand]
        score = score + p.noise * rng.standard_normal(cand.size)
        return self._serve(session, int(cand[int(np.argmax(score))]))


class CoWatchRecommender(_Base):
    """Collaborative: posts the population co-watched with what this session stayed on.

    The interest is a vector over the posts (a watch event adds ``(watch_ratio - baseline)``
    at the post's own row); a candidate's score is the interest-weighted mean of its co-watch
    cosines to the watched posts (``N^T v / |v|_1``, `feed.population`). Explore: a
    popularity-weighted pick, as tiktok. Exploit: sample among the `top_k` best-scored unseen
    posts (softmax, `temperature`), among those with a positive score only; with none (the
    session skipped everything it was shown, or exhausted their neighbours) the pick is a
    popularity pick, as a platform that has nothing to go on would serve. No caption,
    hashtag, title, keyword or category is read, at construction or per pick.

    Args:
        corpus: The posts (only their number, ids and popularity prior are used).
        params: `CoWatchParams`.
        learning: False makes the frozen twin, which never exploits and therefore never
            builds the population.
    """

    params: CoWatchParams

    def __init__(self, corpus: Corpus, params: CoWatchParams, learning: bool = True) -> None:
        super().__init__(corpus, params, learning)
        self.model: CoWatchModel | None = None
        if learning:
            self.model = simulate_population(self.popularity, **params.population())

    def next_item(self, session: SessionState, rng: np.random.Generator) -> FeedItem:
        cand = session.unseen()
        p = self.params
        if self._explores(session, rng):
            return self._serve(session, self._popular_pick(cand, rng))
        scores = self._similarities(session)[cand]
        positive = np.flatnonzero(scores > 0)
        if positive.size == 0:
            return self._serve(session, self._popular_pick(cand, rng))
        k = min(p.top_k, positive.size)
        # best first; equal scores by the population's random rank, never by corpus row
        order = np.lexsort((self.model.tiebreak[cand[positive]], -scores[positive]))[:k]
        top = positive[order]
        logits = scores[top] / p.temperature
        w = np.exp(logits - logits.max())
        return self._serve(session, int(cand[top[rng.choice(top.size, p=w / w.sum())]]))

    def _similarities(self, session: SessionState) -> np.ndarray:
        v = session.interest
        assert v is not None and self.model is not None
        watched = np.flatnonzero(v)
        weights = v[watched] / max(float(np.abs(v[watched]).sum()), 1e-12)
        return np.asarray(self.model.neighbours[watched].T @ weights, dtype=np.float64)

    def _row(self, i: int) -> np.ndarray:
        row = np.zeros(len(self.corpus), dtype=np.float64)
        row[i] = 1.0
        return row


class RandomRecommender(_Base):
    """The second control: uniformly random unseen posts; watch events change nothing."""

    def __init__(self, corpus: Corpus, params: Any, learning: bool = False) -> None:
        super().__init__(corpus, params, learning=False)

    def next_item(self, session: SessionState, rng: np.random.Generator) -> FeedItem:
        cand = session.unseen()
        return self._serve(session, int(cand[rng.integers(cand.size)]))


@dataclass(frozen=True)
class FeedStyle:
    """One registered feed style.

    Attributes:
        name: The style's name (page path, spec value).
        recommender: Its `Recommender` class.
        params_key: Its parameter block (a frozen twin shares its style's).
        params: The parameter model of that block (`RecommenderParams` is built from these).
        learning: Whether watch events change what it serves.
        description: One line on how it picks posts.
        learns_from: What its learning reads of a post (docs/feed.md tabulates which
            viewers read the same thing).
        brand: The brand line of its page (a frozen twin shows its style's).
    """

    name: str
    recommender: type
    params_key: str
    params: type[Frozen]
    learning: bool
    description: str
    learns_from: str
    brand: str


def _styles() -> dict[str, FeedStyle]:
    tags = "the post's category and hashtags (TF-IDF)"
    learning = (
        FeedStyle("tiktok", TikTokRecommender, "tiktok", TikTokParams, True,
                  "interest-led: strong exploitation after the cold start", tags, "For You"),
        FeedStyle("youtube", YouTubeRecommender, "youtube", YouTubeParams, True,
                  "personal posts mixed with popular, recent ones", tags, "Shorts"),
        FeedStyle("instagram", InstagramRecommender, "instagram", InstagramParams, True,
                  "popularity-led ranking with a weak personal term", tags, "Reels"),
        FeedStyle("cowatch", CoWatchRecommender, "cowatch", CoWatchParams, True,
                  "collaborative: posts a simulated population co-watched with what the "
                  "viewer stayed on",
                  "which posts a simulated population watched together (no text of a post)",
                  "Up Next"),
    )
    twins = tuple(FeedStyle(f"{s.name}-frozen", s.recommender, s.params_key, s.params, False,
                            f"the matched control of {s.name}: same popularity and "
                            "exploration schedule, learning switched off", "nothing",
                            s.brand) for s in learning)
    random = FeedStyle("random", RandomRecommender, "random", RandomParams, False,
                       "uniformly random posts; watch events change nothing", "nothing",
                       "Random")
    return {s.name: s for s in (*learning, *twins, random)}


STYLES: MappingProxyType[str, FeedStyle] = MappingProxyType(_styles())


class _AllParams(Frozen):
    """All styles' parameters (the packaged YAML): `version` and one block per
    `FeedStyle.params_key`, each of its style's parameter model."""

    version: int = 1

    def for_style(self, style: str) -> Frozen:
        """The parameter block a style uses."""
        return getattr(self, STYLES[validate_style(style)].params_key)


#: Derived from the registry: a new style's parameter block is its `FeedStyle` entry alone.
RecommenderParams = create_model(
    "RecommenderParams", __base__=_AllParams, __module__=__name__,
    **{s.params_key: (s.params, s.params()) for s in STYLES.values()})


def controls_of(style: str, available: set[str] | frozenset[str]) -> list[str]:
    """The control feeds of a learning style among `available`: its frozen twin (the
    matched control, first), then `random`."""
    if style not in STYLES or not STYLES[style].learning:
        return []
    return [c for c in (f"{style}-frozen", "random") if c in available]


def make_recommender(style: str, corpus: Corpus,
                     params: RecommenderParams | Frozen | dict | None = None) -> Recommender:
    """Build the recommender of a feed style.

    Args:
        style: a style of `STYLES`.
        corpus: the corpus to recommend from.
        params: all styles' parameters, this style's own parameters (model or dict), or
            None for the packaged YAML.
    """
    if style not in STYLES:
        raise ConfigError(f"unknown feed style {style!r}: expected one of {', '.join(STYLES)}")
    entry = STYLES[style]
    model = entry.params
    if params is None:
        params = load_recommender_params()
    if isinstance(params, RecommenderParams):
        params = params.for_style(style)
    elif isinstance(params, dict):
        params = validate(model, params, f"recommender params ({style})")
    if not isinstance(params, model):
        raise ConfigError(f"{style}: expected {model.__name__}, got {type(params).__name__}")
    return entry.recommender(corpus, params, learning=entry.learning)

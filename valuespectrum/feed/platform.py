"""The in-process feed platform: sessions, recommenders and watch events, without HTTP.

The web server and the tests both drive this object. Time is virtual: a session's clock
advances by the seconds its watch events report, so an agent's 30 s Stay costs no real
30 s ("manual" clock); the page of a person scrolling reports real time x `speed`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

import numpy as np

from valuespectrum.feed.corpus import Corpus
from valuespectrum.feed.recommenders import (
    STYLES,
    Recommender,
    RecommenderParams,
    SessionState,
    WatchEvent,
    load_recommender_params,
    make_recommender,
)
from valuespectrum.types import FeedItem

CLOCKS = ("manual", "realtime")


class FeedError(ValueError):
    """A request the platform cannot honour; `status` is the HTTP status to answer with."""

    status = 400


class UnknownSession(FeedError):
    status = 404


class EventRejected(FeedError):
    status = 409


class FeedPlatform:
    """Sessions over one corpus, each with its own recommender state and seeded RNG.

    A style's recommender is built when its first session opens, or at once for the styles
    in `preload`: the cowatch style simulates its population then (~2 s on the 8,102-post
    corpus), and a platform pays only for the styles it serves. A sweep preloads its styles,
    so no viewer's first request waits behind a build.

    Args:
        corpus: the items to serve.
        params: recommender parameters (default: the packaged YAML).
        preload: styles whose recommenders are built now.
    """

    def __init__(self, corpus: Corpus, params: RecommenderParams | None = None,
                 preload: Iterable[str] = ()) -> None:
        self.corpus = corpus
        self.params = params or load_recommender_params()
        self._recommenders: dict[str, Recommender] = {}
        self._sessions: dict[str, tuple[SessionState, np.random.Generator]] = {}
        self._lock = threading.Lock()  # the server may call from several threads
        for style in preload:
            self.recommender(style)

    def recommender(self, style: str) -> Recommender:
        """The recommender of `style`, built on first use (call with the lock held)."""
        if style not in STYLES:
            raise FeedError(f"unknown style {style!r}: expected one of {', '.join(STYLES)}")
        rec = self._recommenders.get(style)
        if rec is None:
            rec = self._recommenders[style] = make_recommender(style, self.corpus, self.params)
        return rec

    def open_session(self, session_id: str, style: str, seed: int = 0, clock: str = "manual",
                     speed: float = 1.0) -> SessionState:
        """Start (or restart from scratch) a session; same seed + same events = same feed."""
        if not session_id or len(session_id) > 128:
            raise FeedError("session id must be 1-128 characters")
        if style not in STYLES:
            raise FeedError(f"unknown style {style!r}: expected one of {', '.join(STYLES)}")
        if clock not in CLOCKS:
            raise FeedError(f"unknown clock {clock!r}: expected manual or realtime")
        if not (0 < speed <= 1000):
            raise FeedError(f"speed must be in (0, 1000], got {speed}")
        if int(seed) < 0:  # numpy seeds are non-negative
            raise FeedError(f"seed must be a non-negative integer, got {seed}")
        state = SessionState(session_id, style, int(seed), len(self.corpus), clock, float(speed))
        with self._lock:
            self.recommender(style)
            self._sessions[session_id] = (state, np.random.default_rng(int(seed)))
        return state

    def session(self, session_id: str) -> SessionState:
        """The state of an open session; UnknownSession otherwise."""
        try:
            return self._sessions[session_id][0]
        except KeyError:
            raise UnknownSession(f"unknown session {session_id!r}: open it first") from None

    def next_item(self, session_id: str) -> FeedItem:
        """Serve the session's next post (the recommender marks it served)."""
        with self._lock:
            if session_id not in self._sessions:
                raise UnknownSession(f"unknown session {session_id!r}: open it first")
            state, rng = self._sessions[session_id]
            return self.recommender(state.style).next_item(state, rng)

    def current_item(self, session_id: str) -> FeedItem:
        """The post a session shows now: served, its watch event not yet reported.

        What a fresh page on a session in progress shows (`resume=1`): nothing is served.
        EventRejected when the session shows no post (none served, or the last reported).
        """
        with self._lock:
            state = self.session(session_id)
            item_id = state.current
            if item_id is None or state.reported_count[item_id] >= state.served_count[item_id]:
                raise EventRejected(f"session {session_id!r} shows no post: the next one is "
                                    "served by GET /api/next")
            return self.corpus.get(item_id)

    def record_watch(self, session_id: str, item_id: str, watched_s: float,
                     skipped: bool = False, *, served: int | None = None) -> float:
        """Record how long the viewer watched a served item; returns the watch ratio.

        The item must have been served in this session and not reported yet. Watching
        longer than the duration counts as a full watch (ratio 1). `served`, when given,
        is how many posts the viewer has received: a request replayed after its answer was
        lost (the post after it already served) is rejected rather than recorded again.
        """
        with self._lock:
            state = self.session(session_id)
            if served is not None and served != len(state.served):
                raise EventRejected(f"the viewer received {served} posts but session "
                                    f"{session_id!r} served {len(state.served)}")
            item = self.corpus.get(item_id)  # UnknownItemError for ids not in the corpus
            served_n = state.served_count[item_id]
            if not served_n:
                raise EventRejected(f"item {item_id!r} was not served in session {session_id!r}")
            if state.reported_count[item_id] >= served_n:
                raise EventRejected(f"item {item_id!r} already has a watch event")
            try:
                watched = float(watched_s)
            except (TypeError, ValueError):
                raise FeedError(f"watched_s must be a number, got {watched_s!r}") from None
            if not np.isfinite(watched) or watched < 0:
                raise FeedError(f"watched_s must be a finite number >= 0, got {watched_s!r}")
            watched = min(watched, item.duration_s)
            ratio = min(1.0, watched / item.duration_s)
            state.clock_s += watched
            state.events.append(WatchEvent(item_id, watched, ratio, bool(skipped), state.clock_s))
            state.reported_count[item_id] += 1
            self.recommender(state.style).update(state, item, ratio)
            return ratio

    def history(self, session_id: str) -> dict[str, Any]:
        """Served item ids and watch events of a session, as JSON-ready data."""
        state = self.session(session_id)
        return {
            "session": state.session_id, "style": state.style, "seed": state.seed,
            "clock": state.clock, "speed": state.speed, "t_s": state.clock_s,
            "served": list(state.served), "events": [asdict(e) for e in state.events],
        }

    def close_session(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

"""The feed a sweep's viewers scroll: served by the driver itself, or by feed processes.

By default the driver serves the feed from a thread (`FeedServer`), and the sessions live
in its `FeedPlatform`. Every step of every agent then costs the driver two or three HTTP
requests under its one GIL, beside its own work (events, journals): measured, that thread
was half of the driver's CPU per step, and the driver caps a whole cluster's steps per
second (docs/scale.md). With ``feed_servers: N`` the sweep starts N feed processes (Ray
actors, pinned to the driver's node, where the corpus is) and gives each trial one of them
by a hash of its id. Sessions are independent of one another (each has its own recommender
state and seeded generator), so the feed a trial sees does not depend on which process
serves it, nor on N: the tables are the same (tests/sweep/test_feed_pool.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from valuespectrum.cluster import send_output_to
from valuespectrum.feed.corpus import Corpus
from valuespectrum.feed.platform import FeedPlatform
from valuespectrum.feed.server import FeedServer


def feed_for(trial_id: str, urls: Sequence[str]) -> str:
    """The feed URL of a trial: a stable hash of its id over `urls`.

    Not CRC-32: it is affine over GF(2), and trial ids that differ in a digit or two all
    had the same lowest bit (every trial of a test sweep went to one of two servers).
    """
    digest = hashlib.blake2b(trial_id.encode(), digest_size=8).digest()
    return urls[int.from_bytes(digest, "big") % len(urls)]


def feed_actor_class() -> Any:
    """The Ray actor class of a feed process (created lazily: no Ray import at module load)."""
    import ray

    # no CPU asked: like the driver, it serves the viewers and must never wait for a slot
    @ray.remote(num_cpus=0, max_restarts=0)
    class FeedActor:
        def __init__(self, corpus_dir: str, params: Any, host: str,
                     styles: tuple[str, ...] = (), log_path: str | None = None) -> None:
            send_output_to(log_path, "feed actor")
            platform = FeedPlatform(Corpus.load(corpus_dir), params, preload=styles)
            self.server = FeedServer(platform, host=host, port=0).start()

        def url(self) -> str:
            return self.server.url

        def close_session(self, session_id: str) -> None:
            self.server.platform.close_session(session_id)

        def restart(self, down_s: float) -> str:
            return self.server.restart(down_s).url

        def stop(self) -> None:
            self.server.stop()

    return FeedActor


class FeedPool:
    """The feed of one sweep: the driver's own server (`processes` 0) or feed processes.

    Args:
        corpus: The driver's loaded `Corpus` (the driver's platform is built on it only when
            `processes` is 0: feed processes load their own).
        corpus_dir: The corpus the feed processes load (on the driver's node).
        params: Recommender parameters (`RecommenderParams`) of every platform served.
        processes: Feed processes to start (0: the driver serves the feed itself).
        host: Interface the server(s) bind: loopback locally, the driver node's IP on a
            cluster.
        styles: The feed styles the sweep serves: their recommenders are built before the
            first viewer arrives (cowatch's population takes seconds).
        log_path: The run's log; the feed processes' stdout and stderr go there.
    """

    def __init__(self, corpus: Any, corpus_dir: str, params: Any, processes: int = 0,
                 host: str = "127.0.0.1", styles: Sequence[str] = (),
                 log_path: str | None = None) -> None:
        self.corpus = corpus
        self.log_path = log_path
        #: the driver's own platform (`processes` 0; None with feed processes)
        self.platform: Any = None
        self.corpus_dir = corpus_dir
        self.params = params
        self.processes = processes
        self.host = host
        self.styles = tuple(styles)
        self._server: Any = None
        self._actors: list[Any] = []
        self.urls: tuple[str, ...] = ()

    def start(self) -> FeedPool:
        """Start the server(s); returns once every one accepts requests."""
        if self.processes == 0:
            self.platform = FeedPlatform(self.corpus, self.params, preload=self.styles)
            self._server = FeedServer(self.platform, host=self.host, port=0).start()
            self.urls = (self._server.url,)
            return self
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(),
                                              soft=False)
        cls = feed_actor_class().options(scheduling_strategy=here)
        # pinned to the driver's node, they bind where the driver's own server would
        self._actors = [cls.remote(self.corpus_dir, self.params, self.host, self.styles,
                                   self.log_path)
                        for _ in range(self.processes)]
        self.urls = tuple(ray.get([a.url.remote() for a in self._actors], timeout=300))
        return self

    def close_session(self, trial_id: str) -> None:
        """The feed forgets a finished trial's session (fire and forget in a process)."""
        if self._server is not None:
            self.platform.close_session(trial_id)
        elif self._actors:
            self._actors[self.urls.index(feed_for(trial_id, self.urls))].close_session.remote(
                trial_id)

    @property
    def server(self) -> Any:
        """The driver's own `FeedServer` (`processes` 0; None with feed processes)."""
        return self._server

    def restart(self, down_s: float = 0.0) -> FeedPool:
        """Stop every server, stay down `down_s`, serve again on the same ports (sessions
        survive: they live in the platforms, not the servers). Fault injection uses it."""
        if self._server is not None:
            self._server.restart(down_s)
            return self
        import ray

        ray.get([a.restart.remote(down_s) for a in self._actors])  # down together
        return self

    def stop(self) -> None:
        """Stop the server(s) (idempotent)."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._actors:
            import ray

            for actor in self._actors:
                try:
                    ray.get(actor.stop.remote(), timeout=30)
                except Exception:  # noqa: BLE001 - a dead feed process is stopped already
                    pass
                ray.kill(actor)
            self._actors = []

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

With ``feed_placement: nodes`` the feed processes run beside the viewers instead: N on
every node that can hold a viewer actor, and an actor's trials go to its own node's
processes (`urls_by_node`; by the same hash among them). The driver's node then serves no
feed for other nodes, and the feed's CPU per step spreads over the nodes like the actors'
(docs/scale.md, the cluster cap). Each node's processes load the corpus from the same path
and refuse one whose fingerprint is not the driver's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from valuespectrum.cluster import send_output_to
from valuespectrum.errors import ClusterError
from valuespectrum.feed.corpus import Corpus
from valuespectrum.feed.platform import FeedPlatform
from valuespectrum.feed.server import FeedServer

#: How long the feed processes may take to start (load the corpus, build the recommenders).
START_TIMEOUT_S = 300

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
                     styles: tuple[str, ...] = (), log_path: str | None = None,
                     fingerprint: str | None = None) -> None:
            import ray

            send_output_to(log_path, "feed actor")
            where = f"feed process on node {ray.util.get_node_ip_address()}"
            if not Path(corpus_dir).is_dir():
                raise FileNotFoundError(
                    f"{where}: no corpus at {corpus_dir} (feed_placement: nodes needs it at "
                    "that path on every viewer node)")
            corpus = Corpus.load(corpus_dir)
            if fingerprint is not None and corpus.fingerprint != fingerprint:
                raise ValueError(
                    f"{where}: the corpus at {corpus_dir} is not the driver's (fingerprint "
                    f"{corpus.fingerprint}, the driver's {fingerprint}); copy the driver's "
                    "corpus to that path on every viewer node")
            platform = FeedPlatform(corpus, params, preload=styles)
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
        processes: Feed processes to start (0: the driver serves the feed itself); with
            `placement` "nodes", on each of `nodes`.
        host: Interface the server(s) bind: loopback locally, the driver node's IP on a
            cluster (with `placement` "nodes": each node's own IP).
        placement: "driver" (the processes run on the driver's node) or "nodes".
        nodes: (node id, IP) of the viewer nodes (`placement.viewer_nodes`), for "nodes".
        styles: The feed styles the sweep serves: their recommenders are built before the
            first viewer arrives (cowatch's population takes seconds).
        log_path: The run's log; the feed processes' stdout and stderr go there.
    """

    def __init__(self, corpus: Any, corpus_dir: str, params: Any, processes: int = 0,
                 host: str = "127.0.0.1", styles: Sequence[str] = (),
                 log_path: str | None = None, placement: str = "driver",
                 nodes: Sequence[tuple[str, str]] = ()) -> None:
        if placement not in ("driver", "nodes"):
            raise ValueError(f"feed placement {placement!r}: driver or nodes")
        if placement == "nodes" and (processes < 1 or not nodes):
            raise ValueError("feed placement 'nodes' needs processes >= 1 and the nodes")
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
        self.placement = placement
        self.nodes = tuple(nodes)
        self._actors: list[Any] = []
        self._actor_nodes: list[str] = []  # the node id of each of `_actors`
        self.urls: tuple[str, ...] = ()
        #: placement "nodes": each viewer node's feed URLs (its actors' trials go there)
        self.urls_by_node: dict[str, tuple[str, ...]] = {}

    def start(self) -> FeedPool:
        """Start the server(s); returns once every one accepts requests."""
        if self.processes == 0:
            self.platform = FeedPlatform(self.corpus, self.params, preload=self.styles)
            self._server = FeedServer(self.platform, host=self.host, port=0).start()
            self.urls = (self._server.url,)
            return self
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if self.placement == "driver":
            # pinned to the driver's node, they bind where the driver's own server would
            where = [(ray.get_runtime_context().get_node_id(), self.host)]
        else:  # on every viewer node, bound to its own address (loopback stays loopback)
            where = [(node, self.host if self.host == "127.0.0.1" else ip)
                     for node, ip in self.nodes]
        cls = feed_actor_class()
        for node, host in where:
            pinned = cls.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
                node, soft=False))
            for _ in range(self.processes):
                self._actors.append(pinned.remote(self.corpus_dir, self.params, host,
                                                  self.styles, self.log_path,
                                                  self.corpus.fingerprint))
                self._actor_nodes.append(node)
        try:
            self.urls = tuple(ray.get([a.url.remote() for a in self._actors],
                                      timeout=START_TIMEOUT_S))
        except ray.exceptions.RayActorError as e:  # its __init__ failed: say why, in a line
            self.stop()
            cause = str(e).strip().splitlines()
            why = next((line for line in reversed(cause) if "Error:" in line), cause[-1])
            raise ClusterError(f"a feed process did not start: {why.strip()}") from None
        except ray.exceptions.GetTimeoutError:  # e.g. a node too busy, or none for them
            started = len(self._actors)
            self.stop()
            raise ClusterError(
                f"the {started} feed processes did not all start within "
                f"{START_TIMEOUT_S} s (see the run's log)") from None
        if self.placement == "nodes":
            for node, url in zip(self._actor_nodes, self.urls, strict=True):
                self.urls_by_node[node] = (*self.urls_by_node.get(node, ()), url)
        return self

    def close_session(self, trial_id: str, node_id: str = "", *, moved: bool = False) -> None:
        """The feed forgets a finished trial's session (fire and forget in a process).

        With placement "nodes" the session lives on the feed its trial's actor chose on the
        node the trial ended on (`node_id`; `ViewerHost.feed_urls`: that node's processes,
        or any of `urls` on a node without its own). If that node is unknown (the trial
        never started) or an earlier attempt ran elsewhere (`moved`: its actor died and
        the trial ran again), every feed the trial may have used is told.
        """
        if self._server is not None:
            self.platform.close_session(trial_id)
            return
        for url in self.session_feeds(trial_id, node_id, moved=moved):
            self._actors[self.urls.index(url)].close_session.remote(trial_id)

    def session_feeds(self, trial_id: str, node_id: str = "", *,
                      moved: bool = False) -> set[str]:
        """The feed URLs that may hold `trial_id`'s session (see `close_session`)."""
        if self.placement == "driver" or not self.urls:
            return {feed_for(trial_id, self.urls)} if self.urls else set()
        if node_id and not moved:
            return {feed_for(trial_id, self.urls_by_node.get(node_id) or self.urls)}
        return {feed_for(trial_id, self.urls),
                *(feed_for(trial_id, urls) for urls in self.urls_by_node.values())}

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
            self._actor_nodes = []

"""A simulated background population and the item-to-item co-watch matrix it leaves.

The `cowatch` feed learns from what *other* users watched, never from what a post says. A
platform's history is simulated here, seeded, from nothing a viewer reads:

1. every post gets one latent taste cluster, drawn uniformly at random (the population's
   generator), independent of its caption, hashtags, category, title, keywords and image;
2. every simulated user gets a mixture over the clusters, Dirichlet(`concentration`), so
   most users care for two or three clusters;
3. every user watches `watches_per_user` posts: a cluster from their mixture, then a post of
   that cluster in proportion to its popularity prior (the prior every feed's exploration
   uses);
4. the co-watch similarity of two posts is the cosine of their watcher sets (binary
   user-by-post matrix, columns L2-normalised), and each post keeps its `neighbours` most
   similar posts (item-to-item collaborative filtering, Linden et al. 2003; co-visitation
   counts, Davidson et al. 2010).

The only per-post inputs are the number of posts and their popularity prior, so permuting
every caption, hashtag and category of a corpus leaves the matrix (and every `cowatch` feed)
unchanged (tests/feed/test_cowatch.py). The trade-off is stated in docs/feed.md: clusters
unrelated to content mean the feed can learn a viewer's taste only where the viewer's stays
line up with the population's co-watch structure.

Built at recommender construction, never in the corpus build (the corpus fingerprint stays
what the manifest says). The similarity is computed in blocks of rows, so memory stays
bounded: ~2 s and < 100 MB peak for the 8,102-post openclipart corpus (docs/feed.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Rows of the similarity computed at once: a dense (BLOCK, n_posts) float32 block.
BLOCK = 256


@dataclass(frozen=True)
class CoWatchModel:
    """What the simulated population's watch logs teach a co-watch feed.

    Attributes:
        neighbours: (n_posts, n_posts) CSR float32: row i holds post i's most co-watched
            posts and their cosine (> 0); the diagonal is empty.
        clusters: (n_posts,) the latent cluster of each post (for measurement only: the
            feed never reads it).
        tiebreak: (n_posts,) a seeded random rank of the posts, ordering equal scores (never
            the corpus row, whose order follows the source's folders).
        watches: population watch events simulated (a user's repeat watch of a post counts
            once in the matrix).
        watched_posts: posts watched by at least one simulated user.
        build_s: wall time of the build.
    """

    neighbours: Any
    clusters: np.ndarray
    tiebreak: np.ndarray
    watches: int
    watched_posts: int
    build_s: float


def simulate_population(popularity: np.ndarray, *, users: int, watches_per_user: int,
                        clusters: int, concentration: float, neighbours: int,
                        seed: int) -> CoWatchModel:
    """Simulate the population's watch logs and build the item-to-item co-watch matrix.

    Args:
        popularity: (n_posts,) each post's popularity prior in [0, 1].
        users: Simulated users.
        watches_per_user: Posts each user watches.
        clusters: Latent taste clusters.
        concentration: Dirichlet parameter of a user's mixture over the clusters (small:
            users care for few clusters).
        neighbours: Most similar posts kept per post.
        seed: The population's seed (not a session's: every session sees one history).
    """
    from scipy import sparse

    start = time.perf_counter()
    n = int(popularity.size)
    rng = np.random.default_rng(seed)
    cluster_of = rng.integers(clusters, size=n)
    tiebreak = rng.permutation(n)
    mixture = rng.dirichlet(np.full(clusters, concentration), size=users)
    members = [np.flatnonzero(cluster_of == k) for k in range(clusters)]
    mixture[:, [k for k in range(clusters) if members[k].size == 0]] = 0.0
    total = mixture.sum(axis=1, keepdims=True)
    empty = total[:, 0] <= 0  # every cluster of this user is empty (tiny corpora only)
    mixture[empty] = [m.size > 0 for m in members]
    mixture /= mixture.sum(axis=1, keepdims=True)

    # each watch's cluster by inverse CDF, all users at once: row u's CDF shifted by u
    cdf = np.cumsum(mixture, axis=1)
    cdf[:, -1] = 1.0
    offset = np.arange(users)[:, None]
    u = rng.random((users, watches_per_user))
    flat = np.searchsorted((cdf + offset).ravel(), (u + offset).ravel(), side="right")
    watch_cluster = np.minimum(flat.reshape(users, watches_per_user) - offset * clusters,
                               clusters - 1)
    posts = np.empty((users, watches_per_user), dtype=np.int64)
    for k, rows in enumerate(members):
        chosen = watch_cluster == k
        if not chosen.any():
            continue
        w = popularity[rows] + 1e-3  # the floor the feeds' popularity picks use
        post_cdf = np.cumsum(w / w.sum())
        picks = np.searchsorted(post_cdf, rng.random(int(chosen.sum())), side="right")
        posts[chosen] = rows[np.minimum(picks, rows.size - 1)]

    watched = sparse.csr_matrix(
        (np.ones(posts.size, dtype=np.float32),
         (np.repeat(np.arange(users), watches_per_user), posts.ravel())),
        shape=(users, n))
    watched.data[:] = 1.0  # binary: a repeat watch of a post counts once
    norms = np.sqrt(np.asarray(watched.sum(axis=0)).ravel())
    normalised = (watched @ sparse.diags(1.0 / np.maximum(norms, 1.0))).tocsc()
    by_post = normalised.T.tocsr()
    keep = min(neighbours, max(n - 1, 1))
    rows_out, cols_out, vals_out = [], [], []
    for lo in range(0, n, BLOCK):
        hi = min(lo + BLOCK, n)
        block = (by_post[lo:hi] @ normalised).toarray().astype(np.float32)
        block[np.arange(hi - lo), np.arange(lo, hi)] = 0.0  # a post is not its own neighbour
        top = np.argpartition(-block, keep - 1, axis=1)[:, :keep]
        vals = np.take_along_axis(block, top, axis=1)
        positive = vals > 0
        rows_out.append(np.repeat(np.arange(lo, hi), keep)[positive.ravel()])
        cols_out.append(top[positive])
        vals_out.append(vals[positive])
    matrix = sparse.csr_matrix(
        (np.concatenate(vals_out), (np.concatenate(rows_out), np.concatenate(cols_out))),
        shape=(n, n), dtype=np.float32)
    return CoWatchModel(neighbours=matrix, clusters=cluster_of, tiebreak=tiebreak,
                        watches=int(posts.size), watched_posts=int((norms > 0).sum()),
                        build_s=time.perf_counter() - start)

"""What the simulated platform knows about a post: its category and its hashtags.

Recommenders learn in this space and in no other. No viewer uses it: the CPU viewers read
the post's text through their own embedder (MiniLM, CLIP) and API models read pixels. A
recommender ranking by the viewer's own MiniLM vectors would learn the viewer's decision
rule exactly, which no real platform can; tags and categories are what a platform has.

Features are TF-IDF weights of the tokens ``category:<name>`` and ``#<tag>`` (tags that
occur in at least two posts: a tag seen once links nothing), rows L2-normalised, as a
sparse matrix aligned with the corpus rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from valuespectrum.types import FeedItem

MIN_DF = 2


def item_tokens(item: FeedItem) -> list[str]:
    return [f"category:{item.category}", *dict.fromkeys(f"#{t.lower()}" for t in item.hashtags)]


def tag_features(items: Sequence[FeedItem]):
    """(n_items, n_tokens) CSR matrix of TF-IDF weights, rows L2-normalised."""
    from scipy.sparse import csr_matrix

    docs = [item_tokens(it) for it in items]
    df = Counter(t for doc in docs for t in set(doc))
    vocab = {t: i for i, t in enumerate(sorted(t for t, n in df.items() if n >= MIN_DF))}
    n = max(len(items), 1)
    idf = {t: np.log(n / df[t]) + 1.0 for t in vocab}
    rows, cols, vals = [], [], []
    for r, doc in enumerate(docs):
        for t in doc:
            if t in vocab:
                rows.append(r)
                cols.append(vocab[t])
                vals.append(idf[t])
    x = csr_matrix((np.asarray(vals, dtype=np.float64), (rows, cols)),
                   shape=(len(items), max(len(vocab), 1)))
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return csr_matrix(x.multiply(1.0 / norms[:, None]))

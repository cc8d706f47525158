"""What the simulated platform knows about a post: its category and its hashtags.

The content styles (tiktok, youtube, instagram) learn in this space. It is not a viewer's
embedding (ranking by the viewer's own MiniLM vectors would learn its decision rule
exactly, which no real platform can), but it is made of the words a text-reading viewer
decides on: `embed:minilm` reads the caption and hashtags, and the hashtags and caption
carry the category. docs/feed.md measures how closely these features predict a viewer's
yes; the collaborative style (cowatch, `feed.population`) never reads them.

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

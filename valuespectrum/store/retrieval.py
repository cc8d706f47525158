"""Value retrieval (paper section 4.1, Figure 4) and abundance (section 3, Figure 2).

Every keyword of every Schwartz value becomes a normalised text vector; all of them query
the store in ONE batched search. A value's images are the top-k screenshots of each of its
keywords (k = 5 in the paper). Abundance counts the screenshots within L2 1.5 of a keyword.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from valuespectrum.embedders import Embedder
from valuespectrum.store.base import Store
from valuespectrum.store.vector_store import Hit
from valuespectrum.types import Frozen, SchwartzValue
from valuespectrum.values import ValueCatalog, load_values

ABUNDANCE_RADIUS = 1.5  # the paper's L2 radius around a normalised keyword vector


class Filters(Frozen):
    """Optional restrictions of the screenshots considered."""

    platforms: tuple[str, ...] | None = None
    since: str | None = Field(default=None, description="first post date, ISO, inclusive")
    until: str | None = Field(default=None, description="last post date, ISO, inclusive")

    def kwargs(self) -> dict:
        return {"platforms": list(self.platforms) if self.platforms else None,
                "since": self.since, "until": self.until}


class Retrieved(Frozen):
    """One retrieved screenshot: the rank-th nearest to a value's keyword."""

    value: SchwartzValue
    keyword: str
    rank: int
    hit: Hit


class Abundance(Frozen):
    """Screenshots within `radius` of each keyword, and of any keyword of each value."""

    radius: float
    per_keyword: dict[SchwartzValue, dict[str, int]]
    per_value: dict[SchwartzValue, int]
    total: int


def keyword_vectors(embedder: Embedder, catalog: ValueCatalog | None = None,
                    template: str = "{keyword}") -> tuple[list[tuple[SchwartzValue, str]], np.ndarray]:
    """The (value, keyword) pairs of the catalog and their normalised text vectors."""
    catalog = catalog or load_values()
    pairs = catalog.pairs()
    vecs = embedder.embed_texts([template.format(keyword=k) for _, k in pairs])
    return pairs, np.asarray(vecs, dtype=np.float32)


def retrieve(store: Store, embedder: Embedder, catalog: ValueCatalog | None = None,
             k: int = 5, filters: Filters | None = None, exact: bool = True,
             template: str = "{keyword}") -> list[Retrieved]:
    """Top-k screenshots per keyword of every value, from one batched query.

    Args:
        store: An open store whose embedder matches `embedder`.
        embedder: Embeds the keywords into the store's vector space.
        catalog: Values and keywords (default: the packaged catalog).
        k: Screenshots per keyword (the paper uses 5).
        filters: Optional platform / post-date restrictions.
        exact: Scan every index cell (deterministic; the query batch is small).
        template: Text sent to the embedder for a keyword, e.g. "a photo of {keyword}".

    Returns:
        One `Retrieved` per (value, keyword, rank), in catalog order then rank.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    pairs, vecs = keyword_vectors(embedder, catalog, template)
    hits = store.search(vecs, k=k, exact=exact, **(filters or Filters()).kwargs())
    return [Retrieved(value=v, keyword=kw, rank=r, hit=h)
            for (v, kw), row in zip(pairs, hits, strict=True) for r, h in enumerate(row)]


def abundance(store: Store, embedder: Embedder, catalog: ValueCatalog | None = None,
              radius: float = ABUNDANCE_RADIUS, filters: Filters | None = None,
              template: str = "{keyword}") -> Abundance:
    """Figure 2: per keyword and per value, screenshots within L2 `radius` (range search).

    A value's count is the size of the union over its keywords, so a screenshot near two of
    its keywords counts once.
    """
    pairs, vecs = keyword_vectors(embedder, catalog, template)
    f = (filters or Filters()).kwargs()
    hits = store.range_search(vecs, radius, metadata=False, **f)
    per_keyword: dict[SchwartzValue, dict[str, int]] = {}
    union: dict[SchwartzValue, set[int]] = {}
    for (v, kw), row in zip(pairs, hits, strict=True):
        per_keyword.setdefault(v, {})[kw] = len(row)
        union.setdefault(v, set()).update(h.id for h in row)
    return Abundance(radius=radius, per_keyword=per_keyword,
                     per_value={v: len(ids) for v, ids in union.items()},
                     total=store.count())


def brute_force_within(data: np.ndarray, queries: np.ndarray, radius: float) -> np.ndarray:
    """Reference count per query of rows within true L2 `radius` (numpy, for tests/bench)."""
    d2 = (np.sum(queries**2, axis=1)[:, None] + np.sum(data**2, axis=1)[None, :]
          - 2.0 * queries @ data.T)
    return (d2 < radius**2).sum(axis=1)


def brute_force_topk(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Reference indices of the k nearest rows per query (numpy, for tests/bench)."""
    d2 = np.sum(data**2, axis=1)[None, :] - 2.0 * queries @ data.T
    idx = np.argpartition(d2, kth=min(k, d2.shape[1] - 1), axis=1)[:, :k]
    order = np.take_along_axis(d2, idx, axis=1).argsort(axis=1)
    return np.take_along_axis(idx, order, axis=1)

"""The `Store` protocol: what retrieval, ingest and the benchmark need of a screenshot store.

`ScreenshotStore` (Milvus-lite or a Milvus server through pymilvus) implements it; any other
vector database can, and `retrieval`, `ingest` and `StoreOwner` work with it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from valuespectrum.store.records import Hit, ScreenshotRecord, StoreStats


@runtime_checkable
class Store(Protocol):
    """A collection of screenshot vectors with metadata, for one embedder.

    Attributes:
        embedder_name: The embedder whose vectors it holds (the embedder grammar).
        dim: Vector width.
    """

    embedder_name: str
    dim: int

    def add(self, records: Sequence[ScreenshotRecord], vectors: np.ndarray,
            batch_size: int = 2000, skip_existing: bool = True) -> int:
        """Insert screenshots not yet stored (by id); returns how many were inserted."""
        ...

    def flush(self) -> None:
        """Make inserted rows searchable."""
        ...

    def count(self, filter: str = "") -> int:
        """Number of screenshots (optionally matching a filter expression)."""
        ...

    def search(self, vectors: np.ndarray, k: int = 5, *, platforms: Sequence[str] | None = None,
               since: str | None = None, until: str | None = None,
               exact: bool = False) -> list[list[Hit]]:
        """Top-k nearest screenshots (true L2) per query vector."""
        ...

    def range_search(self, vectors: np.ndarray, radius: float, *,
                     platforms: Sequence[str] | None = None, since: str | None = None,
                     until: str | None = None, start_limit: int = 256,
                     metadata: bool = True) -> list[list[Hit]]:
        """Every screenshot strictly within true L2 `radius` of each query."""
        ...

    def stats(self) -> StoreStats:
        """Counts per platform and source, and the post-date range."""
        ...

    def close(self) -> None:
        """Flush and release the store (another process may open it next)."""
        ...

"""`StoreActor`: the single owner of a screenshot store inside a Ray sweep.

Milvus-lite allows one process per `.db`, so in a sweep exactly one Ray actor opens the
store (and its embedder); every other task asks it for retrievals, abundances or stats and
gets plain records back (paths and metadata, never a client handle).

Usage::

    owner = StoreActor.spawn("store.db", "minilm")
    retrieved = ray.get(owner.retrieve.remote(k=5))
    ray.get(owner.close.remote()); ray.kill(owner)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from valuespectrum.store.vector_store import Hit, ScreenshotRecord, StoreStats


class StoreOwner:
    """A store plus its embedder, opened lazily in the process that hosts it.

    Plain class so it works in-process too; `StoreActor.spawn` hosts it in a Ray actor.

    Args:
        db: The `.db` path.
        embedder_name: Embedder spec (`minilm`, `clip:ARCH[/PRETRAINED]`).
        values_path: Optional user values file (default: the packaged catalog).
    """

    def __init__(self, db: str | Path, embedder_name: str,
                 values_path: str | Path | None = None) -> None:
        self.db = Path(db)
        self.embedder_name = embedder_name
        self.values_path = values_path
        self._embedder = None
        self._store = None

    def _open(self):
        if self._store is None:
            from valuespectrum.store.embedders import make_embedder
            from valuespectrum.store.vector_store import ScreenshotStore

            self._embedder = make_embedder(self.embedder_name)
            self._store = ScreenshotStore(self.db, self.embedder_name, self._embedder.dim)
        return self._store, self._embedder

    def _catalog(self):
        from valuespectrum.values import load_values

        return load_values(self.values_path)

    def add(self, records: list[ScreenshotRecord], vectors: np.ndarray) -> int:
        store, _ = self._open()
        n = store.add(records, vectors)
        store.flush()
        return n

    def search(self, vectors: np.ndarray, k: int = 5, **filters: Any) -> list[list[Hit]]:
        store, _ = self._open()
        return store.search(vectors, k=k, **filters)

    def retrieve(self, k: int = 5, filters: dict[str, Any] | None = None) -> list:
        """Top-k per keyword of every value (see `retrieval.retrieve`)."""
        from valuespectrum.store.retrieval import Filters, retrieve

        store, emb = self._open()
        return retrieve(store, emb, self._catalog(), k=k, filters=Filters(**(filters or {})))

    def abundance(self, radius: float = 1.5, filters: dict[str, Any] | None = None):
        """Figure 2 counts (see `retrieval.abundance`)."""
        from valuespectrum.store.retrieval import Filters, abundance

        store, emb = self._open()
        return abundance(store, emb, self._catalog(), radius=radius,
                         filters=Filters(**(filters or {})))

    def stats(self) -> StoreStats:
        store, _ = self._open()
        return store.stats()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


class StoreActor:
    """Factory of the Ray actor that owns a store for a whole sweep."""

    @staticmethod
    def spawn(db: str | Path, embedder_name: str, values_path: str | Path | None = None,
              name: str | None = None):
        """Start (or, with `name`, reuse) the owning actor; returns its handle.

        The actor asks for no CPU so it never starves viewer actors; calls to it are
        serialised by Ray, which is exactly the single-owner discipline Milvus-lite needs.
        """
        import ray

        opts: dict[str, Any] = {"num_cpus": 0, "max_concurrency": 1}
        if name:
            opts.update(name=name, get_if_exists=True)
        return ray.remote(StoreOwner).options(**opts).remote(str(db), embedder_name,
                                                               values_path)

"""`StoreOwner`: the single owner of a screenshot store and its embedder, in or out of Ray.

Milvus-lite allows one process per `.db`, and its in-process gRPC server must not run in a
process that then starts Ray (see `valuespectrum.cluster`). So on Ray the benchmark's store
lives in one `StoreActor` that ingests, retrieves and counts; every other process gets
plain records back (paths, captions, distances; never a client handle). With
``parallel: local`` the same `StoreOwner` runs in the driver.

Usage::

    owner = StoreActor.spawn("store.db", "minilm")
    prepared = ray.get(owner.prepare.remote(k=5))
    ray.get(owner.close.remote()); ray.kill(owner)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from valuespectrum.cluster import send_output_to
from valuespectrum.embedders import make_embedder
from valuespectrum.store import ingest as ing
from valuespectrum.store.retrieval import Filters, abundance, retrieve
from valuespectrum.store.vector_store import Hit, ScreenshotRecord, ScreenshotStore, StoreStats
from valuespectrum.values import load_values


class StoreOwner:
    """A store plus its embedder, opened lazily in the process that hosts it.

    Plain class so it works in-process too; `StoreActor.spawn` hosts it in a Ray actor.

    Args:
        db: The `.db` path or a Milvus server URI (``http://host:19530``).
        embedder_name: Embedder spec (`minilm`, `clip:ARCH[/PRETRAINED]`).
        values_path: Optional user values file (default: the packaged catalog).
    """

    def __init__(self, db: str | Path, embedder_name: str,
                 values_path: str | Path | None = None) -> None:
        # a URI stays a string: Path() would fold its "//"
        self.db = str(db) if "://" in str(db) else Path(db)
        self.embedder_name = embedder_name
        self.values_path = values_path
        self._embedder = None
        self._store = None

    def _open(self):
        if self._store is None:
            self._embedder = make_embedder(self.embedder_name)
            self._store = ScreenshotStore(self.db, self.embedder_name, self._embedder.dim)
        return self._store, self._embedder

    def _catalog(self):
        return load_values(self.values_path)

    def add(self, records: list[ScreenshotRecord], vectors: np.ndarray) -> int:
        store, _ = self._open()
        n = store.add(records, vectors)
        store.flush()
        return n

    def search(self, vectors: np.ndarray, k: int = 5, **filters: Any) -> list[list[Hit]]:
        store, _ = self._open()
        return store.search(vectors, k=k, **filters)

    def ingest(self, source: dict[str, str], progress: bool = False) -> str:
        """Ingest a corpus, a folder + CSV, or a run (`IngestSource.resolved()`); a summary."""
        store, emb = self._open()
        if "corpus" in source:
            report = ing.ingest_corpus(store, emb, source["corpus"], progress=progress)
        elif "folder" in source:
            report = ing.ingest_folder(store, emb, source["folder"], source["csv"],
                                       progress=progress)
        else:
            report = ing.ingest_run(store, emb, source["run"], progress=progress)
        return str(report)

    def retrieve(self, k: int = 5, filters: dict[str, Any] | None = None,
                 template: str = "{keyword}") -> list:
        """Top-k per keyword of every value (see `retrieval.retrieve`)."""
        store, emb = self._open()
        return retrieve(store, emb, self._catalog(), k=k, filters=Filters(**(filters or {})),
                        template=template)

    def abundance(self, radius: float = 1.5, filters: dict[str, Any] | None = None,
                  template: str = "{keyword}"):
        """Figure 2 counts (see `retrieval.abundance`)."""
        store, emb = self._open()
        return abundance(store, emb, self._catalog(), radius=radius,
                         filters=Filters(**(filters or {})), template=template)

    def prepare(self, *, k: int, filters: dict[str, Any] | None, template: str, radius: float,
                ingest: dict[str, str] | None = None, progress: bool = False) -> dict[str, Any]:
        """The benchmark's whole store step: ingest (if asked), retrieve, count abundance.

        Returns:
            ``{"count", "retrieved", "abundance", "ingest"}`` (plain, picklable data).
        """
        report = self.ingest(ingest, progress) if ingest else ""
        store, _ = self._open()
        count = store.count()
        if count == 0:
            return {"count": 0, "retrieved": [], "abundance": None, "ingest": report}
        return {"count": count, "retrieved": self.retrieve(k, filters, template),
                "abundance": self.abundance(radius, filters, template), "ingest": report}

    def stats(self) -> StoreStats:
        store, _ = self._open()
        return store.stats()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


class StoreActor:
    """Factory of the Ray actor that owns a store for a whole run."""

    @staticmethod
    def spawn(db: str | Path, embedder_name: str, values_path: str | Path | None = None,
              name: str | None = None, here: bool | None = None,
              log_path: str | Path | None = None):
        """Start (or, with `name`, reuse) the owning actor; returns its handle.

        The actor asks for no CPU so it never starves viewer actors; calls to it are
        serialised by Ray, which is exactly the single-owner discipline Milvus-lite needs.
        A milvus-lite file lives on this machine, so by default (`here=None`) the actor is
        pinned to the calling process's node unless `db` is a server URI. With `log_path`
        (a run's log), the actor's stdout and stderr (the embedder's loading bars) go there.
        """
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        opts: dict[str, Any] = {"num_cpus": 0, "max_concurrency": 1}
        if name:
            opts.update(name=name, get_if_exists=True)
        if here if here is not None else "://" not in str(db):
            opts["scheduling_strategy"] = NodeAffinitySchedulingStrategy(
                ray.get_runtime_context().get_node_id(), soft=False)
        return ray.remote(_StoreActorBody).options(**opts).remote(
            str(db), embedder_name, str(values_path) if values_path else None,
            str(log_path) if log_path else None)


class _StoreActorBody(StoreOwner):
    """A `StoreOwner` in its own Ray actor process, which first sends its output to a log."""

    def __init__(self, db: str, embedder_name: str, values_path: str | None,
                 log_path: str | None) -> None:
        send_output_to(log_path, "store actor")
        super().__init__(db, embedder_name, values_path)

"""`ScreenshotStore`: one Milvus collection of screenshot vectors per embedder.

The store takes a location: a milvus-lite ``.db`` file (embedded, the default) or a Milvus
server URI (``http://host:19530``); both go through the same pymilvus calls below. Only the
ownership rule differs: a ``.db`` file has one owning process, a server has many clients.

Each row is one screenshot (a video's first frame) with its vector and metadata: path,
platform, post date, link, caption and source. Ids are a stable hash of the screenshot, so
re-ingesting the same screenshot never duplicates it.

Facts about milvus-lite 3.2 this module is built around (see STACK-NOTES.md):

* One process per ``.db``. The store takes its own advisory lock on ``<db>.owner`` first and
  records who holds it (pid, host, command), so a second process gets `StoreLockedError`
  naming the holder instead of ``ConnectionConfigException: Open local milvus failed``.
* Search before flush is pathological, and after a flush the index of new segments is built
  in a background thread; until then searches brute-force (nq x N x dim in memory). That
  thread writes index files in place, so loading the collection while it runs can read a
  half-written file. `flush` therefore stops the in-process server (which waits for the
  thread), opens it again and loads the collection, indexing every segment before it returns.
* L2 distances come back squared. This class speaks true L2 everywhere: hit distances are
  square-rooted and a radius is squared before it is sent.
* Range search is "top-k, then keep those within the radius", so exact counts need an exact
  index scan (IVF_FLAT with nprobe = nlist) and a large enough k; `range_search` grows k
  until no query is truncated.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from valuespectrum.errors import StoreError, StoreLockedError  # noqa: F401 - the store's API
from valuespectrum.runs import WriterLock
from valuespectrum.store.records import (  # noqa: F401 - re-exported: the store's public API
    OUTPUT_FIELDS,
    TEXT_FIELDS,
    Hit,
    ScreenshotRecord,
    StoreStats,
    build_filter,
    collection_name,
    screenshot_id,
)

EXACT_NPROBE = 1 << 16  # faiss clamps nprobe to nlist: every cell is scanned
QUERY_PAGE = 16_384  # a Milvus server's largest query limit
#: Consistency of reads other than the ingest's "already stored?" check. Strong (the
#: collection's level) makes a server wait for its next time tick, ~200 ms a search
#: (measured); Session still sees every row this client wrote.
READ_CONSISTENCY = "Session"
#: milvus-lite keeps reading at the collection's Strong level, as before the server work.
#: (Strong was chosen after a CI failure it did not cause: "read error ... Resource
#: temporarily unavailable" was a load racing milvus-lite's background index build,
#: see `ScreenshotStore._drain_lite`.)
LITE_READ_CONSISTENCY = "Strong"
#: Index types a store can be built with, and their build parameters (IVF_FLAT: nlist).
INDEX_PARAMS = {"IVF_FLAT": {}, "FLAT": {}, "HNSW": {"M": 16, "efConstruction": 200}}

log = logging.getLogger(__name__)


def release_lite_server(path: str | Path) -> None:
    """Stop milvus-lite's in-process server for a ``.db`` (which a closed pymilvus client
    leaves running, holding the data directory's lock), after its background work ends."""
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(str(path))


def is_server_uri(location: str | Path) -> bool:
    """Whether a store location names a Milvus server (``http://``, ``https://``,
    ``tcp://``, ...) rather than a milvus-lite ``.db`` file."""
    return "://" in str(location)


class ScreenshotStore:
    """A screenshot vector store on a milvus-lite `.db` (owned by this process while open)
    or on a Milvus server.

    Args:
        path: The `.db` path (created when missing), or a server URI such as
            ``http://127.0.0.1:19530`` (see `is_server_uri`).
        embedder_name: Embedder spec (`minilm`, `clip:ViT-B-32/...`): one collection each.
        dim: Vector width of that embedder; None reads it from an existing collection.
        nlist: IVF cells per segment (clamped by milvus-lite to the segment size).
        nprobe: Cells scanned by approximate top-k search; `exact=True` scans all.
        index_type: ``IVF_FLAT`` (the milvus-lite default), ``FLAT`` (the server default:
            a server's IVF search missed neighbours even with every cell probed, FLAT is
            exact) or ``HNSW`` (fastest top-k; `exact=True` and range searches are then
            approximate). Used when the collection is created.

    Raises:
        StoreLockedError: another process has the `.db` open.
        StoreError: the server cannot be reached.
    """

    def __init__(self, path: str | Path, embedder_name: str, dim: int | None, *,
                 nlist: int = 128, nprobe: int = 16, index_type: str | None = None) -> None:
        self.is_server = is_server_uri(path)
        self.uri = str(path) if self.is_server else str(Path(path))
        self.path = Path(path) if not self.is_server else Path(".")
        self.embedder_name = embedder_name
        self.dim = int(dim) if dim is not None else 0
        self.nlist = nlist
        self.nprobe = nprobe
        self.index_type = index_type or ("FLAT" if self.is_server else "IVF_FLAT")
        if self.index_type not in INDEX_PARAMS:
            raise StoreError(f"index_type {self.index_type!r}: expected one of "
                             f"{', '.join(INDEX_PARAMS)}")
        self.collection = collection_name(embedder_name)
        self._owner = None
        self._client = None
        self._dirty = False
        self._open()

    # ------------------------------------------------------------------ ownership
    @property
    def owner_path(self) -> Path:
        return self.path.with_name(self.path.name + ".owner")

    def __str__(self) -> str:
        return self.uri

    @property
    def _read_consistency(self) -> str:
        return READ_CONSISTENCY if self.is_server else LITE_READ_CONSISTENCY

    def _open(self) -> None:
        if self.is_server:
            self._open_server()
        else:
            self._open_lite()
        try:
            self._ensure_collection()
        except Exception:
            self.close()
            raise

    def _open_server(self) -> None:
        from pymilvus import MilvusClient

        try:
            self._client = MilvusClient(uri=self.uri, timeout=30)
        except Exception as e:  # connection refused, timeout, auth
            raise StoreError(f"cannot reach the Milvus server at {self.uri}: "
                             f"{type(e).__name__}: {e}") from None

    def _open_lite(self) -> None:
        from pymilvus import MilvusClient


        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._owner = WriterLock(self.owner_path, what=f"vector store {self.path}",
                                 error=StoreLockedError)
        try:
            self._owner.acquire()
        except StoreLockedError as e:
            raise StoreLockedError(
                f"{e}; Milvus-lite allows one process per .db: stop that process, or query "
                "the store through its owner (a StoreActor on Ray)") from None
        try:
            self._client = MilvusClient(str(self.path))
        except Exception as e:  # e.g. a process that bypassed the owner file holds the lock
            self._release_owner()
            raise StoreLockedError(
                f"cannot open vector store {self.path}: {e} (is another process using it?)"
            ) from None

    def _release_owner(self) -> None:
        if self._owner is not None:
            self._owner.release()
            self._owner = None

    def close(self) -> None:
        """Flush pending rows, close the client and release ownership.

        Closing a pymilvus client leaves milvus-lite's in-process server (and its lock on
        the data directory) running until the process exits; it is stopped here so that
        another process, e.g. a `StoreActor`, can open the store next.
        """
        if self._client is not None:
            if self._dirty:
                self._client.flush(self.collection)
            self._client.close()
            self._client = None
            if self.is_server:  # a server has no per-process lock to give up
                return
            release_lite_server(self.path)
        self._release_owner()

    def __enter__(self) -> ScreenshotStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ensure_collection(self) -> None:
        from pymilvus import DataType, MilvusClient

        c = self._client
        if c.has_collection(self.collection):
            info = c.describe_collection(self.collection)
            for f in info.get("fields", []):
                if f.get("name") == "vector":
                    have = int(f.get("params", {}).get("dim", self.dim))
                    if not self.dim:
                        self.dim = have
                    if have != self.dim:
                        raise StoreError(
                            f"{self.uri}: collection {self.collection} holds {have}-d vectors, "
                            f"but embedder {self.embedder_name} gives {self.dim}-d"
                        )
            c.load_collection(self.collection)
            return
        if not self.dim:
            raise StoreError(f"{self.uri}: no collection for embedder {self.embedder_name} "
                             "(ingest something first)")
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        for name, size in TEXT_FIELDS.items():
            schema.add_field(name, DataType.VARCHAR, max_length=size)
        index = c.prepare_index_params()
        build = {"nlist": self.nlist} if self.index_type == "IVF_FLAT" else INDEX_PARAMS[
            self.index_type]
        index.add_index(field_name="vector", index_type=self.index_type, metric_type="L2",
                        params=build)
        # pymilvus then polls AllocTimestamp, which milvus-lite lacks; the gRPC server logs
        # a harmless "Method not implemented!" traceback that would alarm users.
        grpc_log = logging.getLogger("grpc._server")
        was_disabled, grpc_log.disabled = grpc_log.disabled, True
        try:
            # Strong: a query sees every row inserted before it (a server's default,
            # Bounded, may not, and re-ingesting would then duplicate rows)
            c.create_collection(self.collection, schema=schema, index_params=index,
                                consistency_level="Strong")
        finally:
            grpc_log.disabled = was_disabled

    # ------------------------------------------------------------------ writing
    def existing_ids(self, ids: Iterable[int], batch: int = 2000) -> set[int]:
        """The subset of `ids` already in the store."""
        ids = list(ids)
        found: set[int] = set()
        for i in range(0, len(ids), batch):
            chunk = ids[i : i + batch]
            rows = self._client.query(self.collection, filter=f"id in {chunk}",
                                      output_fields=["id"], limit=len(chunk))
            found.update(int(r["id"]) for r in rows)
        return found

    def add(self, records: Sequence[ScreenshotRecord], vectors: np.ndarray,
            batch_size: int = 2000, skip_existing: bool = True) -> int:
        """Insert screenshots not yet stored (by id); returns how many were inserted.

        Rows are buffered by Milvus until `flush` (called by searches automatically).
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(records) != len(vectors):
            raise ValueError(f"{len(records)} records but {len(vectors)} vectors")
        if len(vectors) and vectors.shape[1] != self.dim:
            raise ValueError(f"vectors are {vectors.shape[1]}-d, the store holds {self.dim}-d")
        ids = [r.id for r in records]
        skip = self.existing_ids(ids) if skip_existing else set()
        seen: set[int] = set()
        rows: list[dict[str, Any]] = []
        for rid, rec, vec in zip(ids, records, vectors, strict=True):
            if rid in skip or rid in seen:
                continue
            seen.add(rid)
            row = {"id": rid, "vector": vec}
            for name, size in TEXT_FIELDS.items():  # VARCHAR limits count UTF-8 bytes
                row[name] = str(getattr(rec, name)).encode()[:size].decode(errors="ignore")
            rows.append(row)
        for i in range(0, len(rows), batch_size):
            self._client.insert(self.collection, rows[i : i + batch_size])
        self._dirty = self._dirty or bool(rows)
        return len(rows)

    def flush(self) -> None:
        """Persist buffered rows and build their index, so that searches are fast and exact."""
        if not self._dirty:
            return
        self._client.flush(self.collection)
        if self.is_server:
            self._wait_for_index()
            self._client.release_collection(self.collection)
        else:
            self._drain_lite()
        # Index every segment now rather than in milvus-lite's background thread, during
        # which searches silently fall back to a memory-hungry brute force.
        self._client.load_collection(self.collection)
        self._dirty = False

    def _drain_lite(self) -> None:
        """Stop milvus-lite's in-process server, which waits for its background work, and
        open it again.

        A milvus-lite flush hands compaction and index building to a background thread,
        which writes each segment's index file in place, unlocked. Loading the collection
        meanwhile read a file still being written (``read error in ... .idx: 3998 !=
        196608 (Resource temporarily unavailable)``): 1 to 2 runs in 30 of three ingests
        with a flush each, and CI failed on it. Milvus-lite has no public wait for that
        thread; closing its server does wait (``Collection.close``).
        """
        from pymilvus import MilvusClient

        self._client.close()
        self._client = None
        release_lite_server(self.path)
        try:
            self._client = MilvusClient(str(self.path))
        except Exception as e:
            raise StoreError(f"cannot reopen vector store {self.path} after a flush: "
                             f"{type(e).__name__}: {e}") from None

    def _wait_for_index(self, timeout_s: float = 900.0) -> None:
        """Wait until a server has indexed every flushed row.

        Until then it searches new segments through an interim index with its own, small
        nprobe: approximate even when `exact=True` asks for every cell (measured: 48 of 51
        neighbours found). Done when every row is indexed and the server has no rows pending
        or calls the index ``Finished``: at 500,000 rows the server (2.3.5) kept reporting
        452,000 pending rows for 15 minutes after all 500,000 were indexed and its state
        was Finished (compacted segments awaiting their own index; the indexed ones serve).
        """
        import time

        deadline = time.monotonic() + timeout_s
        while True:
            info = self._client.describe_index(self.collection, "vector")
            indexed = int(info.get("indexed_rows", 0)) >= int(info.get("total_rows", 0))
            settled = int(info.get("pending_index_rows", 0)) == 0 or info.get("state") == "Finished"
            if indexed and settled:
                if int(info.get("pending_index_rows", 0)):
                    log.warning("%s: %s counted as indexed (every row indexed, state Finished) "
                                "while the server still reports %s rows pending", self.uri,
                                self.collection, info.get("pending_index_rows"))
                return
            if time.monotonic() > deadline:
                raise StoreError(f"{self.uri}: the server did not finish indexing "
                                 f"{self.collection} in {timeout_s:.0f} s ({info})")
            time.sleep(0.2)

    # ------------------------------------------------------------------ reading
    def count(self, filter: str = "") -> int:
        """Number of screenshots (optionally matching a filter expression)."""
        self.flush()
        rows = self._client.query(self.collection, filter=filter, output_fields=["count(*)"],
                                  consistency_level=self._read_consistency)
        return int(rows[0]["count(*)"])

    def _search_params(self, k: int, exact: bool) -> dict[str, Any]:
        if self.index_type == "HNSW":
            return {"ef": max(64, k)}
        if self.index_type == "FLAT":
            return {}
        return {"nprobe": EXACT_NPROBE if exact else self.nprobe}

    def _search(self, vectors: np.ndarray, limit: int, expr: str, params: dict[str, Any],
                chunk: int = 64, fields: Sequence[str] = tuple(OUTPUT_FIELDS),
                ) -> list[list[dict[str, Any]]]:
        self.flush()
        out: list[list[dict[str, Any]]] = []
        for i in range(0, len(vectors), chunk):
            out.extend(self._client.search(
                self.collection, data=vectors[i : i + chunk], limit=limit, filter=expr,
                output_fields=list(fields), consistency_level=self._read_consistency,
                search_params={"metric_type": "L2", "params": params},
            ))
        return out

    @staticmethod
    def _hits(raw: list[dict[str, Any]]) -> list[Hit]:
        return [Hit(id=int(h["id"]), distance=float(np.sqrt(max(h["distance"], 0.0))),
                    **{k: h.get("entity", {}).get(k, "") or "" for k in OUTPUT_FIELDS})
                for h in raw]

    def search(self, vectors: np.ndarray, k: int = 5, *, platforms: Sequence[str] | None = None,
               since: str | None = None, until: str | None = None,
               exact: bool = False) -> list[list[Hit]]:
        """Top-k nearest screenshots (true L2) for each query vector, in one batched call."""
        q = self._queries(vectors)
        raw = self._search(q, k, build_filter(platforms, since, until),
                           self._search_params(k, exact))
        return [self._hits(r) for r in raw]

    def range_search(self, vectors: np.ndarray, radius: float, *,
                     platforms: Sequence[str] | None = None, since: str | None = None,
                     until: str | None = None, start_limit: int = 256,
                     metadata: bool = True) -> list[list[Hit]]:
        """All screenshots strictly within true L2 `radius` of each query (exact scan).

        With `metadata=False` hits carry only id and distance (cheaper for counting).
        """
        q = self._queries(vectors)
        expr = build_filter(platforms, since, until)
        total = self.count(expr)
        if total == 0 or len(q) == 0:
            return [[] for _ in range(len(q))]
        params = {**self._search_params(start_limit, True), "radius": float(radius) ** 2,
                  "range_filter": 0.0}
        results: list[list[Hit] | None] = [None] * len(q)
        todo = list(range(len(q)))
        limit = min(start_limit, total)
        while todo:
            raw = self._search(q[todo], limit, expr, params,
                               fields=OUTPUT_FIELDS if metadata else ("id",))
            again = []
            for qi, hits in zip(todo, raw, strict=True):
                if len(hits) >= limit and limit < total:
                    again.append(qi)  # truncated: ask again with a larger k
                else:
                    results[qi] = self._hits(hits)
            todo, limit = again, min(limit * 8, total)
        return [r or [] for r in results]

    def count_within(self, vectors: np.ndarray, radius: float, **filters: Any) -> list[int]:
        """Per query, the number of screenshots within true L2 `radius`."""
        return [len(h) for h in self.range_search(vectors, radius, metadata=False, **filters)]

    def _queries(self, vectors: np.ndarray) -> np.ndarray:
        q = np.asarray(vectors, dtype=np.float32)
        if q.ndim == 1:
            q = q[None, :]
        if q.shape[1] != self.dim:
            raise ValueError(f"query vectors are {q.shape[1]}-d, the store holds {self.dim}-d")
        return q

    def records(self, filter: str = "",
                fields: Sequence[str] = ("id", *OUTPUT_FIELDS)) -> list[dict[str, Any]]:
        """All rows (without vectors unless asked for), optionally filtered, by id."""
        total = self.count(filter)
        if total == 0:
            return []
        out_fields = list(dict.fromkeys(["id", *fields]))
        expr = filter or "id >= 0"
        if total <= QUERY_PAGE:
            rows = self._client.query(self.collection, filter=expr, output_fields=out_fields,
                                      limit=total, consistency_level=self._read_consistency)
        else:  # a Milvus server caps one query at 16,384 rows: iterate in batches
            it = self._client.query_iterator(self.collection, batch_size=QUERY_PAGE // 4,
                                             filter=expr, output_fields=out_fields)
            rows = []
            try:
                while batch := it.next():
                    rows += batch
            finally:
                it.close()
        return sorted(rows, key=lambda r: r["id"])

    def stats(self) -> StoreStats:
        """Counts per platform and source, and the post-date range."""
        rows = self.records(fields=("platform", "posted", "source"))
        dates = sorted(r["posted"] for r in rows if r["posted"])
        return StoreStats(
            db=self.uri, collection=self.collection, embedder=self.embedder_name,
            dim=self.dim, count=len(rows),
            platforms=dict(Counter(r["platform"] or "(none)" for r in rows).most_common()),
            sources=dict(Counter(r["source"] or "(none)" for r in rows).most_common()),
            first_posted=dates[0] if dates else None, last_posted=dates[-1] if dates else None,
        )

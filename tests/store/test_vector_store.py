"""ScreenshotStore on a milvus-lite .db and on a Milvus server (the same tests, the same code
path): search, filters, exact range counts, idempotence; the .db owner lock."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.store.conftest import PLATFORMS, unit_rows
from valuespectrum.store.retrieval import brute_force_topk, brute_force_within
from valuespectrum.store.vector_store import (
    ScreenshotRecord,
    ScreenshotStore,
    StoreError,
    StoreLockedError,
    screenshot_id,
)

N, DIM = 800, 32


def records(n: int) -> list[ScreenshotRecord]:
    return [ScreenshotRecord(path=f"shots/{i}.jpg", platform=PLATFORMS[i % 3],
                             posted=f"2024-{8 + i % 3:02d}-{1 + i % 28:02d}",
                             link=f"https://example.test/v/{i}", caption=f"video {i}",
                             source="test") for i in range(n)]


@pytest.fixture
def filled(store_location):
    data = unit_rows(N, DIM, seed=1)
    store = ScreenshotStore(store_location, "test-emb", DIM, nlist=16, nprobe=4)
    assert store.add(records(N), data) == N
    yield store, data
    store.close()


def test_search_finds_the_planted_neighbour_with_true_l2(filled):
    store, data = filled
    queries = data[[5, 123, 700]] + 0.01 * unit_rows(3, DIM, seed=2)
    hits = store.search(queries, k=3)
    assert [h[0].path for h in hits] == ["shots/5.jpg", "shots/123.jpg", "shots/700.jpg"]
    # distances are true L2 (milvus returns squared ones)
    want = np.linalg.norm(queries[0] - data[5])
    assert hits[0][0].distance == pytest.approx(want, rel=1e-3)
    # the exact search agrees with numpy
    exact = store.search(queries, k=5, exact=True)
    ref = brute_force_topk(data, queries, 5)
    assert [[int(h.path.split("/")[1].split(".")[0]) for h in row] for row in exact] == ref.tolist()


def test_platform_and_date_filters(filled):
    store, data = filled
    hits = store.search(data[:4], k=10, platforms=["youtube"], since="2024-09-01",
                        until="2024-09-15", exact=True)
    flat = [h for row in hits for h in row]
    assert flat and all(h.platform == "youtube" and "2024-09-01" <= h.posted <= "2024-09-15"
                        for h in flat)
    assert store.count('platform == "tiktok"') == len(range(0, N, 3))


@pytest.mark.parametrize("radius", [0.9, 1.2, 1.5])
def test_range_counts_equal_numpy_brute_force(filled, radius):
    store, data = filled
    queries = unit_rows(6, DIM, seed=3)
    got = store.count_within(queries, radius)
    assert got == brute_force_within(data, queries, radius).tolist()
    # with a filter as well
    mask = np.array([i % 3 == 1 for i in range(N)])
    got_yt = store.count_within(queries, radius, platforms=["youtube"])
    assert got_yt == brute_force_within(data[mask], queries, radius).tolist()


def test_range_search_grows_k_past_the_first_limit(filled):
    store, data = filled
    q = unit_rows(2, DIM, seed=4)
    got = store.range_search(q, 1.6, start_limit=8)
    ref = brute_force_within(data, q, 1.6)
    assert [len(h) for h in got] == ref.tolist() and ref.min() > 8
    assert all(h.distance < 1.6 for row in got for h in row)


def test_reingest_does_not_duplicate(filled):
    store, data = filled
    assert store.add(records(N), data) == 0
    assert store.add(records(N + 5), unit_rows(N + 5, DIM, seed=1)) == 5
    assert store.count() == N + 5
    assert screenshot_id("a") == screenshot_id("a") != screenshot_id("b")


def test_stats_counts_per_platform_and_date_range(filled):
    store, _ = filled
    s = store.stats()
    assert s.count == N and sum(s.platforms.values()) == N
    assert s.platforms["tiktok"] == len(range(0, N, 3))
    assert (s.first_posted, s.last_posted) == ("2024-08-01", "2024-10-28")


def test_reopen_reads_dim_and_rejects_other_width(store_location):
    with ScreenshotStore(store_location, "e", 8) as st:
        st.add(records(3), unit_rows(3, 8, 0))
    with ScreenshotStore(store_location, "e", None) as st:
        assert st.dim == 8 and st.count() == 3
    with pytest.raises(StoreError, match="8-d"):
        ScreenshotStore(store_location, "e", 16)


def test_records_page_past_a_servers_query_cap(store_location, monkeypatch):
    import valuespectrum.store.vector_store as vs

    monkeypatch.setattr(vs, "QUERY_PAGE", 64)  # iterate in batches of 16 rows
    with ScreenshotStore(store_location, "e", 8) as st:
        st.add(records(150), unit_rows(150, 8, 0))
        rows = st.records(fields=("path",))
    assert sorted(r["path"] for r in rows) == sorted(f"shots/{i}.jpg" for i in range(150))


def test_a_server_that_does_not_answer_is_a_store_error():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StoreError, match=f"cannot reach the Milvus server at http://127.0.0.1:{port}"):
        ScreenshotStore(f"http://127.0.0.1:{port}", "e", 8)


def test_second_process_gets_a_message_naming_the_holder(tmp_path):
    db = tmp_path / "locked.db"
    store = ScreenshotStore(db, "e", 8)
    try:
        code = textwrap.dedent(f"""
            from valuespectrum.store.vector_store import ScreenshotStore, StoreLockedError
            try:
                ScreenshotStore({str(db)!r}, "e", 8)
            except StoreLockedError as e:
                print("LOCKED:", e)
        """)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120)
        assert "LOCKED:" in out.stdout, out.stderr
        import os

        assert f"vector store {db} is being written by pid {os.getpid()}" in out.stdout
        assert "one process per .db" in out.stdout
        assert "Traceback" not in out.stderr
    finally:
        store.close()
    # released: another process may own it now (milvus-lite's own data-dir lock included)
    code = ("from valuespectrum.store.vector_store import ScreenshotStore\n"
            f"with ScreenshotStore({str(db)!r}, 'e', 8) as s: print('COUNT', s.count())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert "COUNT 0" in out.stdout, out.stderr


def test_lock_error_type_in_process(tmp_path):
    with ScreenshotStore(tmp_path / "x.db", "e", 8), pytest.raises(StoreLockedError):
        ScreenshotStore(tmp_path / "x.db", "e", 8)


def test_flush_waits_for_milvus_lites_background_index_build(tmp_path, monkeypatch):
    """Milvus-lite writes each segment's index file in a background thread after a flush.
    Loading the collection while one was half written failed in CI ("read error in
    ....ivf_flat.idx: 0 != 1"). Here every index file takes ~0.4 s to write, in four parts;
    each flush must still leave the store searchable, with every row found."""
    import time
    from pathlib import Path

    from milvus_lite.index.faiss_ivf_flat import FaissIvfFlatIndex

    real_save = FaissIvfFlatIndex.save
    scratch = tmp_path / "whole.idx"

    def slow_save(self, path: str) -> None:
        real_save(self, str(scratch))
        data = scratch.read_bytes()
        part = len(data) // 4 + 1
        with Path(path).open("wb") as f:
            for i in range(0, len(data), part):
                f.write(data[i : i + part])
                f.flush()
                time.sleep(0.1)

    monkeypatch.setattr(FaissIvfFlatIndex, "save", slow_save)
    rows = unit_rows(3 * 200, DIM, seed=3)
    recs = records(len(rows))
    store = ScreenshotStore(tmp_path / "slow.db", "test-emb", DIM, nlist=8)
    try:
        for b in range(3):
            part = slice(200 * b, 200 * (b + 1))
            store.add(recs[part], rows[part])
            store.flush()
            hits = store.search(rows[: 200 * (b + 1)], k=1, exact=True)
            assert [h[0].path for h in hits] == [r.path for r in recs[: 200 * (b + 1)]]
    finally:
        store.close()


class _IndexReports:
    """A test double of a Milvus client that answers `describe_index` from a script."""

    def __init__(self, *infos: dict) -> None:
        self.infos = list(infos)

    def describe_index(self, collection: str, field: str) -> dict:
        return self.infos.pop(0) if len(self.infos) > 1 else self.infos[0]


def _waiting_store(client: _IndexReports) -> ScreenshotStore:
    store = object.__new__(ScreenshotStore)
    store._client, store.collection, store.uri = client, "shots", "http://server.test"
    return store


def test_a_servers_index_is_built_once_every_row_is_indexed_and_none_pending_or_finished():
    # rows still being indexed: wait; all indexed but still pending and not finished: wait;
    # all indexed and Finished (Milvus 2.3.5 at 500k rows kept a stale pending count): done
    client = _IndexReports(
        {"total_rows": 10, "indexed_rows": 4, "pending_index_rows": 6, "state": "InProgress"},
        {"total_rows": 10, "indexed_rows": 10, "pending_index_rows": 9, "state": "InProgress"},
        {"total_rows": 10, "indexed_rows": 10, "pending_index_rows": 9, "state": "Finished"})
    _waiting_store(client)._wait_for_index(timeout_s=30)
    assert len(client.infos) == 1  # it read all three reports before it returned


def test_an_index_that_never_finishes_ends_in_a_store_error_naming_the_server():
    client = _IndexReports({"total_rows": 10, "indexed_rows": 4, "pending_index_rows": 6,
                            "state": "InProgress"})
    with pytest.raises(StoreError, match="server.test: the server did not finish indexing"):
        _waiting_store(client)._wait_for_index(timeout_s=0.5)

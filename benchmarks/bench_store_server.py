"""milvus-lite vs a Milvus server, side by side: the same `ScreenshotStore` code, same data.

Starts a local standalone Milvus server (PyPI `milvus`, see valuespectrum/store/
milvus_server.py), fills a milvus-lite file and the server with the same N unit vectors
(the 256-cluster mixture of bench_store.py) and, for each index type, prints ingest time
(insert + flush + index), single top-5 query latency p50/p95, recall@5 against numpy, and
one batched call of all the values' keyword queries. Approximate top-k (IVF_FLAT: nprobe
16 of 128 cells; HNSW: ef 64), as `retrieve` without `exact`.

    .venv/bin/python benchmarks/bench_store_server.py                 # 20,000 x 512 (~4 min)
    .venv/bin/python benchmarks/bench_store_server.py --n 50000      # both at 50k
    .venv/bin/python benchmarks/bench_store_server.py --n 500000 --backends server \
        --indexes HNSW --data-dir /big/disk                           # the server at 500k

Each row also prints the data's size on disk (milvus-lite's file, the server's data
directory) and the peak resident memory of the processes serving it (the server's
processes; milvus-lite's in this process and its children), sampled every 0.5 s. Check
`df -h` first: ~1 GB of server data per 50,000 x 512.

On a shared 2-core machine the figures are noisy; the lead re-measures on a quiet one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

# the store's defaults (FLAT on milvus-lite failed at 20,000 rows here: its load read a
# brute-force index file not fully written yet)
DEFAULT_INDEX = {"milvus-lite": "IVF_FLAT", "server": "FLAT"}


class MemoryPeak(threading.Thread):
    """Every 0.5 s: the summed RSS (bytes) of this process and its children, or of the
    children whose name contains `name` only; keeps the peak."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(daemon=True)
        # not `self.name`: a Thread's name is a property that stores str(None) as "None"
        self.match = name
        self.peak = 0
        self._stop_event = threading.Event()

    def sample(self) -> int:
        import psutil

        me = psutil.Process()
        procs = me.children(recursive=True) + ([] if self.match else [me])
        rss = 0
        for p in procs:
            try:
                if self.match is None or self.match in p.name():
                    rss += p.memory_info().rss
            except psutil.Error:
                continue
        return rss

    def run(self) -> None:
        while not self._stop_event.wait(0.5):
            self.peak = max(self.peak, self.sample())

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


def disk_bytes(path: Path) -> int:
    """Bytes of the files under `path` (a file or a directory)."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_one(location: str, index: str, data, records, queries, keywords, ref, ref_kw,
            on_disk: Path) -> dict:
    from valuespectrum.store.vector_store import ScreenshotStore

    memory = MemoryPeak("milvus" if location.startswith("http") else None)
    memory.start()

    store = ScreenshotStore(location, f"bench-{index.lower()}", data.shape[1], index_type=index,
                            nlist=128, nprobe=16)
    try:
        t0 = time.perf_counter()
        store.add(records, data, batch_size=2000)
        store.flush()
        ingest = time.perf_counter() - t0
        assert store.count() == len(data)
        store.search(queries[:3], k=5)  # warm-up (the first search after a load is slow)
        lat, found = [], []
        for q in queries:
            t0 = time.perf_counter()
            hits = store.search(q, k=5)[0]
            lat.append(time.perf_counter() - t0)
            found.append({int(h.path[8:14]) for h in hits})
        recall = float(np.mean([len(f & set(r)) / 5 for f, r in zip(found, ref, strict=True)]))
        t0 = time.perf_counter()
        batch = store.search(keywords, k=5)
        t_batch = time.perf_counter() - t0
        recall_kw = float(np.mean([len({int(h.path[8:14]) for h in row} & set(r)) / 5
                                   for row, r in zip(batch, ref_kw, strict=True)]))
        disk = disk_bytes(on_disk)
    finally:
        store.close()
        peak = memory.stop()
    return {"ingest_s": ingest, "p50_ms": float(np.percentile(lat, 50)) * 1e3,
            "p95_ms": float(np.percentile(lat, 95)) * 1e3, "recall": recall,
            "batch_ms": t_batch * 1e3, "recall_kw": recall_kw,
            "disk_gb": disk / 1e9, "peak_rss_gb": peak / 1e9,
            "load": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--indexes", nargs="+", default=["default", "HNSW"],
                    help="index types to build on both: default (each backend's: IVF_FLAT on "
                         "milvus-lite, FLAT on a server), FLAT, HNSW, IVF_FLAT")
    ap.add_argument("--backends", nargs="+", choices=["milvus-lite", "server"],
                    default=["milvus-lite", "server"])
    ap.add_argument("--data-dir", default=None,
                    help="where the stores are written (default: a temporary directory)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from bench_store import bench_vectors

    from valuespectrum.store.milvus_server import local_milvus_server
    from valuespectrum.store.retrieval import brute_force_topk
    from valuespectrum.store.vector_store import ScreenshotRecord

    data, queries, keywords = bench_vectors(args.n, args.dim, args.queries, args.seed)
    records = [ScreenshotRecord(path=f"screens/{i:06d}.jpg", platform="tiktok",
                                posted="2024-08-01", link=f"https://example.test/v/{i}",
                                caption=f"video {i}", source="bench") for i in range(args.n)]
    ref = brute_force_topk(data, queries, 5).tolist()
    ref_kw = brute_force_topk(data, keywords, 5).tolist()
    print(f"data: {args.n} x {args.dim} float32 (256-cluster mixture), {args.queries} single "
          f"queries, {len(keywords)} keyword queries in one call; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)

    rows = []
    if args.data_dir:  # a directory that does not exist yet is made, not a traceback
        try:
            Path(args.data_dir).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SystemExit(f"--data-dir {args.data_dir}: {e.strerror}") from None
    with tempfile.TemporaryDirectory(dir=args.data_dir) as tmp:
        with contextlib.ExitStack() as stack:
            uri = None
            if "server" in args.backends:
                t0 = time.perf_counter()
                uri = stack.enter_context(local_milvus_server(Path(tmp) / "server"))
                print(f"server: {uri} answered after {time.perf_counter() - t0:.1f} s",
                      flush=True)
            for wanted in args.indexes:
                for backend in args.backends:
                    lite = Path(tmp) / f"{wanted}.db"
                    location, on_disk = ((str(lite), lite) if backend == "milvus-lite"
                                         else (uri, Path(tmp) / "server"))
                    index = DEFAULT_INDEX[backend] if wanted == "default" else wanted
                    r = run_one(location, index, data, records, queries, keywords, ref, ref_kw,
                                on_disk)
                    rows.append((backend, index, r))
                    print(f"  done {backend} {index}: {r['p50_ms']:.1f} ms p50", flush=True)

    print(f"\n| backend | index | ingest s | top-5 p50 ms | p95 ms | recall@5 | "
          f"{len(keywords)} queries, one call ms | recall@5 | on disk GB | peak RSS GB | "
          f"load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for backend, index, r in rows:
        print(f"| {backend} | {index} | {r['ingest_s']:.1f} | {r['p50_ms']:.1f} | "
              f"{r['p95_ms']:.1f} | {r['recall']:.3f} | {r['batch_ms']:.0f} | "
              f"{r['recall_kw']:.3f} | {r['disk_gb']:.2f} | {r['peak_rss_gb']:.2f} | "
              f"{r['load']:.1f} |")


if __name__ == "__main__":
    from valuespectrum.errors import StoreError

    try:
        main()
    except StoreError as e:  # a server that did not start or index in time: one line
        raise SystemExit(f"bench_store_server: {e}") from None

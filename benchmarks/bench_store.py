"""Vector-store benchmark: ingest, top-5 latency, batched value retrieval, vs numpy.

Data: N unit vectors of width D drawn from a mixture of Gaussian clusters (like embeddings,
which are not uniform on the sphere), with metadata rows like a real collection. Queries are
fresh draws from the same mixture. Prints:

- ingest:  `ScreenshotStore.add` of N records in batches + flush (index built)   goal <= 60 s
- top-5:   p50/p95 of 1,000 single-query searches (IVF, nprobe=16), recall@5    goal <= 20 ms
           and p50 of exact searches (every IVF cell scanned)
- batch:   all keywords of all 10 values (70 queries) in ONE exact search call   goal <= 1 s
- range:   exact counts within an L2 radius for 10 queries, checked against numpy
- numpy brute force on the same data for each, and the ratio store / numpy.

    .venv/bin/python benchmarks/bench_store.py [--n 50000] [--dim 512] [--queries 1000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def mixture(n: int, dim: int, rng: np.random.Generator, centers: np.ndarray) -> np.ndarray:
    pick = rng.integers(0, len(centers), size=n)
    x = centers[pick] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32) / np.sqrt(dim) * 4
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def bench_vectors(n: int, dim: int, n_queries: int, seed: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The benchmarks' data: `n` stored vectors, `n_queries` queries and one vector per value
    keyword, all drawn in that order from one seeded generator and one 256-cluster mixture
    (so a seed gives the same arrays in bench_store.py and bench_store_server.py)."""
    from valuespectrum.values import load_values

    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(256, dim)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    data = mixture(n, dim, rng, centers)
    queries = mixture(n_queries, dim, rng, centers)
    keywords = mixture(len(load_values().pairs()), dim, rng, centers)
    return data, queries, keywords


def numpy_topk(data: np.ndarray, sq_norms: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k by L2 with precomputed squared norms (a fair numpy brute force)."""
    d2 = sq_norms[None, :] - 2.0 * (q @ data.T)
    idx = np.argpartition(d2, kth=k, axis=1)[:, :k]
    order = np.take_along_axis(d2, idx, axis=1).argsort(axis=1)
    return np.take_along_axis(idx, order, axis=1)


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--exact-queries", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from valuespectrum.store.retrieval import brute_force_topk, brute_force_within
    from valuespectrum.store.vector_store import ScreenshotRecord, ScreenshotStore

    data, queries, keywords = bench_vectors(args.n, args.dim, args.queries, args.seed)
    n_kw = len(keywords)
    platforms = ("tiktok", "youtube", "instagram")
    records = [ScreenshotRecord(path=f"screens/{i:06d}.jpg", platform=platforms[i % 3],
                                posted=f"2024-{8 + i % 3:02d}-{1 + i % 28:02d}",
                                link=f"https://example.test/v/{i}", caption=f"video {i}",
                                source="bench") for i in range(args.n)]
    print(f"data: {args.n} x {args.dim} float32 (256-cluster mixture), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        store = ScreenshotStore(Path(tmp) / "bench.db", "bench", args.dim)
        t_open = time.perf_counter() - t0
        t0 = time.perf_counter()
        inserted = store.add(records, data, batch_size=2000)
        t_insert = time.perf_counter() - t0
        t0 = time.perf_counter()
        store.flush()
        t_flush = time.perf_counter() - t0
        ingest = t_insert + t_flush
        assert inserted == args.n and store.count() == args.n
        print(f"ingest   {ingest:7.2f} s  (insert {t_insert:.2f} s + flush/index {t_flush:.2f} s;"
              f" open {t_open:.2f} s)   goal <= 60 s  {'OK' if ingest <= 60 else 'MISSED'}")

        # warm-up, then single-query latency
        store.search(queries[:3], k=5)
        lat, found = [], []
        for q in queries:
            t0 = time.perf_counter()
            hits = store.search(q, k=5)[0]
            lat.append(time.perf_counter() - t0)
            found.append([int(h.path[8:14]) for h in hits])
        ref = brute_force_topk(data, queries, 5)
        recall = np.mean([len(set(f) & set(r)) / 5 for f, r in zip(found, ref.tolist(), strict=True)])
        p50 = pct(lat, 50) * 1e3
        print(f"top-5    p50 {p50:6.1f} ms  p95 {pct(lat, 95) * 1e3:6.1f} ms  recall@5 {recall:.3f}"
              f"  (IVF_FLAT nlist=128, nprobe=16)   goal <= 20 ms  {'OK' if p50 <= 20 else 'MISSED'}")
        lat_x = []
        for q in queries[: args.exact_queries]:
            t0 = time.perf_counter()
            store.search(q, k=5, exact=True)
            lat_x.append(time.perf_counter() - t0)
        print(f"top-5    p50 {pct(lat_x, 50) * 1e3:6.1f} ms exact (all cells), "
              f"{args.exact_queries} queries")

        sq_norms = np.sum(data**2, axis=1)
        np_lat = []
        for q in queries:
            t0 = time.perf_counter()
            numpy_topk(data, sq_norms, q[None, :], 5)
            np_lat.append(time.perf_counter() - t0)
        np_p50 = pct(np_lat, 50) * 1e3
        print(f"numpy    p50 {np_p50:6.1f} ms single query brute force; "
              f"store/numpy = {p50 / np_p50:.2f}x (approx), {pct(lat_x, 50) * 1e3 / np_p50:.2f}x (exact)")

        t0 = time.perf_counter()
        batch = store.search(keywords, k=5, exact=True)
        t_batch = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref_kw = numpy_topk(data, sq_norms, keywords, 5)
        t_np_batch = time.perf_counter() - t0
        same = [[int(h.path[8:14]) for h in row] for row in batch] == ref_kw.tolist()
        print(f"batch    {t_batch * 1e3:7.1f} ms  {n_kw} keyword queries, top-5 each, one exact call;"
              f" numpy {t_np_batch * 1e3:.1f} ms; ratio {t_batch / t_np_batch:.1f}x; "
              f"identical to numpy: {same}   goal <= 1 s  {'OK' if t_batch <= 1 else 'MISSED'}")

        d_kw = np.sqrt(np.maximum(2 - 2 * keywords[:10] @ data.T, 0))
        radius = float(np.quantile(d_kw, 0.01))  # about 1% of the store per query
        t0 = time.perf_counter()
        counts = store.count_within(keywords[:10], radius)
        t_range = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref_counts = brute_force_within(data, keywords[:10], radius)
        t_np_range = time.perf_counter() - t0
        print(f"range    {t_range:7.2f} s  10 queries within L2 {radius:.3f} "
              f"(~{int(np.mean(counts))} hits each); numpy {t_np_range * 1e3:.1f} ms; "
              f"counts equal numpy: {counts == ref_counts.tolist()}")
        store.close()


if __name__ == "__main__":
    main()

"""Throughput of one `vllm:` model served by 1 vs 2 replicas: STAND-IN servers, not vLLM.

Each replica is the scripted OpenAI test server (tests/models/openai_test_server.py, a
TEST DOUBLE of `vllm serve`) with a fixed latency per answer and a fixed capacity
(requests answered at once; the rest queue, as on a GPU whose batch is full). One replica
therefore answers at most capacity / latency requests per second; the figure shows how
close the `ReplicaPool` client gets to N times that with N replicas. It measures the
client's spreading, not a GPU.

    .venv/bin/python benchmarks/bench_vllm_replicas.py [--requests 160] [--clients 16]
        [--latency 0.5] [--capacity 4]

The default latency (0.5 s) keeps the machine's CPU out of the figure; at 0.1 s on a
busy 2-core machine the client and both stand-ins together run out of CPU near 40 req/s
(docs/cluster.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "tests" / "models" / "openai_test_server.py"


def answered(url: str) -> int:
    """Requests the stand-in at `url` has answered (its own count)."""
    return httpx.get(url.removesuffix("/v1") + "/test/stats", timeout=5).json()["answered"]


async def run(replicas: int, args: argparse.Namespace) -> tuple[float, list[int]]:
    """Requests per second and per-replica counts with `replicas` stand-in servers."""
    from valuespectrum.models import build_backend
    from valuespectrum.types import GenerateConfig, Message

    command = [sys.executable, str(SERVER), "--host", "{host}", "--port", "{port}", "--model",
               "{model}", "--latency", str(args.latency), "--capacity", str(args.capacity)]
    backend = build_backend({"spec": "vllm:stand-in/bench", "retries": 0, "vllm": {
        "command": command, "num_gpus": 0, "startup_timeout_s": 60, "replicas": replicas}})
    ask = [Message.text("user", "Would you watch this?")]
    try:
        await backend.generate(ask, GenerateConfig())  # start the servers, outside the timing
        urls = [r.url for r in backend.unwrap().pool.replicas]
        before = [answered(u) for u in urls]
        queue = list(range(args.requests))

        async def client() -> None:
            while queue:
                queue.pop()
                await backend.generate(ask, GenerateConfig())

        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(args.clients)))
        elapsed = time.perf_counter() - t0
        counts = [answered(u) - b for u, b in zip(urls, before, strict=True)]
        return args.requests / elapsed, counts
    finally:
        await backend.aclose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=160)
    ap.add_argument("--clients", type=int, default=16, help="requests in flight at once")
    ap.add_argument("--latency", type=float, default=0.5, help="stand-in seconds per answer")
    ap.add_argument("--capacity", type=int, default=4, help="stand-in answers at once")
    args = ap.parse_args()
    if args.latency <= 0 or args.capacity < 1:
        ap.error("--latency must be > 0 and --capacity >= 1 (they set each replica's ceiling)")
    ceiling = args.capacity / args.latency
    print(f"STAND-IN replicas (scripted test server, not vLLM): latency {args.latency:g} s, "
          f"capacity {args.capacity} -> at most {ceiling:.0f} req/s each; {args.requests} "
          f"requests from {args.clients} concurrent clients")
    base = None
    for n in (1, 2):
        rate, counts = asyncio.run(run(n, args))
        base = base or rate
        print(f"replicas {n}: {rate:6.1f} req/s ({rate / (n * ceiling):.0%} of {n} x ceiling; "
              f"x{rate / base:.2f} vs 1 replica); answered per replica {counts}")


if __name__ == "__main__":
    main()

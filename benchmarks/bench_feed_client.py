"""CPU per feed request: the HTTP environment's client (aiohttp) against httpx, and the feed
server's share, on loopback in one process (the server in its thread, as in the driver).

    .venv/bin/python benchmarks/bench_feed_client.py [--requests 600] [--corpus DIR]

Client CPU is the client thread's own time; the server's is the rest of the process.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def timed(n: int):
    """Run `n` requests with `call`; returns (client s, whole process s, wall s)."""

    async def run(call) -> tuple[float, float, float]:
        t0, p0, w0 = time.thread_time(), time.process_time(), time.perf_counter()
        for _ in range(n):
            await call()
        return time.thread_time() - t0, time.process_time() - p0, time.perf_counter() - w0

    return run


async def with_httpx(url: str, n: int) -> tuple[float, float, float]:
    import httpx

    nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    async with httpx.AsyncClient(base_url=url, transport=httpx.AsyncHTTPTransport(
            socket_options=nodelay)) as c:
        await c.post("/api/session", json={"session": "x", "style": "tiktok", "clock": "manual"})

        async def call() -> None:
            (await c.get("/api/next", params={"session": "x"})).json()

        return await timed(n)(call)


async def with_aiohttp(url: str, n: int) -> tuple[float, float, float]:
    import aiohttp

    async with aiohttp.ClientSession(base_url=url) as c:
        async with c.post("/api/session", json={"session": "y", "style": "tiktok",
                                                "clock": "manual"}) as r:
            await r.read()

        async def call() -> None:
            async with c.get("/api/next", params={"session": "y"}) as r:
                await r.json()

        return await timed(n)(call)


def main() -> None:
    import os

    from _corpus import corpus_dir

    from valuespectrum.feed.server import FeedServer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=600)
    ap.add_argument("--corpus", default=None)
    args = ap.parse_args()
    print(f"{args.requests} GET /api/next per client, twice each; load "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'client':>8} {'client ms/req':>13} {'server ms/req':>13} {'wall ms/req':>11}")
    with FeedServer.from_corpus_dir(corpus_dir(args.corpus)) as server:
        for client in (with_httpx, with_aiohttp) * 2:
            c, p, w = asyncio.run(client(server.url, args.requests))
            n = args.requests
            print(f"{client.__name__[5:]:>8} {1e3 * c / n:>13.2f} {1e3 * (p - c) / n:>13.2f} "
                  f"{1e3 * w / n:>11.2f}", flush=True)


if __name__ == "__main__":
    main()

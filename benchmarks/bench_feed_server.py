"""Feed server throughput: `GET /api/next` calls per second on loopback from one keep-alive
client (plus watch events, as a viewer would send them). Goal: >= 500 /next calls per second.

    .venv/bin/python benchmarks/bench_feed_server.py [--seconds 5] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    import httpx
    from _corpus import corpus_dir

    from valuespectrum.feed.server import FeedServer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--style", default="tiktok")
    args = ap.parse_args()
    # small requests go out as two writes (headers, body): NODELAY avoids a 40 ms ACK wait
    nodelay = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    with FeedServer.from_corpus_dir(corpus_dir(args.corpus)) as server, \
            httpx.Client(base_url=server.url, transport=nodelay) as client:
        print(f"corpus: {len(server.platform.corpus)} items")
        client.post("/api/session", json={"session": "bench", "style": args.style})
        for _ in range(50):  # warm-up
            client.get("/api/next", params={"session": "bench"}).raise_for_status()
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            client.get("/api/next", params={"session": "bench"}).raise_for_status()
            n += 1
        rate = n / (time.perf_counter() - start)
        print(f"/api/next only: {rate:.0f} calls/s ({args.style}, goal >= 500/s)")
        client.post("/api/session", json={"session": "bench2", "style": args.style})
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            item = client.get("/api/next", params={"session": "bench2"}).json()
            client.post("/api/events", json={"session": "bench2", "item_id": item["item_id"],
                                              "watched_s": n % 7, "skipped": True})
            n += 1
        rate = n / (time.perf_counter() - start)
        print(f"/api/next + /api/events pairs: {rate:.0f} pairs/s ({args.style})")


if __name__ == "__main__":
    main()

"""Playwright environment step: act (Stay/Skip + ArrowDown) plus the next observation with its
screenshot, timed over N steps on the local feed. Goal: median <= 200 ms on 2 cores.

    .venv/bin/python benchmarks/bench_env_step.py [--steps 200] [--corpus DIR] [--kind playwright]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


async def run(corpus: Path, steps: int, kind: str, style: str) -> list[float]:
    from valuespectrum.environments.spec import EnvironmentSpec, build_environment
    from valuespectrum.feed.server import FeedServer
    from valuespectrum.types import Skip, Stay

    with FeedServer.from_corpus_dir(corpus) as server:
        spec = EnvironmentSpec(kind=kind, feed_url=server.url, style=style, session_id="bench")
        async with await build_environment(spec) as env:
            obs = await env.reset(seed=0)
            for _ in range(5):  # warm-up
                obs = (await env.act(Skip())).observation
            times = []
            for i in range(steps):
                action = Stay(dwell_s=(obs.duration_s or 10) / 2) if i % 2 else Skip()
                t0 = time.perf_counter()
                obs = (await env.act(action)).observation
                times.append(time.perf_counter() - t0)
                assert obs.screenshot_png[:4] == b"\x89PNG"
    return times


def main() -> None:
    from _corpus import corpus_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--kind", default="playwright", choices=["playwright", "http"])
    ap.add_argument("--style", default="tiktok")
    args = ap.parse_args()
    times = asyncio.run(run(corpus_dir(args.corpus), args.steps, args.kind, args.style))
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * len(ms))) - 1)]
    print(f"{args.kind} env step ({args.style}, {len(ms)} steps): "
          f"median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, max {ms[-1]:.1f} ms "
          f"(goal: median <= 200 ms)")


if __name__ == "__main__":
    main()

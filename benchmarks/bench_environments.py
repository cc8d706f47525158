"""Environments side by side: step latency, CPU per step and memory per agent for Playwright,
Appium mobile web and HTTP on the local feed, in one run.

    .venv/bin/python benchmarks/bench_environments.py [--steps 100] [--agents 3]
        [--kinds playwright,appium-web,http] [--corpus DIR]

- latency: one agent's `act` (Stay or Skip, then the next post's screenshot), median/p95;
- CPU per step: CPU seconds of this process and its children (feed server thread, browser,
  Appium, chromedriver) over those steps, divided by the steps;
- memory per agent: PSS of the whole process tree with `--agents` agents open minus with
  one, over the extra agents (the shared browser or Appium server counts once, in "first").
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def tree() -> list:
    import psutil

    me = psutil.Process()
    return [me, *me.children(recursive=True)]


def tree_cpu_s() -> float:
    total = 0.0
    for p in tree():
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except Exception:  # noqa: BLE001 - exited while we looked
            continue
    return total


def tree_pss_mb() -> float:
    total = 0
    for p in tree():
        try:
            total += p.memory_full_info().pss
        except Exception:  # noqa: BLE001
            continue
    return total / 2**20


async def settled_pss_mb(wait_s: float = 2.0, samples: int = 3) -> float:
    """The tree's PSS once start-up work has settled: the median of a few samples."""
    values = []
    for _ in range(samples):
        await asyncio.sleep(wait_s / samples)
        values.append(tree_pss_mb())
    return statistics.median(values)


async def shared_handle(kind: str):
    from valuespectrum.environments.appium_server import AppiumServer
    from valuespectrum.environments.playwright_env import BrowserHost

    if kind == "playwright":
        return await BrowserHost().start()
    if kind == "appium-web":
        server = AppiumServer()
        await asyncio.to_thread(server.start)
        return server
    return None


async def close_handle(handle) -> None:
    if handle is None:
        return
    if hasattr(handle, "stop"):
        await asyncio.to_thread(handle.stop)
    else:
        await handle.close()


async def bench_kind(kind: str, feed_url: str, steps: int, agents: int) -> dict:
    from valuespectrum.environments.spec import EnvironmentSpec, build_environment
    from valuespectrum.types import Skip, Stay

    base = await settled_pss_mb()
    handle = await shared_handle(kind)
    envs = []
    try:
        async def open_env(i: int):
            spec = EnvironmentSpec(kind=kind, feed_url=feed_url, style="tiktok",
                                   session_id=f"bench-{kind}-{i}")
            env = await build_environment(spec, host=handle)
            await env.reset(seed=i)
            for _ in range(3):
                await env.act(Skip())
            return env

        envs.append(await open_env(0))
        one = await settled_pss_mb()
        for i in range(1, agents):
            envs.append(await open_env(i))
        many = await settled_pss_mb()
        for extra in envs[1:]:
            await extra.close()
        del envs[1:]
        env = envs[0]
        obs = await env.observe()
        times = []
        cpu0 = tree_cpu_s()
        for i in range(steps):
            action = Stay(dwell_s=(obs.duration_s or 10) / 2) if i % 2 else Skip()
            t0 = time.perf_counter()
            obs = (await env.act(action)).observation
            times.append(time.perf_counter() - t0)
        cpu = (tree_cpu_s() - cpu0) / steps
    finally:
        for e in envs:
            await e.close()
        await close_handle(handle)
    ms = sorted(t * 1000 for t in times)
    return {"kind": kind, "median_ms": statistics.median(ms),
            "p95_ms": ms[min(len(ms) - 1, int(round(0.95 * len(ms))) - 1)],
            "cpu_ms": cpu * 1000, "first_mb": one - base,
            "per_agent_mb": (many - one) / max(1, agents - 1)}


async def run(corpus: Path, kinds: list[str], steps: int, agents: int) -> list[dict]:
    from valuespectrum.feed.server import FeedServer

    out = []
    with FeedServer.from_corpus_dir(corpus) as server:
        for kind in kinds:
            out.append(await bench_kind(kind, server.url, steps, agents))
    return out


def main() -> None:
    from _corpus import corpus_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--agents", type=int, default=3)
    ap.add_argument("--kinds", default="playwright,appium-web,http")
    ap.add_argument("--corpus", default=None)
    args = ap.parse_args()
    rows = asyncio.run(run(corpus_dir(args.corpus), args.kinds.split(","), args.steps,
                           max(2, args.agents)))
    print(f"environments on the local feed: {args.steps} steps with one agent; memory with "
          f"1 and {max(2, args.agents)} agents (PSS of the process tree)")
    print(f"{'kind':<12}{'median ms':>11}{'p95 ms':>9}{'CPU ms/step':>13}"
          f"{'first agent MB':>16}{'per extra agent MB':>20}")
    for r in rows:
        print(f"{r['kind']:<12}{r['median_ms']:>11.1f}{r['p95_ms']:>9.1f}{r['cpu_ms']:>13.1f}"
              f"{r['first_mb']:>16.0f}{r['per_agent_mb']:>20.0f}")


if __name__ == "__main__":
    main()

"""The leaner browser agent: each lever of issue 12 measured on its own, 8 agents, one Chromium.

N Playwright environments share one browser in one event loop, as the agents of one viewer
actor do. Each agent waits a fixed model latency (a test double: `asyncio.sleep`), then acts;
with PNG screenshots it also re-encodes each one as JPEG in a thread, as the actor does for
the run directory. For each configuration it prints steps/s and efficiency against the ideal
N / latency, CPU ms per step of the whole process tree (this process with the feed server
thread, Playwright's node driver, Chromium), and the browser's PSS per agent (node driver and
Chromium processes at the end of the run, divided by N). CPU and PSS depend less than the
rate on other jobs sharing the cores.

    python benchmarks/bench_browser.py                  # the lever table (quick: 8 agents, 12 steps)
    python benchmarks/bench_browser.py --flags          # each candidate Chromium flag alone
    python benchmarks/bench_browser.py --agents 8 --steps 30

`--flags` also checks that a flag leaves the page as rendered: the first screenshot of the
same seed must be pixel-identical to the one without the flag.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

LATENCY_S = 0.5
#: Flags tried one by one with `--flags` (memory levers found in Chromium's switches).
CANDIDATE_FLAGS = (
    "--renderer-process-limit=1", "--process-per-tab", "--in-process-gpu", "--no-zygote",
    "--disable-features=site-per-process", "--disable-site-isolation-trials",
    "--disable-extensions", "--js-flags=--max-old-space-size=64",
    "--disable-features=Translate,OptimizationHints,MediaRouter,BackForwardCache",
)


def tree_stats() -> tuple[float, float]:
    """CPU seconds of this process and all its descendants; PSS (bytes) of the browser's."""
    import psutil

    me = psutil.Process()
    cpu = sum(me.cpu_times()[:2])
    pss = 0.0
    for p in me.children(recursive=True):
        try:
            cpu += sum(p.cpu_times()[:2])
            if "chrom" in p.name().lower() or p.name() == "node":
                pss += p.memory_full_info().pss
        except psutil.Error:
            continue
    return cpu, pss


def same_render(a: bytes, b: bytes) -> bool:
    from PIL import Image, ImageChops

    with Image.open(io.BytesIO(a)) as x, Image.open(io.BytesIO(b)) as y:
        return ImageChops.difference(x.convert("RGB"), y.convert("RGB")).getbbox() is None


async def measure(url: str, agents: int, steps: int, screenshot: str,
                  flags: tuple[str, ...]) -> dict:
    from valuespectrum.agents.viewer import screenshot_jpeg
    from valuespectrum.environments.observation import ObservationMode
    from valuespectrum.environments.playwright_env import (
        CHROMIUM_ARGS,
        BrowserHost,
        PlaywrightFeedEnvironment,
    )
    from valuespectrum.types import Skip, Stay

    host = await BrowserHost(args=(*CHROMIUM_ARGS, *flags)).start()
    mode = ObservationMode(image=screenshot)  # type: ignore[arg-type]
    envs = [PlaywrightFeedEnvironment(host, url, "tiktok", f"b{i}", observation=mode)
            for i in range(agents)]
    try:
        first = await asyncio.gather(*(e.reset(seed=i) for i, e in enumerate(envs)))
        times: list[float] = []

        async def agent(env, obs) -> None:
            for i in range(steps):
                await asyncio.sleep(LATENCY_S)  # the model (a test double)
                action = Stay(dwell_s=(obs.duration_s or 10) / 2) if i % 2 else Skip()
                obs = (await env.act(action)).observation
                if obs.image_format == "png":  # the actor's re-encoding for the run directory
                    await asyncio.to_thread(screenshot_jpeg, obs.screenshot_png, 80)
                times.append(time.perf_counter())

        cpu0, _ = tree_stats()
        t0 = time.perf_counter()
        await asyncio.gather(*(agent(e, o) for e, o in zip(envs, first, strict=True)))
        cpu1, pss = tree_stats()
        wall = time.perf_counter() - t0
    finally:
        for e in envs:
            await e.close()
        await host.close()
    rate = len(times) / wall
    return {"rate": rate, "eff": rate * LATENCY_S / agents, "cpu_ms": 1e3 * (cpu1 - cpu0) / len(times),
            "mb": pss / agents / 2**20, "first": first[0].screenshot_png}


def row(name: str, r: dict, extra: str = "") -> None:
    print(f"{name:<52} {r['rate']:>7.2f} {r['eff']:>6.0%} {r['cpu_ms']:>8.1f} {r['mb']:>9.1f}"
          f" {extra}", flush=True)


async def main_async(args: argparse.Namespace) -> None:
    from _corpus import corpus_dir

    from valuespectrum.feed.server import FeedServer

    print(f"{args.agents} agents on one Chromium, latency {LATENCY_S} s (test double), "
          f"{args.steps} steps each; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'configuration':<52} {'steps/s':>7} {'eff.':>6} {'CPU ms/step':>8} "
          f"{'MB/agent':>9}")
    base: tuple[str, ...] = ()  # the environment's own CHROMIUM_ARGS only
    with FeedServer.from_corpus_dir(corpus_dir(args.corpus)) as server:
        if args.flags:
            ref = await measure(server.url, args.agents, args.steps, "png", base)
            row("png, no extra flag (reference)", ref)
            for flag in args.only or CANDIDATE_FLAGS:
                r = await measure(server.url, args.agents, args.steps, "png", (*base, flag))
                row(flag, r, "renders the same" if same_render(ref["first"], r["first"])
                    else "RENDERS DIFFERENTLY")
            return
        # no Chromium flag cut the browser's PSS here (--flags), so none is in the levers
        levers = [("png (DevTools) + re-encode by the actor", "png", base),
                  ("jpeg from Chromium, stored as is", "jpeg", base),
                  ("no screenshot (text-only viewer)", "none", base)]
        for name, shot, flags in levers:
            row(name, await measure(server.url, args.agents, args.steps, shot, flags))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=8)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--flags", action="store_true", help="try each candidate Chromium flag")
    ap.add_argument("--only", nargs="+", default=None, help="with --flags: just these flags")
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()

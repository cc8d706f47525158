"""Overhead of the backend stack per decision (wrappers, cache, parsing).

Runs the `simple` strategy against the scripted OpenAI-compatible test server (a separate
process, zero model latency) with a 150 kB screenshot per post, and prints medians:

- raw:   bare OpenAIBackend (HTTP round trip + strategy + parsing);
- stack: build_backend's full stack (cache miss, metering + budget, retry, rate limit);
- overhead = stack - raw (goal <= 5 ms);
- hit:   the same decisions served from the sqlite cache (goal <= 1 ms);
- parse: parse_yes_no on one answer.

    .venv/bin/python benchmarks/bench_backend_overhead.py [--n 200]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "tests" / "models" / "openai_test_server.py"


def start_server() -> tuple[subprocess.Popen, str]:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(SERVER), "--port", str(port), "--reply", "Yes."],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(200):
        try:
            if httpx.get(url + "/models", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("test server did not start")


def ms(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=20)
    return f"median {statistics.median(samples) * 1e3:7.3f} ms   p95 {q[18] * 1e3:7.3f} ms"


async def time_decisions(strategy, backend, persona, posts) -> list[float]:
    out = []
    for obs in posts:
        t0 = time.perf_counter()
        d = await strategy.decide(obs, persona, backend)
        out.append(time.perf_counter() - t0)
        assert d.yes is True, d
    return out


async def main(n: int) -> None:
    sys.path.insert(0, str(ROOT))
    from valuespectrum.models import SharedBudget, build_backend
    from valuespectrum.models.openai_backend import OpenAIBackend
    from valuespectrum.personas import PersonaLibrary
    from valuespectrum.strategies import make_strategy, parse_yes_no
    from valuespectrum.types import Observation, VisibleText

    proc, url = start_server()
    try:
        persona = PersonaLibrary(ROOT / "personas").get("pet_owner")
        strategy = make_strategy("simple")

        def posts(tag: str) -> list[Observation]:
            return [Observation(screenshot_png=random.Random(f"{tag}{i}").randbytes(150_000),
                                text=VisibleText(caption=f"post {i}")) for i in range(n)]

        warm = posts("warm")[:20]
        raw = OpenAIBackend("test-model", base_url=url)
        await time_decisions(strategy, raw, persona, warm)
        t_raw = await time_decisions(strategy, raw, persona, posts("raw"))
        await raw.aclose()

        with tempfile.TemporaryDirectory() as cache_dir:
            spec = {"spec": "openai:test-model", "base_url": url, "rate_limit_rpm": 1e9,
                    "max_concurrency": 8, "price": {"input_per_mtok": 1, "output_per_mtok": 1}}
            stack = build_backend(spec, cache_dir=cache_dir, budget=SharedBudget(1e6, "bench"))
            await time_decisions(strategy, stack, persona, warm)
            items = posts("stack")
            t_stack = await time_decisions(strategy, stack, persona, items)
            t_hit = await time_decisions(strategy, stack, persona, items)
            await stack.aclose()

        answers = ["Yes.", "**No**", "I am not interested in this.", '```json\n{"answer": "yes"}\n```']
        t0 = time.perf_counter()
        for i in range(20_000):
            parse_yes_no(answers[i % 4])
        parse_us = (time.perf_counter() - t0) / 20_000 * 1e6
    finally:
        proc.terminate()
        proc.wait()

    overhead = statistics.median(t_stack) - statistics.median(t_raw)
    print(f"decisions per setting: {n} (simple strategy, 150 kB screenshot, zero-latency server)")
    print(f"raw OpenAIBackend          {ms(t_raw)}")
    print(f"full stack, cache miss     {ms(t_stack)}")
    print(f"stack overhead (median)    {overhead * 1e3:7.3f} ms   goal <= 5 ms: "
          f"{'OK' if overhead <= 0.005 else 'MISSED'}")
    print(f"full stack, cache hit      {ms(t_hit)}   goal <= 1 ms: "
          f"{'OK' if statistics.median(t_hit) <= 0.001 else 'MISSED'}")
    print(f"parse_yes_no               {parse_us:7.2f} us per answer")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    asyncio.run(main(ap.parse_args().n))

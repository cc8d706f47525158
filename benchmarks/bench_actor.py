"""One viewer actor's own CPU per step, without Ray: a quick, repeatable view of the actor path.

A `ViewerHost` (the live side of a viewer actor) runs in this process with N trials of the
HTTP environment (`screenshot: none`), the Simple strategy and the scripted backend (a TEST
DOUBLE with a fixed latency); the feed server runs in a child process, so its CPU is not
counted. Printed: the CPU time of this process per step between 20 % and 80 % of the steps
(start-up and the last trials' tails left out), the steps/s over the same span, and how many
watch events the host's FeedClient sent per request (over the whole run).

`bench_agents.py` measures the same path under Ray (plus the driver, the feed processes and
Ray's own work) and takes minutes; this takes seconds, for comparing two versions of the
actor's code. Runs differ by up to ~10 % on a busy 2-core machine: compare several runs.

    python benchmarks/bench_actor.py --agents 250 --scrolls 40 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _serve(corpus: Path, urls: mp.Queue) -> None:
    """The feed server, in its own process until killed."""
    from valuespectrum.feed.server import FeedServer

    with FeedServer.from_corpus_dir(corpus) as server:
        urls.put(server.url)
        while True:
            time.sleep(3600)


async def measure(agents: int, scrolls: int, latency: float, feed_url: str,
                  corpus: Path, out: Path) -> tuple[float, float, float]:
    """CPU ms per step, steps/s and events per feed request of one host running `agents`
    trials at once."""
    from bench_agents import write_spec

    from valuespectrum.agents.actor import ActorOptions, ViewerHost
    from valuespectrum.sweep.spec import expand, load_sweep_spec
    from valuespectrum.trial import EndEvent, StepEvent

    spec = load_sweep_spec(write_spec(out, agents, scrolls, latency, agents, corpus,
                                      screenshots=False, screenshot="none"))
    host = ViewerHost(ActorOptions(feed_urls=(feed_url,)))
    stream = host.events(0.05)
    for token, trial in enumerate(expand(spec)):
        host.start_trial(trial, token)
    steps = ended = 0
    marks: list[tuple[int, float, float]] = []  # (steps so far, CPU s, wall s) per batch
    try:
        async for batch in stream:
            for _, _, event in batch:
                steps += isinstance(event, StepEvent)
                ended += isinstance(event, EndEvent)
            marks.append((steps, time.process_time(), time.perf_counter()))
            if ended >= agents:
                break
        client = host.feed_client()
        per_request = client.events / max(1, client.batches)
    finally:
        await host.shutdown()
    if steps < agents * scrolls:
        raise SystemExit(f"only {steps} of {agents * scrolls} steps ran: see the log above")
    a = next(m for m in marks if m[0] >= 0.2 * steps)
    b = next(m for m in marks if m[0] >= 0.8 * steps)
    return (1000 * (b[1] - a[1]) / (b[0] - a[0]), (b[0] - a[0]) / (b[2] - a[2]),
            per_request)


def main() -> None:
    from _corpus import corpus_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--scrolls", type=int, default=20)
    ap.add_argument("--latency", type=float, default=0.5, help="scripted model latency (s)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--corpus", default=None)
    args = ap.parse_args()
    corpus = corpus_dir(args.corpus)
    ctx = mp.get_context("spawn")
    urls: mp.Queue = ctx.Queue()
    server = ctx.Process(target=_serve, args=(corpus, urls), daemon=True)
    server.start()
    try:
        feed_url = urls.get(timeout=120)
        print(f"one ViewerHost, no Ray: {args.agents} agents x {args.scrolls} scrolls, HTTP env "
              f"(screenshot none), scripted latency {args.latency} s, load "
              f"{os.getloadavg()[0]:.1f}")
        print("run  CPU ms/step  steps/s  events/request")
        for i in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                cpu, rate, per = asyncio.run(measure(args.agents, args.scrolls, args.latency,
                                                     feed_url, corpus, Path(tmp)))
            print(f"{i + 1:>3}  {cpu:11.3f}  {rate:7.1f}  {per:14.1f}")
    finally:
        server.kill()


if __name__ == "__main__":
    main()

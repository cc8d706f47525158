"""What one Ray message of the viewer actors' event stream costs the driver, and one event in it.

The driver receives every step of every agent through one Ray streaming generator per viewer
actor (`ViewerActor.events`, read by `_ActorStream` in valuespectrum/sweep/driver.py); an
actor batches its events for `EVENT_BATCH_S`. Here a stand-in actor (a TEST DOUBLE: no
agents, no feed) yields batches of K real `StepEvent`s (journal lines of ~1 KB, as a
step's record encodes) as fast as the driver takes them, and this process reads them the
way the driver does (`async for ref in ...: await ref`). Printed: the driver process's CPU
per message and per event for each K, and the fixed part (the cost of a message carrying
nothing) and the part per event from a straight-line fit.

With those two figures the driver's CPU per step on a cluster follows from how many events
a message carries there: an actor hosting A agents at model latency L sends A / L events
a second, so K = A / L x EVENT_BATCH_S (docs/scale.md, the cluster cap).

    python benchmarks/bench_stream.py                     # K = 1, 25, 100, 400; ~1 minute
    python benchmarks/bench_stream.py --messages 2000 --sizes 1 10 50 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 25, 100, 400],
                    help="events per message (K)")
    ap.add_argument("--messages", type=int, default=600, help="messages per size")
    ap.add_argument("--repeat", type=int, default=2, help="runs per size (alternating)")
    args = ap.parse_args(argv)
    if min(args.sizes) < 1 or args.messages < 10 or args.repeat < 1:
        ap.error("--sizes must be >= 1, --messages >= 10, --repeat >= 1")

    import numpy as np
    import ray

    from valuespectrum.runs import journal_line
    from valuespectrum.trial import StepEvent

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)

    @ray.remote(num_cpus=0)
    class StreamDouble:
        """TEST DOUBLE of a viewer actor's event stream: batches of K step events."""

        async def events(self, n: int, k: int):
            row = {"trial_id": "pet_owner.random-0.5.tiktok.simple.000", "step": 0,
                   "answer": "Yes. " + "because " * 100, "decision": 1, "cost_usd": 0.0}
            lines = [journal_line({**row, "trial_id": f"pet_owner.random-0.5.tiktok.simple."
                                   f"{j:03d}"}) for j in range(k)]
            for i in range(n):
                yield [(f"pet_owner.random-0.5.tiktok.simple.{j:03d}", j,
                        StepEvent(lines[j], i, 1, 0.0)) for j in range(k)]
                await asyncio.sleep(0)

    async def read(stream, n: int, k: int) -> int:
        got = 0
        async for ref in stream.events.remote(n, k):
            got += len(await ref)
        return got

    double = StreamDouble.remote()
    ray.get(double.__ray_ready__.remote())
    asyncio.run(read(double, 20, 5))  # warm up
    rows: dict[int, list[float]] = {k: [] for k in args.sizes}
    for _ in range(args.repeat):
        for k in args.sizes:
            c0 = _cpu()
            got = asyncio.run(read(double, args.messages, k))
            assert got == args.messages * k, (got, args.messages, k)
            rows[k].append((_cpu() - c0) / args.messages)
    ray.shutdown()

    print(f"driver CPU per Ray message of the event stream ({args.messages} messages per "
          f"size, {args.repeat} runs, {os.cpu_count()} CPUs)")
    print(f"{'events/msg':>10} {'ms/message':>11} {'us/event':>9}")
    ks, per_msg = [], []
    for k in args.sizes:
        ms = 1e3 * float(np.median(rows[k]))
        ks.append(k)
        per_msg.append(ms)
        print(f"{k:>10} {ms:>11.3f} {1e3 * ms / k:>9.1f}")
    if len(ks) >= 2:
        slope, fixed = np.polyfit(ks, per_msg, 1)
        print(f"fit: {fixed:.3f} ms per message + {1e3 * slope:.1f} us per event")
    return 0


if __name__ == "__main__":
    sys.exit(main())

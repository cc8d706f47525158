"""Parallel efficiency of viewer agents on Ray, and peak memory per agent.

Agents use a scripted backend (a test double) with a fixed 0.5 s latency, so the ideal rate
is agents / 0.5 steps per second; the environment is real Chromium on the local feed.
Prints steps/s, efficiency against the ideal, peak memory per agent (PSS of the viewer actors
and their browsers) and their CPU ms per step, for 1, 2, 4, 8 agents.

    python benchmarks/bench_parallel.py [--agents 1 2 4 8] [--scrolls 30] [--env playwright]
        [--option screenshot=jpeg] [--model scripted:Yes.] [--split]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

LATENCY_S = 0.5


class StepClock:
    """A progress sink that timestamps every step."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def step(self, trial, record) -> None:
        self.times.append(time.perf_counter())

    def __getattr__(self, name):  # the other runner events are not needed here
        return lambda *a, **k: None


class ActorSampler(threading.Thread):
    """Every 0.3 s: PSS (peak) and CPU seconds of the viewer actors and their browsers.

    PSS splits shared pages (Chromium's, Python's) fairly among processes, so the sum is the
    memory the agents really add, unlike a sum of RSS. A process's CPU time is kept from its
    last sample, so browsers closed at the end still count (up to 0.3 s of work may be missed).
    CPU seconds depend less on other jobs sharing the cores than wall-clock rates do.
    """

    def __init__(self) -> None:
        super().__init__(daemon=True)
        import psutil

        self._psutil = psutil
        self.peak = 0
        self.cpu: dict[int, float] = {}
        self.base: dict[int, float] = {}
        self.kinds: dict[int, str] = {}  # pid -> `process_kind`
        self._stop_event = threading.Event()
        self._sample(baseline=True)

    def _sample(self, baseline: bool = False) -> None:
        psutil = self._psutil
        total = 0
        # only this driver's Ray (started by ray.init below): other jobs' actors don't count
        for proc in psutil.Process().children(recursive=True):
            try:
                if "ViewerActor" not in " ".join(proc.cmdline()):
                    continue
                for p in [proc, *proc.children(recursive=True)]:
                    t = p.cpu_times()
                    if baseline:
                        self.base[p.pid] = t.user + t.system
                        continue
                    self.cpu[p.pid] = t.user + t.system
                    if p.pid not in self.kinds:
                        self.kinds[p.pid] = process_kind(p.cmdline(), p is proc)
                    total += p.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        self.peak = max(self.peak, total)

    def run(self) -> None:
        while not self._stop_event.wait(0.3):
            self._sample()

    def stop(self) -> tuple[int, float]:
        """Peak PSS (bytes) and CPU seconds used since the sampler was created."""
        self._stop_event.set()
        self.join()
        return self.peak, sum(self.by_kind().values())

    def by_kind(self) -> dict[str, float]:
        """CPU seconds since the sampler was created, by `process_kind`."""
        out: dict[str, float] = {}
        for pid, c in self.cpu.items():
            kind = self.kinds.get(pid, "other")
            out[kind] = out.get(kind, 0.0) + c - self.base.get(pid, 0.0)
        return out


#: the order `--split` prints the kinds in
KINDS = ("actor", "browser", "renderer", "gpu", "utility", "zygote", "node driver", "other")


def process_kind(cmdline: list[str], is_actor: bool) -> str:
    """What a process below a viewer actor is: the actor itself (Python), Playwright's node
    driver, or a Chromium process by its ``--type=`` switch (none: the browser process)."""
    if is_actor:
        return "actor"
    line = " ".join(cmdline)
    if "run-driver" in line or (cmdline and Path(cmdline[0]).name == "node"):
        return "node driver"
    kind = next((a.split("=", 1)[1] for a in cmdline if a.startswith("--type=")), None)
    if kind is None:
        return "browser" if "chrom" in line else "other"
    return {"gpu-process": "gpu"}.get(kind, kind if kind in KINDS else "other")


def corpus_dir() -> Path:
    from valuespectrum.feed.corpus import default_corpus_dir
    from valuespectrum.feed.sources import build_openclipart

    d = default_corpus_dir()
    if (d / "manifest.parquet").exists():
        return d
    d = Path(tempfile.gettempdir()) / "vspec-bench-corpus"
    if not (d / "corpus.json").exists():
        build_openclipart(d, limit=400, seed=0)
    return d


def run(agents: int, scrolls: int, env: str, corpus: Path, out: Path, per_actor: int,
        options: dict[str, object], model: str) -> tuple[float, float, int, float]:
    import yaml

    from valuespectrum.sweep.driver import SweepRunner
    from valuespectrum.sweep.spec import load_sweep_spec

    root = Path(__file__).resolve().parents[1]
    path = out / f"bench-{agents}.yaml"
    path.write_text(yaml.safe_dump(dict(
        name=f"bench-{agents}", personas=["pet_owner"], persona_dir=str(root / "personas"),
        models=[{"spec": model, "params": {"latency_s": LATENCY_S}}],
        platforms=[{"style": "tiktok", "environment": env, "options": options}], strategies=["simple"],
        trials=agents, scrolls=scrolls, window=min(10, scrolls // 2), concurrency=agents,
        agents_per_actor=min(agents, per_actor), corpus=str(corpus),
        screenshots=options.get("screenshot") != "none",  # none: nothing to store
        output=str(out / f"bench-{agents}"), cache_dir=str(out / "cache"))))
    spec = load_sweep_spec(path)
    clock = StepClock()
    sampler = ActorSampler()
    sampler.start()
    SweepRunner(spec, progress=clock).run()
    peak, cpu_s = sampler.stop()
    # steady state: drop the first step of every agent (browser/context start-up)
    t = sorted(clock.times)[agents:]
    rate = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 else float("nan")
    steps = max(len(clock.times), 1)
    split = {k: 1e3 * v / steps for k, v in sampler.by_kind().items()}
    return rate, rate / (agents / LATENCY_S), peak, 1e3 * cpu_s / steps, split


def main() -> None:
    from _options import option

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--scrolls", type=int, default=30)
    ap.add_argument("--env", choices=["playwright", "http"], default="playwright")
    ap.add_argument("--per-actor", type=int, default=8, help="agents sharing one actor/browser")
    ap.add_argument("--option", type=option, action="append", default=[],
                    help="environment option KEY=VALUE, e.g. screenshot=jpeg (repeatable)")
    ap.add_argument("--model", default="scripted:Yes.",
                    help="model spec (a scripted test double by default)")
    ap.add_argument("--split", action="store_true",
                    help="also print the CPU ms per step by process: the actor (Python), "
                         "Chromium's browser, renderer, GPU, utility (network) and zygote "
                         "processes, Playwright's node driver")
    args = ap.parse_args()
    import ray

    from valuespectrum.cluster import start_ray

    corpus = corpus_dir()
    start_ray(log_to_driver=False)
    options = dict(args.option)
    print(f"environment={args.env} {options or ''}, model {args.model}, latency {LATENCY_S} s, "
          f"{args.scrolls} scrolls per agent, up to {args.per_actor} agents per actor, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'agents':>6} {'steps/s':>8} {'ideal':>6} {'efficiency':>10} {'peak MB/agent':>14} "
          f"{'actor CPU ms/step':>17}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.agents:
            rate, eff, mem, cpu, split = run(n, args.scrolls, args.env, corpus, Path(tmp),
                                             args.per_actor, options, args.model)
            print(f"{n:>6} {rate:>8.2f} {n / LATENCY_S:>6.1f} {eff:>9.0%} {mem / n / 2**20:>14.0f} "
                  f"{cpu:>17.1f}", flush=True)
            if args.split:
                print("       CPU ms/step by process: " + ", ".join(
                    f"{k} {split[k]:.1f}" for k in KINDS if split.get(k)), flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()

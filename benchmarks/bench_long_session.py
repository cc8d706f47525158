"""Memory of long Chromium sessions: the browser and viewer-actor processes against steps.

Audits of real platforms scroll hundreds of posts per session. This runs one or a few
Chromium agents for thousands of scrolls on the built-in feed with a CPU viewer that costs
nothing (`always:yes` by default: every post watched to its end, as a heavy viewer would),
and samples memory every second, split into the viewer actor (Python), Playwright's node
driver and Chromium by process type (browser, renderer, GPU, utility/network, zygote).
Growth is read on the processes' anonymous memory and shared memory, each page split among
the processes sharing it (`Pss_Anon + Pss_Shmem` of /proc/PID/smaps_rollup): their heaps,
stacks and IPC buffers, what a leak or a cache fills. Program code and files are left out:
their pages are shared with whatever else runs the same binaries, so PSS moves when *other*
programs start or stop (other users' browsers on a shared machine moved ours by 40 MB at
once), and so does USS the other way (a second node driver on the machine took ~50 MB of
the node binary's pages out of ours). USS, PSS and RSS are kept beside it for reference.
It prints a row every `--every` scrolls and the growth after the warm-up (`--warmup` scrolls
per agent): the mean over the last tenth of the run after the warm-up against the mean over
its first tenth, and a least-squares slope in MB per 1,000 scrolls.

    python benchmarks/bench_long_session.py                      # 2 agents x 2,000 scrolls, Ray
    python benchmarks/bench_long_session.py --agents 1 --scrolls 500 --figure out.png --json out.json
    python benchmarks/bench_long_session.py --diagnose           # what grows, without Ray

The default runs the real path (a sweep on the local Ray, one viewer actor, screenshots
stored). `--diagnose` runs the same `ViewerHost` in this process (the feed in a child
process) and adds, per row, the page's DOM counters and JavaScript heap (DevTools
`Memory.getDOMCounters`, `Performance.getMetrics`) and the Python allocations that grew
most since the warm-up (tracemalloc; it slows the actor down).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
sys.path.insert(0, str(Path(__file__).resolve().parent))

GROUPS = ("actor", "node driver", "browser", "renderer", "gpu", "utility", "zygote")


def group_of(name: str, cmdline: list[str]) -> str | None:
    """The memory group of a process below a viewer actor (None: not counted)."""
    if "chrom" in name.lower():
        kind = next((a.split("=", 1)[1] for a in cmdline if a.startswith("--type=")), "")
        return {"": "browser", "renderer": "renderer", "gpu-process": "gpu",
                "utility": "utility", "zygote": "zygote"}.get(kind, "utility")
    if name.startswith("node"):  # Playwright's driver (its name: node-MainThread)
        return "node driver"
    return None


KINDS = ("anon", "uss", "pss", "rss")


def rollup(pid: int) -> dict[str, float]:
    """Memory (MB) of process `pid` from /proc/PID/smaps_rollup: anonymous + shared memory
    (PSS), USS, PSS and RSS."""
    kb = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, value = line.partition(":")
            if value.strip().endswith("kB"):
                kb[key] = int(value.split()[0])
    if "Pss_Anon" not in kb:
        raise SystemExit(f"/proc/{pid}/smaps_rollup has no Pss_Anon (Linux 5.9 or later needed)")
    return {"anon": (kb["Pss_Anon"] + kb.get("Pss_Shmem", 0)) / 1024,
            "uss": (kb["Private_Clean"] + kb["Private_Dirty"]) / 1024,
            "pss": kb["Pss"] / 1024, "rss": kb["Rss"] / 1024}


def sample_memory(actors: list) -> dict[str, dict[str, float]]:
    """Memory (MB) of each kind of `KINDS` by group of the psutil processes `actors` and their
    descendants."""
    import psutil

    out = {kind: dict.fromkeys(GROUPS, 0.0) for kind in KINDS}
    for actor in actors:
        try:
            procs = [(actor, "actor")] + [(p, None) for p in actor.children(recursive=True)]
        except psutil.Error:
            continue
        for p, group in procs:
            try:
                group = group or group_of(p.name(), p.cmdline())
                if group is None:
                    continue
                mem = rollup(p.pid)
            except (psutil.Error, OSError):
                continue
            for kind in KINDS:
                out[kind][group] += mem[kind]
    return out


class StepCounter:
    """A progress sink that counts the sweep's steps (read by the sampler)."""

    def __init__(self) -> None:
        self.n = 0

    def step(self, trial, record) -> None:
        self.n += 1

    def __getattr__(self, name):  # the other runner events are not needed here
        return lambda *a, **k: None


class Sampler(threading.Thread):
    """Every second: memory of the viewer actors below this process, tagged with the steps."""

    def __init__(self, counter: StepCounter) -> None:
        super().__init__(daemon=True)
        self.counter = counter
        self.samples: list[dict] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        import psutil

        t0 = time.perf_counter()
        while not self._stop_event.wait(1.0):
            actors = []
            for p in psutil.Process().children(recursive=True):
                try:
                    if "ViewerActor" in " ".join(p.cmdline()):
                        actors.append(p)
                except psutil.Error:
                    continue
            if actors and self.counter.n:
                self.samples.append({"steps": self.counter.n, "t": time.perf_counter() - t0,
                                     **sample_memory(actors)})

    def stop(self) -> list[dict]:
        self._stop_event.set()
        self.join()
        return self.samples


def write_spec(out: Path, args: argparse.Namespace, corpus: Path) -> Path:
    import yaml

    root = Path(__file__).resolve().parents[1]
    path = out / "long-session.yaml"
    path.write_text(yaml.safe_dump(dict(
        name="long-session", personas=["pet_owner"], persona_dir=str(root / "personas"),
        models=[args.model], strategies=["simple"],
        platforms=[{"style": args.style, "environment": "playwright",
                    "options": dict(args.option)}],
        trials=args.agents, scrolls=args.scrolls, window=10, concurrency=args.agents,
        agents_per_actor=args.agents, corpus=str(corpus),
        screenshots=dict(args.option).get("screenshot") != "none",
        output=str(out / "run"), cache_dir=None)))
    return path


def run_on_ray(args: argparse.Namespace, corpus: Path, out: Path) -> list[dict]:
    from valuespectrum.cluster import start_ray, stop_ray
    from valuespectrum.sweep.driver import SweepRunner
    from valuespectrum.sweep.spec import load_sweep_spec

    spec = load_sweep_spec(write_spec(out, args, corpus))
    started = start_ray(log_to_driver=False)
    counter = StepCounter()
    sampler = Sampler(counter)
    sampler.start()
    try:
        SweepRunner(spec, progress=counter).run()
    finally:
        samples = sampler.stop()
        stop_ray(started)
    if counter.n < args.agents * args.scrolls:
        raise SystemExit(f"only {counter.n} of {args.agents * args.scrolls} steps ran")
    return samples


# ------------------------------------------------------------------ --diagnose, without Ray
def _serve(corpus: Path, urls: mp.Queue) -> None:
    """The feed server, in its own process until killed."""
    from valuespectrum.feed.server import FeedServer

    with FeedServer.from_corpus_dir(corpus) as server:
        urls.put(server.url)
        while True:
            time.sleep(3600)


async def page_counters(host) -> dict[str, float]:
    """DOM counters and JS heap of the host's pages, summed (DevTools, one session each)."""
    out: dict[str, float] = {"documents": 0, "nodes": 0, "listeners": 0, "js_heap_mb": 0.0}
    browser = (await host.browser())._browser
    for context in browser.contexts:
        for page in context.pages:
            cdp = await context.new_cdp_session(page)
            try:
                # live nodes only: what a collection frees is garbage, not a leak
                await cdp.send("HeapProfiler.collectGarbage")
                dom = await cdp.send("Memory.getDOMCounters")
                await cdp.send("Performance.enable")
                metrics = {m["name"]: m["value"]
                           for m in (await cdp.send("Performance.getMetrics"))["metrics"]}
            finally:
                await cdp.detach()
            out["documents"] += dom["documents"]
            out["nodes"] += dom["nodes"]
            out["listeners"] += dom["jsEventListeners"]
            out["js_heap_mb"] += metrics.get("JSHeapUsedSize", 0) / 2**20
    return out


async def diagnose(args: argparse.Namespace, corpus: Path, out: Path, feed_url: str) -> list[dict]:
    import tracemalloc

    import psutil

    from valuespectrum.agents.actor import ActorOptions, ViewerHost
    from valuespectrum.sweep.spec import expand, load_sweep_spec
    from valuespectrum.trial import EndEvent, StepEvent

    spec = load_sweep_spec(write_spec(out, args, corpus))
    tracemalloc.start(8)
    host = ViewerHost(ActorOptions(feed_urls=(feed_url,)))
    me = psutil.Process()
    stream = host.events(0.05)
    for token, trial in enumerate(expand(spec)):
        host.start_trial(trial, token)
    steps = ended = 0
    next_at, samples, warm = args.every * args.agents, [], None
    t0 = time.perf_counter()
    try:
        async for batch in stream:
            for _, _, event in batch:
                steps += isinstance(event, StepEvent)
                ended += isinstance(event, EndEvent)
                if isinstance(event, EndEvent) and event.status != "done":
                    raise SystemExit(f"a trial ended {event.status}: {event.error}")
            if steps >= next_at and ended < args.agents:  # pages close as trials end
                next_at += args.every * args.agents
                row = {"steps": steps, "t": time.perf_counter() - t0, **sample_memory([me]),
                       "page": await page_counters(host),
                       "python_mb": tracemalloc.get_traced_memory()[0] / 2**20}
                snap = tracemalloc.take_snapshot()
                if warm is None and steps >= args.warmup * args.agents:
                    warm = snap
                if warm is not None:
                    growth = snap.compare_to(warm, "lineno")[:5]
                    row["python_growth"] = [f"{s.size_diff / 1024:+.0f} KiB {s.traceback[0]}"
                                            for s in growth]
                samples.append(row)
                print_row(row, args.agents, diagnose=True)
            if ended >= args.agents:
                break
    finally:
        await host.shutdown()
        tracemalloc.stop()
    return samples


# ------------------------------------------------------------------ output
def total(sample: dict, kind: str = "anon") -> float:
    return sum(sample[kind].values())


def print_header(diagnose: bool = False) -> None:
    extra = f" {'DOM nodes':>9} {'JS heap':>7} {'py MB':>6}" if diagnose else ""
    print(f"{'scrolls':>7} {'steps':>6} {'min':>5} {'anon MB':>7} {'USS MB':>7} {'PSS MB':>7} "
          f"{'RSS MB':>7} " + " ".join(f"{g[:8]:>8}" for g in GROUPS) + " (anon)" + extra,
          flush=True)


def print_row(s: dict, agents: int, diagnose: bool = False) -> None:
    extra = ""
    if diagnose:
        extra = (f" {s['page']['nodes']:>9.0f} {s['page']['js_heap_mb']:>7.1f} "
                 f"{s['python_mb']:>6.1f}")
    print(f"{s['steps'] / agents:>7.0f} {s['steps']:>6} {s['t'] / 60:>5.1f} {total(s):>7.0f} "
          f"{total(s, 'uss'):>7.0f} {total(s, 'pss'):>7.0f} {total(s, 'rss'):>7.0f} "
          + " ".join(f"{s['anon'][g]:>8.1f}" for g in GROUPS) + " " * 7 + extra, flush=True)
    for line in s.get("python_growth", []) if diagnose else []:
        print(f"        python since warm-up: {line}")


def growth(samples: list[dict], agents: int, warmup: int) -> dict:
    """Anonymous memory just after the warm-up and at the end (the mean over the first and the
    last tenth of the run after the warm-up), and the least-squares slope after the warm-up,
    in all and by group (USS, PSS and RSS in all the same way, for reference)."""
    import numpy as np

    after = [s for s in samples if s["steps"] >= warmup * agents]
    if len(after) < 3:
        return {}
    first, last = after[0]["steps"], max(s["steps"] for s in after)
    # a tenth of the run after the warm-up at each end (one sample would sit anywhere on the
    # renderers' saw-tooth: they free what they hold every PURGE_EVERY scrolls)
    head = [s for s in after if s["steps"] <= first + 0.1 * (last - first)]
    tail = [s for s in after if s["steps"] >= last - 0.1 * (last - first)]
    x = np.array([s["steps"] / agents for s in after])
    out: dict = {"warm_scrolls": warmup}
    for kind in KINDS:
        warm = float(np.mean([total(s, kind) for s in head]))
        end = float(np.mean([total(s, kind) for s in tail]))
        out[kind] = {"warm_mb": warm, "end_mb": end, "growth": end / warm - 1,
                     "slope_mb_per_1000_scrolls":
                         float(np.polyfit(x, [total(s, kind) for s in after], 1)[0] * 1000)}
    out["groups"] = {g: {"warm_mb": float(np.mean([s["anon"][g] for s in head])),
                         "end_mb": float(np.mean([s["anon"][g] for s in tail])),
                         "slope_mb_per_1000_scrolls":
                             float(np.polyfit(x, [s["anon"][g] for s in after], 1)[0] * 1000)}
                     for g in GROUPS}
    return out


def figure(samples: list[dict], agents: int, g: dict, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [s["steps"] / agents for s in samples]
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    ax.plot(x, [total(s) for s in samples], "k-", lw=1.6, label="all")
    for grp in GROUPS:
        ys = [s["anon"][grp] for s in samples]
        if max(ys) > 1:
            ax.plot(x, ys, "-", lw=0.9, label=grp)
    if g:
        ax.axvline(g["warm_scrolls"], color="grey", ls=":", lw=0.8)
        ax.axhspan(g["anon"]["warm_mb"], g["anon"]["warm_mb"] * 1.05, color="green", alpha=0.12,
                   label="warm-up + 5 %")
    ax.set(xlabel="scrolls per agent", ylabel="anonymous + shared memory, PSS (MB)", title=title, ylim=(0, None))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    from _corpus import corpus_dir
    from _options import option

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=2)
    ap.add_argument("--scrolls", type=int, default=2000)
    ap.add_argument("--model", default="always:yes", help="a CPU viewer (costs no model time)")
    ap.add_argument("--style", default="tiktok")
    ap.add_argument("--option", type=option, action="append", default=[],
                    help="environment option KEY=VALUE, e.g. screenshot=jpeg (repeatable)")
    ap.add_argument("--every", type=int, default=100, help="print a row every N scrolls")
    ap.add_argument("--warmup", type=int, default=200, help="scrolls per agent of warm-up")
    ap.add_argument("--diagnose", action="store_true",
                    help="no Ray: the host in this process, with DOM counters and tracemalloc")
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--figure", default=None)
    args = ap.parse_args()
    corpus = corpus_dir(args.corpus)
    print(f"{args.agents} Chromium agent(s) x {args.scrolls} scrolls, model {args.model}, "
          f"{args.style}, options {dict(args.option) or '{}'}, "
          f"{'in this process (diagnose)' if args.diagnose else 'one viewer actor on Ray'}; "
          f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print_header(args.diagnose)
    with tempfile.TemporaryDirectory(dir=os.environ.get("VSPEC_HOME")) as tmp:
        if args.diagnose:
            ctx = mp.get_context("spawn")
            urls: mp.Queue = ctx.Queue()
            server = ctx.Process(target=_serve, args=(corpus, urls), daemon=True)
            server.start()
            try:
                samples = asyncio.run(diagnose(args, corpus, Path(tmp), urls.get(timeout=120)))
            finally:
                server.kill()
        else:
            samples = run_on_ray(args, corpus, Path(tmp))
            shown = set()
            for s in samples:
                row_at = s["steps"] // (args.every * args.agents)
                if row_at not in shown:
                    shown.add(row_at)
                    print_row(s, args.agents)
            print_row(samples[-1], args.agents)
    g = growth(samples, args.agents, args.warmup)
    if g:
        a = g["anon"]
        print(f"anonymous memory after the {args.warmup}-scroll warm-up (first tenth) "
              f"{a['warm_mb']:.0f} MB, last tenth {a['end_mb']:.0f} MB ({a['growth']:+.1%}); slope "
              f"{a['slope_mb_per_1000_scrolls']:+.1f} MB per 1,000 scrolls")
        for grp in GROUPS:
            r = g["groups"][grp]
            print(f"  {grp:<12} {r['warm_mb']:7.1f} -> {r['end_mb']:7.1f} MB, slope "
                  f"{r['slope_mb_per_1000_scrolls']:+6.1f} MB per 1,000 scrolls")
        print("  for reference: " + ", ".join(
            f"{k.upper()} {g[k]['warm_mb']:.0f} -> {g[k]['end_mb']:.0f} MB ({g[k]['growth']:+.1%})"
            for k in ("uss", "pss", "rss")))
    if args.figure:
        figure(samples, args.agents, g, args.figure,
               f"{args.agents} Chromium agent(s), {args.model}, {args.scrolls} scrolls")
        print(f"figure: {args.figure}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "samples": samples,
                                               "growth": g}, indent=1, default=str))


if __name__ == "__main__":
    main()

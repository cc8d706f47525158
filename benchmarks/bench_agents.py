"""How the framework scales with the number of agents: steps/s, CPU per step, peak memory.

Agents scroll the HTTP environment (no browser) and ask a scripted backend (a TEST DOUBLE)
with a fixed latency, on this machine's local Ray. The ideal rate is agents / latency; what
the framework costs shows up as CPU seconds per step, split by process:

- driver:  the `SweepRunner` process (event handling, journal, feed server thread);
- actors:  the ViewerActor workers (agents, environment, drawing the post);
- ray:     Ray's own processes (raylet, GCS, ...), during the run.

    python benchmarks/bench_agents.py                          # 10 and 100 agents (quick)
    python benchmarks/bench_agents.py --agents 10 100 1000 2000 --scrolls 100   # the curve
    python benchmarks/bench_agents.py ... --json out.json       # keep the figures

`make bench` runs the quick form; the full curve takes ~15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
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


class StepClock:
    """A progress sink that timestamps every step (the first and last of the run)."""

    def __init__(self) -> None:
        self.n = 0
        self.first = self.last = 0.0

    def step(self, trial, record) -> None:
        now = time.perf_counter()
        if not self.n:
            self.first = now
        self.n += 1
        self.last = now

    def __getattr__(self, name):  # the other runner events are not needed here
        return lambda *a, **k: None


class ProcessSampler(threading.Thread):
    """Every 0.5 s: CPU seconds of every process below this one, and the peak total PSS.

    A process's CPU time is kept from its last sample, so actors killed at the end of the
    sweep still count (up to 0.5 s of their work may be missed). The sampler's own CPU time
    is subtracted from the driver's.
    """

    def __init__(self, cluster: object | None = None) -> None:
        super().__init__(daemon=True)
        import psutil

        self._psutil = psutil
        #: a `TwoNodeCluster` whose processes (started by `ray start`, not children of this
        #: one) are sampled too
        self.cluster = cluster
        self.cpu: dict[int, tuple[str, float]] = {}
        self.base: dict[int, float] = {}
        self.peak_pss = 0
        self.series: list[tuple[float, dict[str, float]]] = []
        self.own_cpu = 0.0
        self._stop_event = threading.Event()
        self._sample(baseline=True)

    @staticmethod
    def kind(cmdline: str) -> str:
        if "FeedActor" in cmdline:
            return "feed"
        if "ViewerActor" in cmdline or "default_worker" in cmdline:
            return "actors"
        return "ray"

    def _sample(self, baseline: bool = False) -> None:
        psutil = self._psutil
        pss = 0
        procs = psutil.Process().children(recursive=True)
        if self.cluster is not None:
            procs += self.cluster.processes()
        for p in procs:
            try:
                t = p.cpu_times()
                cpu = t.user + t.system
                if baseline:
                    self.base[p.pid] = cpu
                    continue
                kind = self.kind(" ".join(p.cmdline()))
                # a worker's title names its actor only once it hosts one (idle workers
                # change it back): a feed process stays one, the others stay actors
                before = self.cpu.get(p.pid, ("",))[0]
                if kind != "feed" and before in ("actors", "feed"):
                    kind = before
                self.cpu[p.pid] = (kind, cpu)
                pss += p.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        if not baseline:
            me = psutil.Process()
            self.peak_pss = max(self.peak_pss, pss + me.memory_full_info().pss)
            t = me.cpu_times()
            totals = self.totals()
            totals["driver"] = t.user + t.system - time.thread_time()  # not the sampler's
            self.series.append((time.perf_counter(), totals))

    def totals(self) -> dict[str, float]:
        out = {"actors": 0.0, "feed": 0.0, "ray": 0.0}
        for pid, (kind, cpu) in self.cpu.items():
            out[kind] += cpu - self.base.get(pid, 0.0)
        return out

    def between(self, t0: float, t1: float) -> dict[str, float]:
        """CPU seconds each kind spent between perf_counter times t0 and t1 (interpolated
        between samples): the steady state, without start-up and the final tables."""
        import numpy as np

        ts = np.array([t for t, _ in self.series])
        return {k: float(np.interp(t1, ts, [c[k] for _, c in self.series])
                         - np.interp(t0, ts, [c[k] for _, c in self.series]))
                for k in ("driver", "feed", "actors", "ray")}

    def run(self) -> None:
        while not self._stop_event.wait(0.5):
            self._sample()
        self.own_cpu = time.thread_time()  # the sampler's own work is not the driver's

    def stop(self) -> dict[str, float]:
        self._stop_event.set()
        self.join()
        return self.totals()


def write_spec(out: Path, agents: int, scrolls: int, latency: float, per_actor: int,
               corpus: Path, screenshots: bool, screenshot: str = "png",
               feed_servers: int = 0, feed_placement: str = "driver") -> Path:
    import yaml

    root = Path(__file__).resolve().parents[1]
    path = out / f"agents-{agents}.yaml"
    path.write_text(yaml.safe_dump(dict(
        name=f"agents-{agents}", personas=["pet_owner"], persona_dir=str(root / "personas"),
        models=[{"spec": "scripted:Yes.", "params": {"latency_s": latency}}],
        platforms=[{"style": "tiktok", "environment": "http",
                    "options": {"screenshot": screenshot}}], strategies=["simple"],
        trials=agents, scrolls=scrolls, window=min(10, scrolls // 2), concurrency=agents,
        agents_per_actor=min(agents, per_actor), corpus=str(corpus), screenshots=screenshots,
        feed_servers=feed_servers, feed_placement=feed_placement,
        output=str(out / f"agents-{agents}"), cache_dir=None)))
    return path


def per_actor(agents: int, asked: int | None) -> int:
    """Agents per actor: as asked, else the fewest that let every actor fit the local Ray."""
    import math

    import ray

    from valuespectrum.placement import VIEWER_CPUS

    if asked:
        return asked
    actors = max(1, math.floor(ray.cluster_resources().get("CPU", 1) / VIEWER_CPUS))
    return math.ceil(agents / actors)


def run(agents: int, args: argparse.Namespace, corpus: Path, out: Path) -> dict:
    import resource

    import psutil

    from valuespectrum.sweep.driver import SweepRunner
    from valuespectrum.sweep.spec import load_sweep_spec

    spec = load_sweep_spec(write_spec(out, agents, args.scrolls, args.latency,
                                      per_actor(agents, args.per_actor), corpus,
                                      args.screenshots, args.screenshot, args.feed_servers,
                                      args.feed_placement))
    clock = StepClock()
    sampler = ProcessSampler(args.cluster)
    me = psutil.Process()
    t0 = me.cpu_times()
    sampler.start()
    wall0 = time.perf_counter()
    SweepRunner(spec, progress=clock, ray_address=args.cluster.address if args.cluster
                else None).run()
    wall = time.perf_counter() - wall0
    t1 = me.cpu_times()
    cpu = sampler.stop()
    cpu["driver"] = (t1.user + t1.system) - (t0.user + t0.system) - sampler.own_cpu
    steps = clock.n
    rate = (steps - 1) / (clock.last - clock.first) if steps > 1 else float("nan")
    per_step = {k: 1e3 * v / max(steps, 1) for k, v in cpu.items()}
    steady = {k: 1e3 * v / max(steps - 1, 1)
              for k, v in sampler.between(clock.first, clock.last).items()}
    return {
        "agents": agents, "per_actor": spec.agents_per_actor,
        "feed_servers": spec.feed_servers, "feed_placement": spec.feed_placement,
        "steps": steps, "wall_s": wall,
        "steps_per_s": rate,
        "ideal_steps_per_s": agents / args.latency, "efficiency": rate * args.latency / agents,
        # all-in: start-up (Ray, imports in every actor), the run and the final tables
        "cpu_ms_per_step": per_step, "framework_cpu_ms_per_step": sum(per_step.values()),
        # steady: from the first step to the last, what each further step costs
        "steady_cpu_ms_per_step": steady, "steady_framework_cpu_ms_per_step": sum(steady.values()),
        "peak_pss_mb": sampler.peak_pss / 2**20,
        "driver_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def projection(rows: list[dict], latency: float, cores: int) -> dict:
    """Steps/s a cluster of N nodes would reach, from the measured steady CPU per step.

    The driver is one process (journal, events, the feed server thread, under one GIL): it
    caps the whole cluster at 1 / driver CPU per step. The actors' and Ray's CPU per step
    spreads over the nodes: N nodes of `cores` cores give N * cores / that. Feed processes
    on the driver's node cap it too (feeds / their CPU per step); with `feed_placement:
    nodes` they run on every viewer node and their CPU per step joins the nodes' share
    instead. And no run is faster than agents / latency. Per-step costs are those of the
    largest run measured.
    """
    big = max(rows, key=lambda r: r["agents"])
    c = big["steady_cpu_ms_per_step"]
    feeds = big["feed_servers"]
    on_nodes = big.get("feed_placement") == "nodes"
    # each feed process is one GIL too: together they serve feeds / (their CPU per step)
    feed_cap = feeds * 1e3 / c["feed"] if feeds and c["feed"] > 0 and not on_nodes \
        else float("inf")
    node_ms = c["actors"] + c["ray"] + (c["feed"] if on_nodes else 0.0)
    return {"driver_cap": min(1e3 / max(c["driver"], 1e-9), feed_cap),
            "per_node": 1e3 * cores / max(node_ms, 1e-9),
            "from_agents": big["agents"], "latency": latency, "cores": cores,
            "feed_servers": 0 if on_nodes else feeds, "feed_placement": big.get(
                "feed_placement", "driver")}


def figure(rows: list[dict], proj: dict, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    agents = np.array([r["agents"] for r in rows])
    xs = np.logspace(np.log10(max(1, agents.min())), np.log10(max(agents.max(), 1) * 10), 60)
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    ax.plot(xs, xs / proj["latency"], ":", color="grey", label="ideal: agents / latency")
    big = max(rows, key=lambda r: r["agents"])
    here = 1e3 * proj["cores"] / big["steady_framework_cpu_ms_per_step"]
    ax.plot(xs, np.minimum(xs / proj["latency"], here), "k--", lw=0.8,
            label=f"this machine: {proj['cores']} cores / all steady CPU per step "
                  f"({here:.0f} steps/s)")
    for n in (1, 4, 16, 64):
        ys = np.minimum.reduce([xs / proj["latency"], np.full_like(xs, n * proj["per_node"]),
                                np.full_like(xs, proj["driver_cap"])])
        ax.plot(xs, ys, "-", lw=1, label=f"projected, {n} node{'s' * (n > 1)} of "
                                         f"{proj['cores']} cores + a driver node")
    who = f"driver + {proj['feed_servers']} feed processes" if proj["feed_servers"] else "driver"
    ax.axhline(proj["driver_cap"], color="red", lw=0.8, ls="--",
               label=f"{who} cap {proj['driver_cap']:.0f} steps/s")
    ax.plot(agents, [r["steps_per_s"] for r in rows], "ko", label="measured, this machine")
    ax.set(xscale="log", yscale="log", xlabel="agents", ylabel="steps/s", title=title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    from _corpus import corpus_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--scrolls", type=int, default=30)
    ap.add_argument("--latency", type=float, default=0.5, help="scripted model latency (s)")
    ap.add_argument("--per-actor", type=int, default=None,
                    help="agents per viewer actor (default: the fewest that let the actors "
                         "fit this machine's Ray, which refuses more)")
    ap.add_argument("--screenshots", action=argparse.BooleanOptionalAction, default=True,
                    help="draw, send and store a screenshot every step")
    ap.add_argument("--screenshot", choices=["png", "jpeg", "none"], default="png",
                    help="the environment's screenshot option: drawn as PNG, drawn straight "
                         "to JPEG, or not drawn (none needs --no-screenshots)")
    ap.add_argument("--shared-drawings", action=argparse.BooleanOptionalAction, default=True,
                    help="the actors share drawn posts through a directory of the node (a "
                         "fresh one, emptied before each row: every row starts cold); "
                         "without: each actor draws for itself (its memory cache only)")
    ap.add_argument("--feed-servers", type=int, default=0,
                    help="feed processes beside the driver (0: the driver serves the feed)")
    ap.add_argument("--feed-placement", choices=["driver", "nodes"], default="driver",
                    help="feed processes on the driver's node, or --feed-servers of them on "
                         "every viewer node (the projection then counts their CPU per node)")
    ap.add_argument("--two-nodes", action="store_true",
                    help="run on a real two-node Ray cluster started on this machine (`ray "
                         "start` twice, 1 CPU each: tests/ray_two_nodes.py), every process of "
                         "it sampled")
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    ap.add_argument("--figure", default=None, help="draw the curve and its projection here")
    ap.add_argument("--from-json", default=None,
                    help="only redraw --figure from the rows of an earlier --json")
    args = ap.parse_args()
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        a = saved["args"]
        figure(saved["rows"], saved["projection"], args.figure,
               f"HTTP env, scripted {a['latency']:g} s, screenshot {a['screenshot']}, "
               f"{a['scrolls']} scrolls/agent, feed servers {a['feed_servers']}")
        return

    import shutil

    from valuespectrum.cluster import start_ray, stop_ray
    from valuespectrum.environments.drawing import DIRECTORY_VARIABLE

    corpus = corpus_dir(args.corpus)
    tmp = tempfile.mkdtemp(dir=os.environ.get("VSPEC_HOME"))
    drawn = Path(tmp) / "drawn-posts"
    # the actors read it at start; they inherit this process's environment through Ray
    os.environ[DIRECTORY_VARIABLE] = str(drawn) if args.shared_drawings else ""
    args.cluster = None
    if args.two_nodes:  # a real two-node Ray cluster on this machine, 1 CPU per node
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from ray_two_nodes import TwoNodeCluster

        args.cluster = TwoNodeCluster(Path(tempfile.mkdtemp(prefix="vspec-ray2-"))).start()
        os.environ["RAY_ADDRESS"] = args.cluster.address
    started = start_ray(args.cluster.address if args.cluster else None, log_to_driver=False)
    print(f"HTTP environment, scripted latency {args.latency} s, {args.scrolls} scrolls/agent, "
          f"{args.per_actor or 'auto'} agents per actor, screenshot {args.screenshot}, stored "
          f"{'yes' if args.screenshots else 'no'}, drawn posts shared by the node's actors "
          f"{'yes' if args.shared_drawings else 'no'}, feed processes {args.feed_servers} "
          f"on {'every viewer node' if args.feed_placement == 'nodes' else 'the driver node'}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print("CPU ms/step: all-in (start-up and final tables included) | steady (first to last "
          "step), split driver/actors/ray")
    print(f"{'agents':>6} {'/actor':>6} {'steps/s':>8} {'ideal':>7} {'eff.':>5} {'all-in':>7} "
          f"{'steady':>7} {'driver':>7} {'feed':>6} {'actors':>7} {'ray':>6} {'peak MB':>8} "
          f"{'MB/agent':>8}")
    rows = []
    try:
        for n in args.agents:
            shutil.rmtree(drawn, ignore_errors=True)  # each row starts with no drawn post
            r = run(n, args, corpus, Path(tmp))
            rows.append(r)
            c = r["steady_cpu_ms_per_step"]
            print(f"{n:>6} {r['per_actor']:>6} {r['steps_per_s']:>8.1f} "
                  f"{r['ideal_steps_per_s']:>7.0f} {r['efficiency']:>5.0%} "
                  f"{r['framework_cpu_ms_per_step']:>7.2f} "
                  f"{r['steady_framework_cpu_ms_per_step']:>7.2f} {c['driver']:>7.2f} "
                  f"{c['feed']:>6.2f} {c['actors']:>7.2f} {c['ray']:>6.2f} "
                  f"{r['peak_pss_mb']:>8.0f} {r['peak_pss_mb'] / n:>8.1f}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    stop_ray(started)
    if args.cluster is not None:
        args.cluster.stop()
        shutil.rmtree(args.cluster.root, ignore_errors=True)
        args.cluster = None  # not a figure of the JSON
    proj = projection(rows, args.latency, os.cpu_count() or 1)
    print(f"projection (steady costs at {proj['from_agents']} agents): "
          f"{proj['per_node']:.0f} steps/s per {proj['cores']}-core node for actors and Ray; "
          f"the driver{' and the feed processes' if proj['feed_servers'] else ''} cap any "
          f"cluster at {proj['driver_cap']:.0f} steps/s"
          + (" (feed processes on the nodes: their CPU counted per node)"
             if proj["feed_placement"] == "nodes" else ""))
    if args.figure:
        figure(rows, proj, args.figure, f"HTTP env, scripted {args.latency:g} s, screenshot "
                                        f"{args.screenshot}, {args.scrolls} scrolls/agent, "
                                        f"feed servers {args.feed_servers}")
        print(f"figure: {args.figure}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows,
                                               "projection": proj}, indent=2))


if __name__ == "__main__":
    main()

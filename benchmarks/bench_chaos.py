"""Chaos soak: one sweep under many faults at once, compared with the same sweep without.

    .venv/bin/python benchmarks/bench_chaos.py [--trials 20] [--scrolls 100] [--rate 0.05]
        [--timeout 2] [--kills 2] [--bounces 2] [--browser-trials 3] [--seed 0] [--corpus DIR]

The viewer is `openai:test-model` on the local OpenAI-compatible TEST SERVER
(tests/models/openai_test_server.py); its answer is a fixed function of the request, so a
run's decisions depend on what the viewer saw and nothing else. The faults, all seeded:

- the model endpoint returns 429 with Retry-After, 500, 503, a reset connection, a hang
  past the client timeout (twice the model's `timeout_s`, which the spec sets to
  `--timeout` seconds), malformed JSON or an empty answer on a fraction `--rate` of
  requests;
- the driver is SIGKILLed once (a `vspec run` subprocess, after a seeded number of
  journaled steps), and the run is resumed in this process;
- while it resumes, `--kills` viewer actors are killed with `ray.kill` (alternately
  restarted by Ray and dead for good) and the feed server is restarted `--bounces` times,
  each at a seeded step;
- then `--browser-trials` trials on Playwright, where every actor's Chromium is killed
  twice and the feed server restarted once, compared with the same run without: the steps
  (viewer `embed:minilm`, which decides from the on-screen text, so Chromium's raster
  noise cannot flip a decision) and every step's screenshot, up to that noise
  (`same_picture`: a post shown without its image, or another post, is a difference).

Printed: faults injected and survived, steps lost and duplicated (both must be 0), whether
`steps.parquet` and `summary.json` equal the fault-free run's, and the slowdown.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests" / "models"))

STABLE = ("trial_id", "step", "item_id", "decision", "action", "watched_s", "watch_ratio",
          "answers", "trial_status")
ENDPOINT_FAULTS = ("429", "500", "503", "reset", "hang", "malformed", "empty")


def answer(body: dict[str, Any]) -> str:
    """The TEST SERVER's reply: Yes or No, a fixed function of the last image it was shown
    (of the text when there is none), so a question asked again gets the same answer."""
    seen: Any = body.get("messages")
    for message in body.get("messages") or []:
        content = message.get("content")
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and part.get("type") == "image_url":
                seen = part["image_url"]
    digest = hashlib.sha256(json.dumps(seen, sort_keys=True).encode()).digest()
    return "Yes." if digest[0] % 2 else "No."


def write_spec(path: Path, name: str, out: Path, corpus: Path, base_url: str, trials: int,
               scrolls: int, seed: int, timeout_s: float) -> Path:
    import yaml

    model = {"spec": "openai:test-model", "name": "chaos-viewer", "base_url": base_url,
             "api_key_env": "VSPEC_CHAOS_KEY", "timeout_s": timeout_s, "retries": 8,
             "backoff_s": 0.05, "backoff_max_s": 0.5, "cache": False}
    platforms = [{"style": "tiktok", "environment": "http"}]
    spec = {"name": name, "persona_dir": str(ROOT / "personas"), "personas": ["pet_owner"],
            "models": [model], "platforms": platforms, "strategies": ["simple"],
            "trials": trials, "scrolls": scrolls, "window": 10, "seed": seed,
            "concurrency": 4, "agents_per_actor": 2, "screenshots": False, "cache_dir": None,
            "corpus": str(corpus), "output": str(out)}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


class Injector:
    """Progress sink that fires each scheduled fault once, in a thread, at its step."""

    def __init__(self, schedule: list[tuple[int, str]]) -> None:
        self.schedule = sorted(schedule)
        self.steps = 0
        self.runner: Any = None
        self.fired: Counter[str] = Counter()
        self.restarts: list[str] = []
        self.threads: list[threading.Thread] = []

    def step(self, trial: Any, record: Any) -> None:
        self.steps += 1
        while self.schedule and self.schedule[0][0] <= self.steps:
            _, kind = self.schedule.pop(0)
            t = threading.Thread(target=self._fire, args=(kind,), daemon=True)
            t.start()
            self.threads.append(t)

    def restart(self, trial: Any, error: str) -> None:
        self.restarts.append(error)

    def _fire(self, kind: str) -> None:
        import ray

        actors = list(self.runner.actors)
        if kind.startswith("kill") and actors:
            ray.kill(actors[self.fired[kind] % len(actors)], no_restart=kind == "kill-for-good")
        elif kind == "bounce" and self.runner.feed_server is not None:
            self.runner.feed_server.restart(down_s=0.5)
        elif kind == "chromium" and actors:  # every actor's browser, mid-trial
            ray.get([a.crash_browser.remote() for a in actors])
        else:
            return
        self.fired[kind] += 1


def journaled(run_dir: Path) -> int:
    from valuespectrum.runs import read_jsonl

    return sum(len(read_jsonl(p)) for p in (run_dir / "journal").glob("*.jsonl")
               if p.name != "_trials.jsonl")


def kill_driver_after(cmd: list[str], env: dict[str, str], run_dir: Path, steps: int) -> bool:
    """Run `vspec run` and SIGKILL it once `steps` steps are journaled; False if it ended."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        while not (run_dir.exists() and journaled(run_dir) >= steps):
            if proc.poll() is not None:
                raise SystemExit(f"the run ended before the driver kill: {proc.stderr.read()}")
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        return True
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def rows(run_dir: Path) -> list[tuple]:
    from valuespectrum.runs import read_table

    return [tuple(r[c] for c in STABLE) for r in read_table(run_dir / "steps.parquet")]


USAGE = ("input_tokens", "output_tokens", "cost_usd")


def without_usage(data: Any) -> Any:
    """`summary.json` without token counts and cost: a question asked again is spent."""
    if isinstance(data, dict):
        return {k: without_usage(v) for k, v in data.items() if k not in USAGE}
    if isinstance(data, list):
        return [without_usage(v) for v in data]
    return data


def compare(clean: Path, chaos: Path) -> tuple[int, set[str], bool]:
    """Compare the chaos run's steps with the fault-free run's.

    An empty reply is asked again with a retry prompt, and that step's `answers` then hold
    both replies; the TEST SERVER answers from the image, so the decision stays the same and
    only those `answers` are left out. An empty reply twice makes the step invalid: the
    model's answer changed, the feed may then differ, and that trial is left out.

    Returns:
        (steps whose answers held a reply asked again, trials left out, the rest equal).
    """
    at, dec = STABLE.index("answers"), STABLE.index("decision")
    a, b = rows(clean), rows(chaos)
    asked_again = [i for i, r in enumerate(b) if "_retry" in str(r[at])]
    left_out = {b[i][0] for i in asked_again if b[i][dec] is None}
    for i in asked_again:
        b[i] = b[i][:at] + (a[i][at] if i < len(a) else None,) + b[i][at + 1:]
    return (len(asked_again), left_out,
            [r for r in a if r[0] not in left_out] == [r for r in b if r[0] not in left_out])


def compare_screens(clean: Path, chaos: Path) -> dict[str, Any]:
    """Each stored screenshot of the chaos run against the fault-free run's.

    Returns `screens_compared`, `screens_identical` (byte for byte), and `screens_differ`:
    the (trial, step) pairs whose pictures differ beyond raster noise (`same_picture`), or
    that one run stored and the other did not.
    """
    from valuespectrum.environments.observation import same_picture

    a = {p.relative_to(clean / "screens") for p in (clean / "screens").rglob("*.jpg")}
    b = {p.relative_to(chaos / "screens") for p in (chaos / "screens").rglob("*.jpg")}
    identical, differ = 0, sorted(str(p) for p in a ^ b)
    for rel in sorted(a & b):
        x, y = (clean / "screens" / rel).read_bytes(), (chaos / "screens" / rel).read_bytes()
        if x == y:
            identical += 1
        elif not same_picture(x, y):
            differ.append(str(rel))
    return {"screens_compared": len(a | b), "screens_identical": identical,
            "screens_differ": differ}


def losses(clean: Path, chaos: Path, scrolls: int) -> tuple[int, int]:
    """(planned steps missing from the chaos run, steps recorded more than once)."""
    from valuespectrum.runs import read_table

    keys = Counter((r["trial_id"], r["step"]) for r in read_table(chaos / "steps.parquet"))
    planned = {(t["trial_id"], s) for t in read_table(clean / "trials.parquet")
               for s in range(scrolls)}
    return len(planned - set(keys)), sum(n - 1 for n in keys.values() if n > 1)


def browser_soak(corpus: Path, work: Path, *, trials: int = 3, scrolls: int = 100,
                 chromium_kills: int = 2, bounces: int = 1, seed: int = 0) -> dict[str, Any]:
    """The Playwright part: Chromium killed and the feed server restarted, at seeded steps.

    The viewer is `embed:minilm`, a CPU viewer of the on-screen text: a browser's
    screenshots are not byte-identical from run to run (an anti-aliased edge a level or two
    apart), and a viewer keyed on their bytes (e.g. `random:0.5`, which the CI once saw
    flip at one step of 60) would differ without any fault. What the viewer was shown is
    compared on its own: every screenshot against the fault-free run's, up to that noise.
    """
    import yaml

    from valuespectrum.cluster import start_ray, stop_ray
    from valuespectrum.runs import read_table
    from valuespectrum.sweep.driver import SweepRunner
    from valuespectrum.sweep.spec import load_sweep_spec

    def spec(name: str) -> Path:
        path = work / f"{name}.yaml"
        path.write_text(yaml.safe_dump({
            "name": "soak-browser", "persona_dir": str(ROOT / "personas"),
            "personas": ["pet_owner"], "models": ["embed:minilm"],
            "platforms": [{"style": "tiktok", "environment": "playwright"}],
            "strategies": ["simple"], "trials": trials, "scrolls": scrolls, "window": 10,
            "seed": seed, "concurrency": trials, "agents_per_actor": trials,
            "max_restarts": 6, "screenshots": True, "cache_dir": None,
            "corpus": str(corpus), "output": str(work / name)}, sort_keys=False))
        return path

    started = start_ray(num_cpus=2, log_to_driver=False)
    try:
        t0 = time.time()
        SweepRunner(load_sweep_spec(spec("browser-clean"))).run()
        clean_s = time.time() - t0
        rng = random.Random(seed + 1)
        total = trials * scrolls
        kinds = ["chromium"] * chromium_kills + ["bounce"] * bounces
        sink = Injector([(rng.randrange(total // 10, total * 3 // 4), k) for k in kinds])
        sink.runner = runner = SweepRunner(load_sweep_spec(spec("browser-chaos")),
                                           progress=sink)
        t0 = time.time()
        outcome = runner.run()
        for t in sink.threads:
            t.join()
        chaos_s = time.time() - t0
        lost, duplicated = losses(work / "browser-clean", work / "browser-chaos", scrolls)
        trials_table = read_table(work / "browser-chaos" / "trials.parquet")
        return {
            "steps": total, "faults_injected": dict(sink.fired), "fatal": outcome.fatal,
            "statuses": dict(Counter(t["status"] for t in trials_table)),
            "trial_restarts": len(sink.restarts), "steps_lost": lost,
            "steps_duplicated": duplicated,
            "steps_equal": rows(work / "browser-chaos") == rows(work / "browser-clean"),
            **compare_screens(work / "browser-clean", work / "browser-chaos"),
            "clean_s": clean_s, "chaos_s": chaos_s, "slowdown": chaos_s / clean_s,
        }
    finally:
        stop_ray(started)


def soak(corpus: Path, work: Path, *, trials: int = 20, scrolls: int = 100, rate: float = 0.05,
         kills: int = 2, bounces: int = 2, seed: int = 0, timeout_s: float = 2.0
         ) -> dict[str, Any]:
    """Run the fault-free sweep and the chaos sweep; returns the figures (see module doc).

    `timeout_s` is the model's request timeout in both specs; a hang lasts twice as long.
    """
    import ray
    from openai_test_server import OpenAITestServer

    from valuespectrum.cluster import start_ray
    from valuespectrum.runs import read_table
    from valuespectrum.sweep.driver import SweepRunner
    from valuespectrum.sweep.spec import load_sweep_spec

    saved_key = os.environ.get("VSPEC_CHAOS_KEY")
    os.environ["VSPEC_CHAOS_KEY"] = "sk-test-double"  # the test server checks no key
    started = start_ray(num_cpus=2, log_to_driver=False)
    server = OpenAITestServer(reply_fn=answer).start()
    try:
        total = trials * scrolls
        clean_spec = write_spec(work / "clean.yaml", "soak", work / "clean", corpus, server.url,
                                trials, scrolls, seed, timeout_s)
        t0 = time.time()
        clean = SweepRunner(load_sweep_spec(clean_spec)).run()
        clean_s = time.time() - t0
        clean_requests = len(server.requests)

        rng = random.Random(seed)
        server.chaos(rate, seed=seed, kinds=ENDPOINT_FAULTS, hang_s=2 * timeout_s)
        spec = write_spec(work / "chaos.yaml", "soak", work / "chaos", corpus, server.url,
                          trials, scrolls, seed, timeout_s)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0"}
        cmd = [sys.executable, "-m", "valuespectrum.cli", "run", str(spec), "--plain",
               "--no-report", "--ray-address", ray.get_runtime_context().gcs_address]
        t0 = time.time()
        kill_at = rng.randrange(total // 10, total // 4)
        driver_killed = kill_driver_after(cmd, env, work / "chaos", kill_at)
        before = journaled(work / "chaos")
        remaining = max(1, total - before)
        kinds = ["kill-restarted" if i % 2 == 0 else "kill-for-good" for i in range(kills)]
        kinds += ["bounce"] * bounces
        schedule = [(rng.randrange(remaining // 10, remaining * 3 // 4), k) for k in kinds]
        sink = Injector(schedule)
        sink.runner = runner = SweepRunner(load_sweep_spec(spec), progress=sink)
        outcome = runner.run()
        for t in sink.threads:
            t.join()
        chaos_s = time.time() - t0

        steps = read_table(work / "chaos" / "steps.parquet")
        keys = Counter((r["trial_id"], r["step"]) for r in steps)
        planned = {(t["trial_id"], s) for t in read_table(work / "clean" / "trials.parquet")
                   for s in range(scrolls)}
        summary = [without_usage(json.loads((work / d / "summary.json").read_text()))
                   for d in ("clean", "chaos")]
        asked_again, left_out, same = compare(work / "clean", work / "chaos")
        statuses = Counter(t["status"] for t in read_table(work / "chaos" / "trials.parquet"))
        injected = Counter({f"endpoint {k}": n for k, n in server.faults.items()})
        injected.update({k: n for k, n in sink.fired.items()})
        injected["driver SIGKILL"] = int(driver_killed)
        return {
            "steps": total, "clean_s": clean_s, "chaos_s": chaos_s,
            "slowdown": chaos_s / clean_s, "clean_statuses": clean.statuses,
            "statuses": dict(statuses), "fatal": outcome.fatal,
            "faults_injected": dict(injected), "faults_total": sum(injected.values()),
            "faults_survived": sum(injected.values()) if statuses == {"done": trials} else 0,
            "trial_restarts": len(sink.restarts),
            "steps_lost": len(planned - set(keys)),
            "steps_duplicated": sum(n - 1 for n in keys.values() if n > 1),
            "asked_again": asked_again, "trials_left_out": sorted(left_out),
            "steps_equal": same,
            "summary_equal": None if left_out else summary[0] == summary[1],
            "model_requests": {"clean": clean_requests,
                               "chaos": len(server.requests) - clean_requests},
        }
    finally:
        server.stop()
        if saved_key is None:
            os.environ.pop("VSPEC_CHAOS_KEY", None)
        else:
            os.environ["VSPEC_CHAOS_KEY"] = saved_key
        if started:
            ray.shutdown()


def main() -> None:
    from _corpus import corpus_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--scrolls", type=int, default=100)
    ap.add_argument("--rate", type=float, default=0.05)
    ap.add_argument("--timeout", type=float, default=2.0,
                    help="the model's request timeout (s); a hang lasts twice as long")
    ap.add_argument("--kills", type=int, default=2)
    ap.add_argument("--bounces", type=int, default=2)
    ap.add_argument("--browser-trials", type=int, default=3,
                    help="Playwright trials of `--scrolls` steps with Chromium killed (0: none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--corpus", default=None)
    args = ap.parse_args()
    from valuespectrum.cluster import start_ray, stop_ray

    # one Ray for both parts: a Ray stopped in this process leaves its gRPC threads behind,
    # and start_ray rightly refuses to fork a second one from such a process
    started = start_ray(num_cpus=2, log_to_driver=False)
    with tempfile.TemporaryDirectory(prefix="vspec-chaos-") as tmp:
        fig = soak(corpus_dir(args.corpus), Path(tmp), trials=args.trials,
                   scrolls=args.scrolls, rate=args.rate, kills=args.kills,
                   bounces=args.bounces, seed=args.seed, timeout_s=args.timeout)
        page = (browser_soak(corpus_dir(args.corpus), Path(tmp), trials=args.browser_trials,
                             scrolls=args.scrolls, seed=args.seed)
                if args.browser_trials else None)
    stop_ray(started)
    print(f"chaos soak: {fig['steps']:,} steps ({args.trials} HTTP trials x {args.scrolls}), "
          f"endpoint fault rate {args.rate:g}, model timeout {args.timeout:g} s, "
          f"seed {args.seed}")
    for kind, n in sorted(fig["faults_injected"].items()):
        print(f"  {kind:<24} {n}")
    print(f"faults injected     {fig['faults_total']}")
    print(f"faults survived     {fig['faults_survived']}")
    print(f"trial restarts      {fig['trial_restarts']}")
    print(f"trials              {fig['statuses']} (fault-free: {fig['clean_statuses']})")
    print(f"steps lost          {fig['steps_lost']} (must be 0)")
    print(f"steps duplicated    {fig['steps_duplicated']} (must be 0)")
    print(f"steps.parquet equal {fig['steps_equal']} ({fig['asked_again']} steps had an empty "
          f"reply asked again; trials left out as an answer changed: "
          f"{len(fig['trials_left_out'])})")
    summary = fig["summary_equal"]
    print(f"summary.json equal  {'n/a (an answer changed)' if summary is None else summary} "
          "(token counts and cost aside: retried requests are spent)")
    print(f"model requests      {fig['model_requests']}")
    print(f"wall                fault-free {fig['clean_s']:.1f} s, chaos {fig['chaos_s']:.1f} s "
          f"(slowdown x{fig['slowdown']:.2f})")
    bad = fig["steps_lost"] or fig["steps_duplicated"] or fig["fatal"]
    if page is not None:
        print(f"\nPlaywright: {page['steps']:,} steps ({args.browser_trials} trials x "
              f"{args.scrolls}), viewer embed:minilm (reads the on-screen text)")
        for kind, n in sorted(page["faults_injected"].items()):
            print(f"  {kind:<24} {n}")
        print(f"trial restarts      {page['trial_restarts']}")
        print(f"trials              {page['statuses']}")
        print(f"steps lost          {page['steps_lost']} (must be 0)")
        print(f"steps duplicated    {page['steps_duplicated']} (must be 0)")
        print(f"steps.parquet equal {page['steps_equal']}")
        print(f"screenshots         {page['screens_compared']} compared, "
              f"{page['screens_identical']} byte-identical, "
              f"{len(page['screens_differ'])} different beyond raster noise (must be 0)")
        print(f"wall                fault-free {page['clean_s']:.1f} s, chaos "
              f"{page['chaos_s']:.1f} s (slowdown x{page['slowdown']:.2f})")
        bad = (bad or page["steps_lost"] or page["steps_duplicated"] or page["fatal"]
               or page["screens_differ"])
    if bad:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

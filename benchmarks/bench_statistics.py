"""How long a sweep's statistics take: 10 cells x 30 trials x 100 scrolls (30,000 steps).

Writes a synthetic run directory (journals as the driver writes them; answers drawn with a
known drift on the learning feeds and none on the controls), then times `summarize`: the
contrasts on every estimand in both readings, curves with their bands, bootstraps, Holm and
the trial-clustered logistic regressions.
Goal: under 10 s. Prints the figure and what the statistics found.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = ("tiktok", "tiktok-frozen", "youtube", "youtube-frozen", "random")
STRATEGIES = ("simple", "isq")
TRIALS, SCROLLS, WINDOW = 30, 100, 50


def write_run(root: Path) -> object:
    from valuespectrum.runs import RunDirectory
    from valuespectrum.sweep.results import SweepResults, TrialRecord
    from valuespectrum.sweep.spec import SweepSpec
    from valuespectrum.types import StepRecord

    spec = SweepSpec(name="bench", personas=["pet_owner"], persona_dir=str(ROOT / "personas"),
                     models=["embed:minilm"], platforms=list(PLATFORMS),
                     strategies=list(STRATEGIES), trials=TRIALS, scrolls=SCROLLS,
                     window=WINDOW)
    rng = np.random.default_rng(0)
    run = RunDirectory(root, "sweep")
    run.acquire()
    results = SweepResults(run)
    for platform in PLATFORMS:
        rise = 0.0 if platform.endswith("frozen") or platform == "random" else 0.2
        p = 0.25 + rise * np.linspace(0, 1, SCROLLS)
        for strategy in STRATEGIES:
            cell = f"pet_owner|embed-minilm|{platform}|{strategy}"
            for i in range(TRIALS):
                tid = f"pet_owner.embed-minilm.{platform}.{strategy}.{i:03d}"
                yes = rng.random(SCROLLS) < p
                rows = [(StepRecord(trial_id=tid, cell=cell, persona="pet_owner",
                                    model="embed-minilm", platform=platform,
                                    strategy=strategy, step=s, decision=int(yes[s]),
                                    value_tags=("benevolence",) if rng.random() < 0.2 else ()),
                         None) for s in range(SCROLLS)]
                for record, jpeg in rows:
                    results.stage_step(record, jpeg)
                results.finish_trial(TrialRecord(
                    trial_id=tid, cell=cell, persona="pet_owner", model="embed-minilm",
                    platform=platform, strategy=strategy, index=i, seed=i, status="done",
                    steps=SCROLLS))
    run.release()
    return spec


def main() -> None:
    from valuespectrum.sweep.summary import summarize

    with tempfile.TemporaryDirectory() as tmp:
        spec = write_run(Path(tmp))
        summarize(tmp, spec)  # warm: imports of scipy/statsmodels are not the statistics
        t0 = time.perf_counter()
        s = summarize(tmp, spec)
        seconds = time.perf_counter() - t0
    steps = sum(c["steps"] for c in s["cells"])
    print(f"statistics of {len(s['cells'])} cells, {steps} steps, {len(s['contrasts'])} "
          f"contrasts: {seconds:.2f} s (goal < 10 s)")
    from valuespectrum.report.contrast_rows import comparisons, fmt, fmt_ci, p_text

    for c in comparisons(s):  # the declared plan's estimand and reading
        print(f"  {c['treatment']:<44} - {c['control']:<44} {c['estimand']} {fmt(c['diff'])} "
              f"{fmt_ci(c['ci'])} {p_text(c)}")


if __name__ == "__main__":
    main()

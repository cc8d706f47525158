"""`vspec power`: how many trials a sweep's declared analysis needs, before it runs.

The inputs of the simulation (`valuespectrum.metrics.power`) come from a finished pilot
run (its matched control arm: the mean and spread of its trials' session yes-rates, the
correlation of a pair's two trials, the lag-1 correlation of answers; its learning arm: the
spread of its trials' session yes-rates) or, for a spec, are
stated assumptions the command prints; either may be overridden.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from valuespectrum.config import ConfigError
from valuespectrum.engine.reader import RunReader
from valuespectrum.feed.recommenders import STYLES, controls_of
from valuespectrum.metrics.power import (
    DEFAULT_INPUTS,
    PowerInputs,
    lag1_correlation,
    power,
    trials_for,
)
from valuespectrum.sweep.estimands import TrialData
from valuespectrum.sweep.spec import SweepSpec


def family_size(spec: SweepSpec) -> int:
    """How many contrasts the declared plan's confirmatory family will hold."""
    plan = spec.analysis
    if plan.confirmatory == "named":
        return max(1, len(spec.contrasts))
    styles = [p.style for p in spec.platforms]
    per_learning = 0
    for p in spec.platforms:
        controls = controls_of(p.style, set(styles))
        if plan.confirmatory == "twins":
            controls = [c for c in controls if c != "random"]
        per_learning += sum(1 for q in spec.platforms if q.style in controls and p.matches(q))
    personas = len(spec.persona_list) if plan.per_persona or len(spec.persona_list) == 1 \
        else 1
    return max(1, per_learning * len(spec.models) * len(spec.strategies) * personas)


def inputs_from_spec(spec: SweepSpec, **overrides: float) -> PowerInputs:
    """The stated assumptions (`DEFAULT_INPUTS`), with `overrides`, at the spec's sizes."""
    values = {**DEFAULT_INPUTS, **{k: v for k, v in overrides.items() if v is not None}}
    return PowerInputs(scrolls=spec.scrolls, window=spec.window, source="assumed", **values)


def inputs_from_run(run_dir: Path, spec: SweepSpec, **overrides: float) -> PowerInputs:
    """Inputs measured on a pilot run's matched control arm (frozen twins, else `random`)."""
    reader = RunReader(run_dir, "sweep")
    records = {t: r for t, r in reader.trial_records().items() if r.status == "done"}
    if not records:
        raise ConfigError(f"{run_dir}: no finished trial to measure a pilot from")
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in reader.step_rows(sorted(records)):
        rows.setdefault(row["trial_id"], []).append(row)
    style = {p.label: p.style for p in spec.platforms}
    trials = {t: TrialData(t, rows.get(t, []), spec.scrolls, r.seed) for t, r in records.items()}

    def role(platform: str) -> str | None:
        s = STYLES.get(style.get(platform, platform))
        if s is None:
            return None
        if s.learning:
            return "learning"
        return "random" if s.name == "random" else "twin"

    by_role: dict[str, list[str]] = {}
    for t, r in records.items():
        by_role.setdefault(role(r.platform) or "", []).append(t)
    control = "twin" if by_role.get("twin") else "random"
    if not by_role.get(control):
        raise ConfigError(f"{run_dir}: the pilot has no control-feed trials (a frozen twin or "
                          "random) to measure from")
    c_ids = by_role[control]
    rates = np.array([trials[t].values(spec.window)["session"] for t in c_ids])
    rates = rates[np.isfinite(rates)]
    # a pair: the same persona, model, strategy and seed on a learning feed and the control
    key = {t: (records[t].persona, records[t].model, records[t].strategy, records[t].seed)
           for t in records}
    learning = {key[t]: t for t in by_role.get("learning", [])}
    pairs = [(trials[learning[key[c]]].values(spec.window)["session"],
              trials[c].values(spec.window)["session"]) for c in c_ids if key[c] in learning]
    pairs = [p for p in pairs if all(map(math.isfinite, p))]
    x = np.array(pairs).T if len(pairs) > 2 else np.zeros((2, 0))
    learned = np.array([trials[t].values(spec.window)["session"]
                        for t in by_role.get("learning", [])])
    learned = learned[np.isfinite(learned)]
    corr = float(np.corrcoef(x)[0, 1]) if x.shape[1] and (x.std(axis=1) > 0).all() else 0.0
    measured = {
        "base_rate": float(rates.mean()) if rates.size else DEFAULT_INPUTS["base_rate"],
        "between_sd": float(rates.std(ddof=1)) if rates.size > 1 else 0.0,
        "pair_corr": min(max(corr if math.isfinite(corr) else 0.0, 0.0), 0.95),
        "lag1": min(max(lag1_correlation([trials[t].decisions for t in c_ids]), 0.0), 0.95),
        # a learning feed's trials spread more than its twin's: power from the twin alone
        # would be far too hopeful
        "treatment_sd": min(float(learned.std(ddof=1)), 0.499) if learned.size > 1 else None,
    }
    measured = {k: (v if v is None else DEFAULT_INPUTS.get(k) if not math.isfinite(v)
                    else round(v, 4)) for k, v in measured.items()}
    values = {**measured, **{k: v for k, v in overrides.items() if v is not None}}
    return PowerInputs(scrolls=spec.scrolls, window=spec.window,
                       source=f"pilot run {run_dir} ({len(c_ids)} {control} trials, "
                              f"{len(pairs)} pairs)", **values)


def power_table(spec: SweepSpec, inputs: PowerInputs, effects: list[float], *,
                trials: int | None = None, target: float = 0.8, sims: int = 400,
                shape: str = "step", max_trials: int = 1000, seed: int = 0
                ) -> list[dict[str, Any]]:
    """Per effect: the power at `trials` (default: the spec's) and the trials for `target`."""
    plan = spec.analysis
    n = trials or spec.trials
    common = {"estimand": plan.estimand, "paired": plan.reading == "paired",
              "alpha": plan.alpha, "family": family_size(spec), "sims": sims, "shape": shape,
              "seed": seed}
    inputs.check()
    # pooled over K personas as fixed strata: K x trials pairs (with the same inputs)
    k = len(spec.persona_list) if len(spec.persona_list) > 1 and not plan.per_persona else 1
    out = []
    for e in effects:
        total = trials_for(inputs, effect=e, target=target, max_trials=max_trials * k, **common)
        out.append({"effect": e, "trials": n, "personas_pooled": k,
                    "power": power(inputs, trials=n * k, effect=e, **common),
                    "trials_for_target": None if total is None else math.ceil(total / k)})
    return out

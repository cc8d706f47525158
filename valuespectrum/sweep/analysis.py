"""A sweep's declared analysis plan: the spec's ``analysis:`` block.

The plan is fixed before the run and is part of the run's fingerprint (with ``window``),
so it cannot change after the results are seen: a changed plan run into the same run
directory is refused, naming the field. ``vspec report --analysis KEY=VALUE`` may read a
finished run another way; everything it writes is then labelled exploratory, with how it
differs from the declared plan.

Example::

    analysis:
      estimand: session      # session | exposure | last_window | delta | i_avg
      reading: paired        # paired (trial i against trial i: one seed) | unpaired
      alpha: 0.05
      confirmatory: twins    # twins | controls | named (the spec's `contrasts:`)
      personas: fixed        # fixed strata | sampled (personas are the units)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from valuespectrum.config import ConfigError, validate
from valuespectrum.types import Frozen

#: Per-trial values a contrast can be read on, in the order tables show them.
ESTIMANDS: dict[str, str] = {
    "session": "yes-rate over all valid answers of the trial (the session)",
    "exposure": "share of the trial's served posts relevant to the persona by its "
                "relevance labels (ground truth, independent of the viewer's answers)",
    "exposure_values": "share of the trial's served posts carrying one of the persona's "
                       "values (value tags of the corpus)",
    "last_window": "yes-rate over the trial's last window",
    "delta": "yes-rate in the last window minus the first (the paper's drift, Δ)",
    "i_avg": "(last − first) / first window yes-rate, the paper's I_avg term; trials with "
             "no yes in the first window have none",
}

Estimand = Literal["session", "exposure", "last_window", "delta", "i_avg"]


class AnalysisPlan(Frozen):
    """What a sweep's headline reports, declared before the run."""

    estimand: Estimand = Field("session", description="the primary estimand")
    reading: Literal["paired", "unpaired"] = Field(
        "paired", description="paired by seed (trial i against trial i) or unpaired")
    alpha: float = Field(0.05, gt=0, lt=0.5, description="level of tests and intervals")
    confirmatory: Literal["twins", "controls", "named"] = Field(
        "twins", description="the confirmatory family: each learning feed against its "
        "frozen twin (twins), against every control feed (controls), or the spec's "
        "`contrasts:` (named); every other contrast is exploratory")
    per_persona: bool = Field(
        False, description="with several personas, each persona's contrast is confirmatory "
        "(default: the personas-pooled contrast is, each persona's is exploratory)")
    personas: Literal["fixed", "sampled"] = Field(
        "fixed", description="personas are fixed strata, or a sample of a population")
    bins: int = Field(20, ge=1, le=10_000, description="scroll bins of the curves")

    def fingerprint_data(self, window: int) -> dict[str, Any]:
        """What the plan fingerprint holds: every field, and the spec's window."""
        return {**self.model_dump(mode="json"), "window": window}

    def differences(self, declared: AnalysisPlan, window: int, declared_window: int
                    ) -> list[str]:
        """``field: declared -> this`` for every field in which this plan departs."""
        a, b = declared.fingerprint_data(declared_window), self.fingerprint_data(window)
        return [f"{k} {b[k]} instead of {a[k]}" for k in a if a[k] != b[k]]


def parse_overrides(pairs: list[str], source: str = "--analysis") -> dict[str, Any]:
    """``["estimand=delta", "alpha=0.01"]`` -> a dict of plan fields (window included).

    Raises:
        ConfigError: a pair without ``=`` or an unknown field.
    """
    out: dict[str, Any] = {}
    known = set(AnalysisPlan.model_fields) | {"window"}
    for pair in pairs:
        for item in (p for p in pair.split(",") if p.strip()):
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or not key:
                raise ConfigError(f"{source}: expected KEY=VALUE, got {item!r}")
            if key not in known:
                raise ConfigError(f"{source}: unknown field {key!r}; expected one of "
                                  f"{', '.join(sorted(known))}")
            out[key] = value.strip()
    return out


def override(plan: AnalysisPlan, window: int, overrides: dict[str, Any],
             source: str = "--analysis") -> tuple[AnalysisPlan, int]:
    """The plan and window with `overrides` applied (validated like the spec's block)."""
    data = {**plan.model_dump(mode="json"), **{k: v for k, v in overrides.items()
                                               if k != "window"}}
    new = validate(AnalysisPlan, data, source)
    if "window" not in overrides:
        return new, window
    try:
        w = int(overrides["window"])
    except ValueError:
        raise ConfigError(f"{source}: window must be an integer, got "
                          f"{overrides['window']!r}") from None
    if w < 1:
        raise ConfigError(f"{source}: window must be at least 1, got {w}")
    return new, w

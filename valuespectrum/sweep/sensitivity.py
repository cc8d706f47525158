"""Sensitivity of a sweep's results to one parameter: the same sweep at several values.

    vspec sensitivity experiments/demo.yaml \\
        --param recommenders.tiktok.warmup_views=0,10,25,50,100

Each value is a normal run (resumable, refused on a changed plan) in
``OUTPUT/<param>=<value>/``; ``OUTPUT/sensitivity.json`` and ``sensitivity.png`` plot the
lead contrast (each learning group against its matched control, on the declared estimand),
Δ and I_avg (with its null value) against the parameter, with their intervals, for every
model x platform x strategy group.
Publish this beside any result whose parameters were set by hand.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from valuespectrum.cluster import start_ray, stop_ray
from valuespectrum.config import ConfigError, read_yaml
from valuespectrum.engine.reader import RunReader
from valuespectrum.report.contrast_rows import comparisons
from valuespectrum.runs import write_json
from valuespectrum.sweep.driver import SweepRunner
from valuespectrum.sweep.spec import SweepSpec, sweep_spec_from_data
from valuespectrum.sweep.summary_model import ContrastRow, GroupRow, SweepSummary


def parse_assignment(text: str, many: bool) -> tuple[list[str], list[Any]]:
    """``a.b.c=1,2`` -> (["a", "b", "c"], [1, 2]); values are read as YAML scalars."""
    path, sep, values = text.partition("=")
    if not sep or not path.strip() or not values.strip():
        raise ConfigError(f"{text!r}: expected PATH=VALUE{',VALUE...' if many else ''}, e.g. "
                          "recommenders.tiktok.warmup_views=0,10,50")
    parts = [yaml.safe_load(v) for v in values.split(",")] if many else [yaml.safe_load(values)]
    return path.strip().split("."), parts


def set_path(data: dict[str, Any], path: list[str], value: Any, source: str) -> None:
    node = data
    for i, key in enumerate(path[:-1]):
        nxt = node.get(key)
        if nxt is None:
            nxt = node[key] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"{source}: {'.'.join(path[:i + 1])} is {nxt!r}, not a mapping; "
                              "cannot set " + ".".join(path))
        node = nxt
    node[path[-1]] = value


def variants(spec_path: str | Path, param: str, sets: list[str] | None = None
             ) -> tuple[str, list[tuple[Any, dict[str, Any]]], dict[str, Any]]:
    """(parameter name, [(value, spec data)], base data) for each value of `param`."""
    spec_path = Path(spec_path)
    data, _ = read_yaml(spec_path)
    if not isinstance(data, dict) or data.get("kind", "sweep") != "sweep":
        raise ConfigError(f"{spec_path}: sensitivity runs a sweep spec (kind: sweep)")
    for s in sets or []:
        path, (value,) = parse_assignment(s, many=False)
        set_path(data, path, value, str(spec_path))
    path, values = parse_assignment(param, many=True)
    out = []
    for v in values:
        variant = copy.deepcopy(data)
        set_path(variant, path, v, str(spec_path))
        out.append((v, variant))
    return ".".join(path), out, data


def _row(value: Any, group: GroupRow, contrast: ContrastRow | None) -> dict[str, Any]:
    def some(stats: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any]:
        return {k: (stats or {}).get(k) for k in keys}

    return {"value": value, "model": group.model, "platform": group.platform,
            "strategy": group.strategy, "delta": group.delta,
            "session": some(group.session, ("value", "ci")),
            "trend": some(group.trend, ("slope", "ci", "p_value")),
            "i_avg": some(group.i_avg, ("value", "ci")),
            "i_avg_null": group.i_avg_null,
            "contrast": None if contrast is None else contrast.model_dump(
                include={"control", "estimand", "reading", "diff", "ci", "p_value",
                         "p_adjusted", "family"})}


def run_sensitivity(spec_path: str | Path, param: str, *, sets: list[str] | None = None,
                    output: str | Path | None = None, ray_address: str | None = None,
                    restart: bool = False,
                    make_progress: Callable[[SweepSpec], Any] | None = None) -> Path:
    """Run the sweep once per value of `param`; returns OUTPUT/sensitivity.json."""


    name, runs, base = variants(spec_path, param, sets)
    specs = [(v, sweep_spec_from_data(d, Path(spec_path).parent, f"{spec_path} ({name}={v})"))
             for v, d in runs]
    root = Path(output) if output else specs[0][1].output_dir().with_name(
        f"{specs[0][1].output_dir().name}-sensitivity")
    started = start_ray(ray_address)
    rows, statuses = [], {}
    try:
        for value, spec in specs:
            out = root / f"{name}={value}"
            outcome = SweepRunner(spec, ray_address=ray_address, restart=restart, output=out,
                                  progress=make_progress(spec) if make_progress else None).run()
            statuses[str(value)] = outcome.statuses or {"resumed": outcome.skipped}
            summary = RunReader(out, "sweep").summary(SweepSummary)
            leads = comparisons(summary)  # the declared estimand and reading
            if summary.several_personas():
                pooled = [c for c in leads if "pooled" in c.kind]
            else:
                pooled = [c for c in leads if c.kind == "control feed"]
            for g in summary.groups:  # the first control is the matched one (the twin)
                match = next((c for c in pooled
                              if (c.treatment_cell.model, c.treatment_cell.platform,
                                  c.treatment_cell.strategy)
                              == (g.model, g.platform, g.strategy)), None)
                rows.append(_row(value, g, match))
    finally:
        stop_ray(started)
    result = {"parameter": name, "values": [v for v, _ in specs], "spec": str(spec_path),
              "fixed": sets or [], "statuses": statuses, "rows": rows}
    path = write_json(root / "sensitivity.json", result)
    figure_sensitivity(result, root / "sensitivity.png")
    return path


def figure_sensitivity(result: dict[str, Any], path: Path) -> Path:
    """The lead contrast with the matched control, Δ and I_avg (dotted: its null value)
    against the parameter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    keys = sorted({(r["model"], r["platform"], r["strategy"]) for r in rows})
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    xs_all = sorted({r["value"] for r in rows}, key=lambda v: (str(type(v)), v))
    pos = {v: i for i, v in enumerate(xs_all)}
    for k, key in enumerate(keys):
        mine = sorted((r for r in rows if (r["model"], r["platform"], r["strategy"]) == key),
                      key=lambda r: pos[r["value"]])
        x = [pos[r["value"]] + (k - len(keys) / 2) * 0.04 for r in mine]
        label = " / ".join(key)
        for ax, get in zip(axes, (lambda r: (r["contrast"]["diff"], r["contrast"]["ci"])
                                  if r.get("contrast") else (None, [None, None]),
                                  lambda r: (r["delta"]["value"], r["delta"]["ci"]),
                                  lambda r: (r["i_avg"]["value"], r["i_avg"]["ci"])), strict=True):
            pts = [get(r) for r in mine]
            y = [p[0] if p[0] is not None else float("nan") for p in pts]
            err = [[(p[0] - p[1][0]) if p[0] is not None and p[1][0] is not None else 0 for p in pts],
                   [(p[1][1] - p[0]) if p[0] is not None and p[1][1] is not None else 0 for p in pts]]
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=label)
        axes[2].plot(x, [r["i_avg_null"] if r["i_avg_null"] is not None else float("nan")
                         for r in mine], ":", color="grey")
    titles = ("lead contrast: learning − matched control", "Δ yes-rate (last − first window)",
              "I_avg % (dotted: value under no effect)")
    for ax, title in zip(axes, titles, strict=True):
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(xs_all)))
        ax.set_xticklabels([str(v) for v in xs_all])
        ax.set_xlabel(result["parameter"])
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Sensitivity to {result['parameter']} (95% CIs)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

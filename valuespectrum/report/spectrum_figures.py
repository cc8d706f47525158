"""Matplotlib (Agg) figures of the Value-Spectrum report: Figures 2, 5, 6, 7 and 9.

Inputs are plain dicts (value names -> numbers) so that the figures can be drawn from a
summary without the run's tables. Values are drawn in the paper's order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from valuespectrum.types import SchwartzValue

ORDER = [v.value for v in SchwartzValue]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _label(v: str) -> str:
    return SchwartzValue(v).label if v in ORDER else v


def _values(*dicts: dict[str, Any]) -> list[str]:
    present = {v for d in dicts for v in d}
    return [v for v in ORDER if v in present] + sorted(present - set(ORDER))


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    _plt().close(fig)
    return path


def figure_abundance(ab: dict[str, Any], path: Path) -> Path:
    """Figure 2: one column per value; a circle per keyword, area proportional to the
    number of screenshots within the radius; the value's total (union) above the column."""
    plt = _plt()
    per_kw: dict[str, dict[str, int]] = ab["per_keyword"]
    per_value: dict[str, int] = ab["per_value"]
    values = _values(per_kw)
    most = max([n for kws in per_kw.values() for n in kws.values()] + [1])
    rows = max(len(per_kw[v]) for v in values) if values else 1
    fig, ax = plt.subplots(figsize=(max(8, 1.35 * len(values)), 1.0 + 0.75 * rows))
    cmap = plt.get_cmap("tab10")
    for i, v in enumerate(values):
        for j, (kw, n) in enumerate(per_kw[v].items()):
            ax.scatter(i, -j, s=20 + 1400 * n / most, alpha=0.35, color=cmap(i % 10),
                       edgecolors=cmap(i % 10))
            ax.annotate(f"{kw}\n{n}", (i, -j), ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(values)))
    ax.set_xticklabels([f"{_label(v)}\n(n={per_value.get(v, 0)})" for v in values], fontsize=8)
    ax.set_yticks([])
    ax.set_xlim(-0.6, len(values) - 0.4)
    ax.set_ylim(-rows + 0.4, 0.6)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"Screenshots within L2 {ab['radius']:g} of each keyword "
                 f"({ab.get('total', '?')} in the store)")
    return _save(fig, path)


def figure_radar(means: dict[str, dict[str, float | None]], path: Path) -> Path:
    """Figure 5: one radar chart per model over the ten values (scores 0..1)."""
    import numpy as np

    plt = _plt()
    models = list(means)
    values = _values(*means.values())
    cols = min(3, len(models))
    nrows = (len(models) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 4.0 * nrows),
                             subplot_kw={"projection": "polar"}, squeeze=False)
    angles = np.linspace(0, 2 * np.pi, len(values), endpoint=False).tolist()
    cmap = plt.get_cmap("tab10")
    for k, ax in enumerate(axes.flat):
        if k >= len(models):
            ax.set_visible(False)
            continue
        m = models[k]
        ys = [means[m].get(v) for v in values]
        ys = [np.nan if y is None else y for y in ys]
        ax.plot(angles + angles[:1], ys + ys[:1], color=cmap(k % 10), lw=2)
        ax.fill(angles + angles[:1], ys + ys[:1], color=cmap(k % 10), alpha=0.25)
        ax.set_ylim(0, 1)
        ax.set_yticks([0.25, 0.5, 0.75, 1.0])
        ax.set_yticklabels(["", "0.5", "", "1"], fontsize=7)
        ax.set_rlabel_position(360 / max(1, len(values)) / 2)  # between the first two axes
        ax.set_xticks(angles)
        ax.set_xticklabels([_label(v) for v in values], fontsize=7)
        ax.set_title(m, fontsize=10, pad=14)
    return _save(fig, path)


def figure_ranked_means(means: dict[str, dict[str, float | None]], path: Path) -> Path:
    """Figure 6: mean score per value across models, highest first (horizontal bars)."""
    import numpy as np

    plt = _plt()
    values = _values(*means.values())
    avg = {}
    for v in values:
        xs = [d[v] for d in means.values() if d.get(v) is not None]
        avg[v] = float(np.mean(xs)) if xs else 0.0
    ranked = sorted(values, key=lambda v: avg[v])
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(ranked) + 1.2))
    ax.barh([_label(v) for v in ranked], [avg[v] for v in ranked], color="#4C72B0")
    for i, v in enumerate(ranked):
        ax.text(avg[v] + 0.01, i, f"{avg[v]:.2f}", va="center", fontsize=8)
    ax.set_xlim(0, 1.08)
    ax.set_xlabel(f"mean preference score across {len(means)} model(s)")
    ax.set_title("Average preference per Schwartz value")
    return _save(fig, path)


def figure_std_per_model(means: dict[str, dict[str, float | None]], path: Path) -> Path:
    """Figure 7: standard deviation of each model's ten value scores."""
    import numpy as np

    plt = _plt()
    models = list(means)
    stds = [float(np.std([x for x in means[m].values() if x is not None]) or 0.0)
            if any(x is not None for x in means[m].values()) else 0.0 for m in models]
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(models) + 2), 4))
    ax.bar(models, stds, color=[_plt().get_cmap("tab10")(i % 10) for i in range(len(models))])
    for i, s in enumerate(stds):
        ax.text(i, s, f"{s:.3f}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("std of preference scores across values")
    ax.set_title("Std of preference across values\n(higher: stronger preferences)", fontsize=10)
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    return _save(fig, path)


def figure_vlm_vs_llm(pairs: dict[tuple[str, str], tuple[dict, dict]], path: Path) -> Path:
    """Figure 9: per pair, the VLM's direct score vs the caption + LLM score per value."""
    import numpy as np

    plt = _plt()
    n = len(pairs)
    fig, axes = plt.subplots(n, 1, figsize=(10, 3.2 * n), squeeze=False)
    for ax, ((vlm, llm), (vm, lm)) in zip(axes[:, 0], pairs.items(), strict=True):
        values = _values(vm, lm)
        x = np.arange(len(values))
        a = [vm.get(v) if vm.get(v) is not None else np.nan for v in values]
        b = [lm.get(v) if lm.get(v) is not None else np.nan for v in values]
        ax.bar(x - 0.2, a, 0.4, label=f"{vlm} (VLM, image)", color="#4C72B0")
        ax.bar(x + 0.2, b, 0.4, label=f"{llm} (caption + LLM)", color="#DD8452")
        ax.set_xticks(x)
        ax.set_xticklabels([_label(v) for v in values], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("preference score")
        ax.legend(fontsize=8, loc="upper right")
    return _save(fig, path)

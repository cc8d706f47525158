"""Inline SVG charts, drawn on the server: nothing to load in the browser, works offline.

The cell chart plots a per-step quantity (yes-rate, persona-value share) against the scroll
index: each trial as a faint line, the mean over trials as a bold line with its 95 % band.
Lines are rolling means over `rolling_width(scrolls)` scrolls, a fixed rule (a tenth of the
trial), so that no smoothing is chosen by looking at the result.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np

#: At most this many trials are drawn as faint lines (the mean uses them all).
MAX_LINES = 200
COLORS = ("#1f6fb4", "#d9631e", "#2a9d4a", "#8e44ad")


def rolling_width(scrolls: int) -> int:
    """The rolling window of the lines: a tenth of the trial, at least one scroll."""
    return max(1, scrolls // 10)


@dataclass
class Series:
    """One group of trials to draw: a matrix trials x steps (NaN where there is no value)."""

    label: str
    values: np.ndarray
    color: str = COLORS[0]


def matrix(rows: Iterable[dict[str, Any]], key: str, steps: int | None = None) -> np.ndarray:
    """Trials x steps of `key` (bools and 0/1 as floats, None as NaN) from step rows."""
    rows = list(rows)
    trials = sorted({r["trial_id"] for r in rows})
    width = steps or (max((int(r["step"]) for r in rows), default=-1) + 1)
    out = np.full((len(trials), max(width, 0)), np.nan)
    index = {t: i for i, t in enumerate(trials)}
    for r in rows:
        s, v = int(r["step"]), r.get(key)
        if v is not None and 0 <= s < width:
            out[index[r["trial_id"]], s] = float(v)
    return out


def rolling(values: np.ndarray, width: int) -> np.ndarray:
    """Trailing rolling mean along steps, ignoring NaN (NaN where the window has no value)."""
    if width <= 1 or values.size == 0:
        return values.copy()
    ok = ~np.isnan(values)
    filled = np.where(ok, values, 0.0)
    kernel = np.ones(width)
    sums = np.apply_along_axis(lambda r: np.convolve(r, kernel)[:len(r)], 1, filled)
    counts = np.apply_along_axis(lambda r: np.convolve(r, kernel)[:len(r)], 1, ok.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def mean_band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per step: mean over trials, and mean ± 1.96 standard errors (NaN with < 2 trials)."""
    if values.size == 0:
        empty = np.array([])
        return empty, empty, empty
    n = (~np.isnan(values)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN steps: NaN is the answer
        mean = np.nanmean(values, axis=0)
        sd = np.nanstd(values, axis=0, ddof=1)
    half = np.where(n >= 2, 1.96 * sd / np.sqrt(np.maximum(n, 1)), np.nan)
    return mean, np.clip(mean - half, 0, 1), np.clip(mean + half, 0, 1)


def _path(xs: Sequence[float], ys: Sequence[float]) -> str:
    """An SVG path through the finite points, broken where a value is missing."""
    out, pen = [], "M"
    for x, y in zip(xs, ys, strict=True):
        if not math.isfinite(y):
            pen = "M"
            continue
        out.append(f"{pen}{x:.1f},{y:.1f}")
        pen = "L"
    return " ".join(out)


def step_chart(series: Sequence[Series], *, title: str, y_label: str, window: int | None,
               rolling_by: int, height: int = 220, width: int = 640) -> str:
    """An SVG chart of per-step values in [0, 1]: faint trials, bold mean, shaded band.

    Args:
        series: One or more groups of trials (two when comparing cells).
        title: Chart title.
        y_label: What the y axis measures.
        window: The run's first/last window (shaded), or None.
        rolling_by: Rolling mean width in scrolls (stated under the chart).
    """
    left, right, top, bottom = 46, 12, 24, 34
    steps = max((s.values.shape[1] for s in series if s.values.ndim == 2), default=0)
    pw, ph = width - left - right, height - top - bottom

    def x(i: float) -> float:
        return left + (pw * i / max(steps - 1, 1))

    def y(v: float) -> float:
        return top + ph * (1 - v)

    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{escape(title)}">',
             f'<title>{escape(title)}</title>',
             f'<text x="{left}" y="15" class="chart-title">{escape(title)}</text>']
    if window and steps >= 2 * window:
        for a, label in ((0, f"first {window}"), (steps - window, f"last {window}")):
            parts.append(f'<rect x="{x(a):.1f}" y="{top}" width="{x(a + window - 1) - x(a):.1f}" '
                         f'height="{ph}" class="window"/>')
            parts.append(f'<text x="{x(a) + 3:.1f}" y="{top + 11}" class="tick">{label}</text>')
    for v in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                     'class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" class="tick" '
                     f'text-anchor="end">{v:g}</text>')
    for i in sorted({0, steps - 1, *range(0, steps, max(1, steps // 5))}):
        if i >= 0:
            parts.append(f'<text x="{x(i):.1f}" y="{top + ph + 14}" class="tick" '
                         f'text-anchor="middle">{i}</text>')
    parts.append(f'<text x="{left + pw / 2:.1f}" y="{height - 4}" class="tick" '
                 'text-anchor="middle">scroll index</text>')
    parts.append(f'<text transform="translate(11,{top + ph / 2:.1f}) rotate(-90)" class="tick" '
                 f'text-anchor="middle">{escape(y_label)}</text>')
    xs = [x(i) for i in range(steps)]
    for s in series:
        if s.values.size == 0:
            continue
        smooth = rolling(s.values, rolling_by)
        for row in smooth[:MAX_LINES]:
            ys = [y(v) if math.isfinite(v) else math.nan for v in row]
            parts.append(f'<path d="{_path(xs[:len(ys)], ys)}" class="trial" '
                         f'stroke="{s.color}"/>')
        mean, lo, hi = mean_band(smooth)
        ok = [i for i in range(len(mean)) if math.isfinite(lo[i]) and math.isfinite(hi[i])]
        if ok:
            pts = [f"{xs[i]:.1f},{y(hi[i]):.1f}" for i in ok]
            pts += [f"{xs[i]:.1f},{y(lo[i]):.1f}" for i in reversed(ok)]
            parts.append(f'<polygon points="{" ".join(pts)}" class="band" fill="{s.color}"/>')
        parts.append(f'<path d="{_path(xs[:len(mean)], [y(v) for v in mean])}" class="mean" '
                     f'stroke="{s.color}" data-series="{escape(s.label)}"/>')
    parts.append("</svg>")
    note = (f"Rolling mean over {rolling_by} scroll{'s' if rolling_by > 1 else ''}; faint: one "
            "trial each; bold: mean over trials; band: mean ± 1.96 standard errors over trials"
            + ("; shaded: the windows the statistics compare." if window else "."))
    legend = []
    for s in series:
        n = s.values.shape[0] if s.values.ndim == 2 else 0
        shown = f"{min(n, MAX_LINES)} of {n} trials drawn" if n > MAX_LINES else f"{n} trials"
        legend.append(f'<span class="key"><i style="background:{s.color}"></i>'
                      f'{escape(s.label)} ({shown})</span>')
    return ('<figure class="chart-box">' + "".join(parts) + f'<figcaption>{"".join(legend)}'
            f'<br>{escape(note)}</figcaption></figure>')


def band_chart(lines: Sequence[tuple[str, Sequence[float | None], Sequence[float | None],
                                     Sequence[float | None], str]],
               centres: Sequence[float], *, title: str, y_label: str, y_range: tuple[float, float],
               marker: float | None = None, height: int = 220, width: int = 640) -> str:
    """An SVG chart of binned curves, each with its band: (label, mean, lo, hi, color).

    `marker` draws a dotted vertical line at that scroll (half the gap closed). The band's
    meaning is the caller's to state (the sweep's curves: simultaneous 95 % bands)."""
    left, right, top, bottom = 46, 12, 24, 34
    lo_y, hi_y = y_range
    span = max(centres[-1], 1.0) if centres else 1.0
    pw, ph = width - left - right, height - top - bottom

    def x(v: float) -> float:
        return left + pw * v / span

    def y(v: float) -> float:
        return top + ph * (1 - (min(max(v, lo_y), hi_y) - lo_y) / (hi_y - lo_y))

    def val(v: float | None) -> float:
        return math.nan if v is None else float(v)

    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{escape(title)}">',
             f'<title>{escape(title)}</title>',
             f'<text x="{left}" y="15" class="chart-title">{escape(title)}</text>']
    tick = "+.2g" if lo_y < 0 else "g"
    for v in np.linspace(lo_y, hi_y, 5):
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                     f'class="grid"/><text x="{left - 6}" y="{y(v) + 4:.1f}" class="tick" '
                     f'text-anchor="end">{format(v, tick)}</text>')
    if lo_y < 0 < hi_y:
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(0):.1f}" y2="{y(0):.1f}" '
                     'class="zero" stroke="black"/>')
    for c in (0, *centres[::max(1, len(centres) // 5)]):
        parts.append(f'<text x="{x(c):.1f}" y="{top + ph + 14}" class="tick" '
                     f'text-anchor="middle">{c:g}</text>')
    parts.append(f'<text x="{left + pw / 2:.1f}" y="{height - 4}" class="tick" '
                 'text-anchor="middle">scroll (bin centre)</text>')
    parts.append(f'<text transform="translate(11,{top + ph / 2:.1f}) rotate(-90)" class="tick" '
                 f'text-anchor="middle">{escape(y_label)}</text>')
    xs = [x(c) for c in centres]
    for label, mean, lo, hi, color in lines:
        ok = [i for i in range(len(centres)) if lo[i] is not None and hi[i] is not None]
        if ok:
            pts = [f"{xs[i]:.1f},{y(hi[i]):.1f}" for i in ok]
            pts += [f"{xs[i]:.1f},{y(lo[i]):.1f}" for i in reversed(ok)]
            parts.append(f'<polygon points="{" ".join(pts)}" class="band" fill="{color}"/>')
        parts.append(f'<path d="{_path(xs, [y(val(v)) if v is not None else math.nan for v in mean])}" '
                     f'class="mean" stroke="{color}" data-series="{escape(label)}"/>')
    if marker is not None:
        parts.append(f'<line x1="{x(marker):.1f}" x2="{x(marker):.1f}" y1="{top}" '
                     f'y2="{top + ph}" stroke="#2a9d4a" stroke-dasharray="3,3"/>')
    parts.append("</svg>")
    legend = "".join(f'<span class="key"><i style="background:{color}"></i>{escape(label)}'
                     f'</span>' for label, *_, color in lines)
    return f'<figure class="chart-box">{"".join(parts)}<figcaption>{legend}</figcaption></figure>'


def curve_charts(curve: dict[str, Any], names: tuple[str, str]) -> str:
    """A summary curve (`session_curves(...).to_json()`): the two arms, then the difference."""
    edges = curve["edges"]
    centres = [(edges[i] + edges[i + 1] - 1) / 2 for i in range(len(edges) - 1)]
    t, c, d = curve["treatment_rate"], curve["control_rate"], curve["difference"]
    arms = band_chart([(names[0], t["mean"], t["lo"], t["hi"], COLORS[1]),
                       (names[1], c["mean"], c["lo"], c["hi"], COLORS[0])], centres,
                      title="yes-rate per scroll bin", y_label="yes-rate", y_range=(0.0, 1.0))
    half = curve.get("half_gap_scroll")
    diff = band_chart([("difference", d["mean"], d["lo"], d["hi"], "#333333")], centres,
                      title=f"difference ({'paired by seed' if curve.get('paired') else 'unpaired'})"
                      + (f"; half the gap closed by scroll {half:g}" if half is not None else ""),
                      y_label="yes-rate difference", y_range=(-1.0, 1.0), marker=half)
    return arms + diff + ('<p class="note">Bands: simultaneous 95 % (sup-t over the bins): the '
                          'whole band holds at once.</p>')

"""Value-Spectrum scores and report: Table 1 and Figures 2, 5, 6, 7 and 9.

Scoring (paper section 4.1, Table 1): for one model and one value, the score is the yes
rate over the value's answered images (all keywords pooled); the +/- is the standard
deviation (population, ddof=0) of the per-keyword yes rates. Invalid answers (`yes` is
null) are excluded from both and counted separately; they are never scored as "no".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import ConfigDict

from valuespectrum.engine.reader import RESULTS_TABLE, RunReader
from valuespectrum.models.base import is_backend_error
from valuespectrum.report import spectrum_figures as figs
from valuespectrum.runs import write_json
from valuespectrum.types import Frozen, SchwartzValue

#: Figure 2's input, written by the benchmark's retrieval.
ABUNDANCE = "abundance.json"


class ValueScore(Frozen):
    """One cell of Table 1 with its ingredients."""

    mean: float | None
    std: float | None
    answered: int
    yes: int
    invalid: int
    errors: int
    keywords: dict[str, float | None]


class SpectrumArm(Frozen):
    """One arm of a benchmark run (a model, or a captioning VLM + an LLM)."""

    # read back by later versions too: a field a later version adds is ignored
    model_config = ConfigDict(extra="ignore", frozen=True)

    label: str
    strategy: str
    model: str
    text_model: str = ""
    vlm_label: str


class SpectrumSummary(Frozen):
    """summary.json of a Value-Spectrum run: Table 1's scores, per arm and value."""

    # read back by later versions too: a field a later version adds is ignored
    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: Literal["spectrum"] = "spectrum"
    arms: list[SpectrumArm]
    images_per_arm: int
    answers: dict[str, int]
    complete: bool
    stopped: dict[str, str] = {}
    cost_usd: dict[str, float] = {}
    scores: dict[str, dict[str, ValueScore]] = {}


def value_order(values: list[str]) -> list[str]:
    """Values in the paper's order, unknown ones last."""
    known = [v.value for v in SchwartzValue]
    return sorted(set(values), key=lambda v: (known.index(v) if v in known else len(known), v))


def score_rows(rows: list[dict[str, Any]]) -> dict[str, dict[str, ValueScore]]:
    """Per arm, per value: the Table 1 score from result rows (see module docstring)."""
    cells: dict[str, dict[str, dict[str, list]]] = {}
    for r in rows:
        kw = cells.setdefault(r["arm"], {}).setdefault(r["value"], {}).setdefault(
            r["keyword"], [])
        kw.append(r)
    out: dict[str, dict[str, ValueScore]] = {}
    for arm, per_value in cells.items():
        out[arm] = {}
        for value in value_order(list(per_value)):
            per_kw = per_value[value]
            rates: dict[str, float | None] = {}
            answered = yes = invalid = errors = 0
            for kw, kw_rows in per_kw.items():
                ans = [bool(r["yes"]) for r in kw_rows if r["yes"] is not None]
                rates[kw] = (sum(ans) / len(ans)) if ans else None
                answered += len(ans)
                yes += sum(ans)
                bad = [r for r in kw_rows if r["yes"] is None]
                invalid += sum(1 for r in bad if (r.get("error") or "invalid") == "invalid")
                errors += sum(1 for r in bad if (r.get("error") or "invalid") != "invalid")
            known = [x for x in rates.values() if x is not None]
            out[arm][value] = ValueScore(
                mean=yes / answered if answered else None,
                std=float(np.std(known)) if known else None,
                answered=answered, yes=yes, invalid=invalid, errors=errors, keywords=rates)
    return out


def read_results(run_dir: str | Path) -> list[dict[str, Any]]:
    """The answers of results.parquet (`RunReadError` naming it when missing or damaged)."""
    return RunReader(run_dir, "spectrum").rows(RESULTS_TABLE)


def write_summary(run_dir: str | Path, arms: list[Any], stopped: dict[str, str]) -> dict:
    """summary.json of a spectrum run (kind: spectrum) from its results.parquet."""
    run_dir = Path(run_dir)
    reader = RunReader(run_dir, "spectrum")
    rows = reader.rows(RESULTS_TABLE)
    scores = score_rows(rows)
    spent: dict[str, float] = {}
    for r in rows:
        spent[r["arm"]] = spent.get(r["arm"], 0.0) + float(r["cost_usd"] or 0.0)
    retrieved = reader.num_rows("retrieval.parquet")
    summary = {
        "kind": "spectrum",
        "arms": [{"label": a.label, "strategy": a.strategy, "model": a.model.spec,
                  "text_model": a.text_model.spec if a.text_model else "",
                  "vlm_label": a.vlm_label} for a in arms],
        "images_per_arm": retrieved,
        "answers": {a.label: sum(1 for r in rows if r["arm"] == a.label) for a in arms},
        "complete": all(sum(1 for r in rows if r["arm"] == a.label
                            and not is_backend_error(r["error"])) == retrieved
                        for a in arms),
        "stopped": dict(stopped),
        "cost_usd": spent,
        "scores": {arm: {v: s.model_dump() for v, s in per.items()} for arm, per in scores.items()},
    }
    SpectrumSummary.model_validate(summary)  # what its readers read it with
    write_json(run_dir / "summary.json", summary)
    return summary


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}"


def table1_markdown(scores: dict[str, dict[str, ValueScore]], arms: list[str]) -> str:
    """Table 1: values (rows) x models (columns), "mean ± std" in percent."""
    values = value_order([v for a in arms for v in scores.get(a, {})])
    lines = ["| Value | " + " | ".join(arms) + " |", "|---|" + "---|" * len(arms)]
    for v in values:
        cells = []
        for a in arms:
            s = scores.get(a, {}).get(v)
            cells.append("–" if s is None or s.mean is None else f"{pct(s.mean)} ± {pct(s.std)}")
        name = SchwartzValue(v).label if v in {x.value for x in SchwartzValue} else v
        lines.append(f"| {name} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def _arms_info(reader: RunReader, rows: list[dict[str, Any]]) -> list[SpectrumArm]:
    if reader.has_summary():
        return reader.summary(SpectrumSummary).arms
    seen: dict[str, SpectrumArm] = {}
    for r in rows:
        if r["arm"] not in seen:
            seen[r["arm"]] = SpectrumArm(label=r["arm"], strategy=r["strategy"],
                                         model=r["model"], text_model=r["text_model"] or "",
                                         vlm_label=r["arm"].split("+")[0])
    return list(seen.values())


def write_spectrum_report(run_dir: str | Path) -> Path:
    """Write RUN_DIR/report.md and RUN_DIR/figures/*.png for a spectrum run; returns report.md.

    Table 1 and Figures 5-7 use the plain arms (the VLMs' own preferences); Figure 9 pairs
    each caption + LLM arm with its VLM's plain arm; Figure 2 uses abundance.json.
    """
    run_dir = Path(run_dir)
    reader = RunReader(run_dir, "spectrum")
    rows = reader.rows(RESULTS_TABLE)
    scores = score_rows(rows)
    arms = _arms_info(reader, rows)
    plain = [a.label for a in arms if a.strategy == "plain" and a.label in scores]
    pairs = [(a.vlm_label, a.label) for a in arms
             if a.strategy == "caption_llm" and a.label in scores]
    fig_dir = run_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    made: dict[str, Path] = {}
    abundance = reader.json(ABUNDANCE) if reader.path(ABUNDANCE).exists() else None
    if abundance is not None:
        made["fig2"] = figs.figure_abundance(abundance, fig_dir / "fig2_abundance.png")
    means = {a: {v: s.mean for v, s in scores[a].items()} for a in plain}
    if plain:
        made["fig5"] = figs.figure_radar(means, fig_dir / "fig5_radar.png")
        made["fig6"] = figs.figure_ranked_means(means, fig_dir / "fig6_ranked_means.png")
        made["fig7"] = figs.figure_std_per_model(means, fig_dir / "fig7_std_per_model.png")
    if pairs:
        pair_means = {(vlm, llm): ({v: s.mean for v, s in scores.get(vlm, {}).items()},
                                   {v: s.mean for v, s in scores[llm].items()})
                      for vlm, llm in pairs}
        made["fig9"] = figs.figure_vlm_vs_llm(pair_means, fig_dir / "fig9_vlm_vs_llm.png")
    out = run_dir / "report.md"
    radius = abundance["radius"] if abundance is not None else 1.5
    out.write_text(_markdown(run_dir, rows, scores, plain, pairs, made, radius))
    return out


def _markdown(run_dir: Path, rows: list[dict[str, Any]], scores: dict, plain: list[str],
              pairs: list[tuple[str, str]], made: dict[str, Path], radius: float) -> str:
    def img(key: str, title: str) -> list[str]:
        return [f"![{title}](figures/{made[key].name})", ""] if key in made else []

    n_inv = sum(1 for r in rows if r["yes"] is None and (r["error"] or "invalid") == "invalid")
    n_err = sum(1 for r in rows if r["yes"] is None and (r["error"] or "invalid") != "invalid")
    lines = [f"# Value-Spectrum report: {run_dir.name}", "",
             f"{len(rows)} answers; {n_inv} invalid (excluded from scores), {n_err} failed "
             "(excluded; a resume retries backend failures).", "",
             "## Table 1: preference per value (yes rate %, mean ± std across keywords)", "",
             table1_markdown(scores, plain) if plain else "(no plain arms)", ""]
    if plain:
        lines += ["Answered / invalid answers per model: " + "; ".join(
            f"{a}: {sum(s.answered for s in scores[a].values())} / "
            f"{sum(s.invalid for s in scores[a].values())}" for a in plain), ""]
    lines += [f"## Figure 2: abundance (screenshots within L2 {radius:g} of a value's keywords)",
              ""]
    lines += img("fig2", "Figure 2")
    lines += ["## Figure 5: preference profile per model", ""] + img("fig5", "Figure 5")
    lines += ["## Figure 6: mean preference per value across models, ranked", ""]
    lines += img("fig6", "Figure 6")
    lines += ["## Figure 7: standard deviation of preference across values, per model", ""]
    lines += img("fig7", "Figure 7")
    if pairs:
        lines += ["## Figure 9: VLM (image) vs captioning + LLM (text), per value", "",
                  table1_markdown(scores, [x for p in pairs for x in p]), ""]
        lines += img("fig9", "Figure 9")
    return "\n".join(lines) + "\n"

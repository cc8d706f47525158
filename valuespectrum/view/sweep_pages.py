"""A sweep's run page and cell pages: statistics with their intervals, nulls and controls."""

from __future__ import annotations

from typing import Any

from valuespectrum.report.contrast_rows import (
    ESTIMAND_LABELS,
    comparisons,
    contrast_label,
    p_text,
    plan_of,
    plan_text,
    row_for,
)
from valuespectrum.sweep.summary_model import ArmStats, CellRow, ContrastRow, SweepSummary
from valuespectrum.view.charts import (
    COLORS,
    Series,
    curve_charts,
    matrix,
    rolling_width,
    step_chart,
)
from valuespectrum.view.html import (
    badge,
    ci,
    definition_list,
    esc,
    num,
    p_value,
    page,
    pct,
    table,
)
from valuespectrum.view.links import Links
from valuespectrum.view.sweep_reader import SweepReader


def spec_facts(src: SweepReader) -> list[tuple[str, str]]:
    """The sweep's design, from its saved spec."""
    s = src.spec
    personas = ", ".join(f"{p.get('name')} ({', '.join(p.get('values', []))})"
                         for p in s.get("personas", []) if isinstance(p, dict))
    models = ", ".join(m.get("name") or m.get("spec", "?") for m in s.get("models", []))
    platforms = ", ".join(_platform(p) for p in s.get("platforms", []) if isinstance(p, dict))
    plan = src.plan().context.get("prompts", {})
    return [("personas", esc(personas)), ("models", esc(models)), ("platforms", esc(platforms)),
            ("strategies", esc(", ".join(s.get("strategies", [])))),
            ("design", esc(f"{s.get('trials')} trials per cell × {s.get('scrolls')} scrolls, "
                           f"windows of {s.get('window')}, seed {s.get('seed')}")),
            ("prompts", esc(f"{s.get('prompts') or 'packaged'} (version {plan.get('version', '?')})"))]


def _platform(p: dict[str, Any]) -> str:
    """`name: style on environment (options)`, as the saved spec gives it."""
    options = p.get("options") or {}
    text = f"{p.get('style')} on {p.get('environment')}"
    if options:
        text += " (" + ", ".join(f"{k}: {v}" for k, v in sorted(options.items())) + ")"
    return f"{p['name']}: {text}" if p.get("name") else text


def status_facts(ov: dict[str, Any]) -> list[tuple[str, str]]:
    """Status, trial counts, steps, cost and writer of a sweep, from its overview."""
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(ov.get("statuses", {}).items())) or "none"
    out = [("status", badge(ov["status"], "running" if ov["status"] == "running" else "")),
           ("trials", esc(f"{ov.get('statuses', {}).get('done', 0)} done of "
                          f"{ov.get('planned', 0)} planned (ended: {statuses})")),
           ("steps", esc(f"{ov.get('steps') or 0} ({ov.get('invalid') or 0} invalid answers)")),
           ("cost", esc(f"${ov.get('cost_usd') or 0:.4f}; tokens in/out "
                        f"{ov.get('input_tokens') or 0}/{ov.get('output_tokens') or 0}; cached "
                        f"{pct(ov.get('cached_share'))}"))]
    if ov.get("writer"):
        out.append(("writer", esc(ov["writer"])))
    return out


def _trend(tr: dict[str, Any]) -> str:
    if tr.get("reason"):
        return esc(tr["reason"])
    return f"{num(tr['slope'], '+.2f')} {ci(tr['ci'], '+.2f')} p {p_value(tr['p_value'])}"


def _i_avg(row: ArmStats) -> str:
    i_avg = row.i_avg or {}
    return (f"{num(i_avg.get('value'), '+.1f')} {ci(i_avg.get('ci'), '+.1f')} "
            f"<span class=null>null {num(row.i_avg_null, '+.1f')}</span>")


def headline_rows(summary: SweepSummary) -> list[ArmStats]:
    """Groups when several personas are pooled, else cells (as the terminal summary shows)."""
    return [*summary.groups] if summary.several_personas() else [*summary.cells]


def headline_table(summary: SweepSummary, link: Any = None) -> str:
    """Each arm: session yes-rate and exposure with their intervals, then the paper's Δ, the
    (exploratory) trend and I_avg with its null; `link(cell)` names a cell page."""
    rows = []
    for r in headline_rows(summary):
        name = f"{r.model} · {r.platform} · {r.strategy}"
        href = link(r.cell) if link and isinstance(r, CellRow) else None
        session, exposure, delta = r.session or {}, r.exposure or {}, r.delta or {}
        rows.append([f'<a href="{esc(href)}">{esc(name)}</a>' if href else esc(name),
                     "control" if r.control else "", str(r.trials),
                     f"{num(session.get('value'), '.3f')} {ci(session.get('ci'), '.3f')}",
                     num(exposure.get("value"), ".3f"),
                     f"{num(delta.get('value'))} {ci(delta.get('ci'))}", _trend(r.trend or {}),
                     _i_avg(r), str(len(r.excluded))])
    return table(["model · platform · strategy", "", "trials", "session yes-rate [95% CI]",
                  "exposure", "Δ yes-rate [95% CI]", "trend /100 scrolls (exploratory)",
                  "I_avg % [CI] (null)", "excluded"], rows)


def _with_ci(row: ContrastRow | None) -> str:
    return "–" if row is None else f"{num(row.diff)} {ci(row.ci)}"


def contrast_table(src: SweepReader, links: Links, summary: SweepSummary,
                   only: str | None = None) -> str:
    """The comparisons on the plan's estimand (then exposure and Δ), with family and p
    (Holm-adjusted when confirmatory), each linked side by side; `only`: a cell's."""
    leads = [c for c in comparisons(summary)
             if only is None or only in (c.treatment, c.control)]
    plan = plan_of(summary)
    second = "exposure" if plan["estimand"] != "exposure" else "session"
    rows = []
    for c in leads:
        cmp = None
        if not c.treatment_cell.pooled:
            cmp = links.compare(f"{src.rid}:cell:{c.treatment}", f"{src.rid}:cell:{c.control}")
        other = row_for(summary, c, second)
        note = c.cannot_reach or c.reason or ""
        rows.append([esc(contrast_label(c)[0]), esc(c.family),
                     str(c.n or "–"), _with_ci(c), esc(p_text(c)), _with_ci(other),
                     esc(p_text(other)), _with_ci(row_for(summary, c, "delta")), esc(note),
                     f'<a href="{esc(cmp)}">side by side</a>' if cmp else ""])
    head = ESTIMAND_LABELS.get(plan["estimand"], plan["estimand"])
    return (f"<p>{esc(plan_text(summary))}.</p>" + table(
        ["treatment − control", "family", "pairs" if plan["reading"] == "paired" else "trials",
         f"{head} [95% CI]", "p", f"{ESTIMAND_LABELS[second]} [95% CI]", "p", "Δ [95% CI]",
         "note", ""], rows))


def curves_section(summary: SweepSummary, treatment: str | None = None,
                   control: str | None = None) -> str:
    """The yes-rate curves of the summary's comparisons (or of one pair of cells)."""
    out = []
    for c in summary.curves:
        if treatment is not None and (c.treatment, c.control) != (treatment, control):
            continue
        label = contrast_label(c)[0]
        names = tuple(label.split(" − ", 1)) if " − " in label else ("treatment", "control")
        out.append(f"<h3>{esc(label)}</h3>" + curve_charts(c.model_dump(), names))
    return "".join(out)


def run_card(src: SweepReader, links: Links) -> str:
    """The sweep's card on the runs page: status, design and headline statistics."""
    ov = src.overview()
    summary = src.summary()
    parts = [definition_list(status_facts(ov) + spec_facts(src))]
    if summary:
        parts.append(headline_table(summary, lambda cell: links.cell(src.rid, cell)))
        if summary.contrasts:
            parts.append(contrast_table(src, links, summary))
    else:
        parts.append("<p>No statistics yet: they are written when the run ends.</p>")
    return "".join(parts)


def run_page(src: SweepReader, links: Links) -> str:
    """A sweep: status and design, drift per cell or group, contrasts, cells, failures."""
    ov = src.overview()
    summary = src.summary()
    body = [definition_list(status_facts(ov) + spec_facts(src))]
    if summary:
        body += ["<h2>Drift per model, platform and strategy</h2>",
                 headline_table(summary, lambda cell: links.cell(src.rid, cell)),
                 "<h2>What the feed did: contrasts with the controls</h2>",
                 contrast_table(src, links, summary)
                 if summary.contrasts else "<p>No contrast: the sweep has no control feed "
                 "shown through the same environment and options as a learning feed.</p>"]
        if summary.curves:
            body += ["<h2>Yes-rate over the session</h2>", curves_section(summary)]
    else:
        body.append("<p>The statistics are written when the run ends; live counts below.</p>")
    cells = []
    for c in src.cell_rows():
        st: CellRow | None = c["stats"]
        d = (st.delta if st else None) or {}
        delta = f"{num(d.get('value'))} {ci(d.get('ci'))}" if st else "–"
        share = (st.value_share if st else None) or {}
        cells.append([f'<a href="{esc(links.cell(src.rid, c["cell"]))}">{esc(c["cell"])}</a>',
                      str(c["trials_seen"]), str(c["steps"]), pct(c["yes_rate"]),
                      str(c["invalid"]), delta,
                      f"{num(share.get('first'), '.2f')} → {num(share.get('last'), '.2f')}",
                      str(len(st.excluded)) if st else "–",
                      str(st.failed_trials) if st else "–"])
    body += ["<h2>Cells</h2>", table(["cell (persona|model|platform|strategy)", "trials",
                                      "steps", "yes", "invalid", "Δ [95% CI]",
                                      "persona-value share first → last", "excluded",
                                      "failed"], cells)]
    failed = [r for r in src.trial_records().values() if r.status != "done"]
    if failed:
        body += ["<h2>Trials that did not finish</h2>", table(
            ["trial", "status", "restarts", "error"],
            [[f'<a href="{esc(links.trial(src.rid, r.trial_id))}">{esc(r.trial_id)}</a>',
              esc(r.status), str(r.restarts), esc(r.error)] for r in failed])]
    figures = src.figures()
    if figures:
        body.append("<h2>Report figures</h2>" + "".join(
            f'<img class="figure" src="{esc(links.file(src.rid, f))}" alt="{esc(f)}">'
            for f in figures))
    return page(links, f"Sweep {src.name}", "".join(body), crumbs=[(src.name, None)],
                live=links.signature(src.rid) if ov["live"] else None,
                signature=src.signature(), kind="run")


def cell_stats_facts(st: CellRow) -> list[tuple[str, str]]:
    """Every per-cell statistic of summary.json, each with its interval or null value."""
    tr, vs, delta = st.trend or {}, st.value_share or {}, st.delta or {}
    cum, inc = st.i_avg_cumulative or {}, st.increase_pooled or {}
    excluded = "; ".join(f"{e['trial_id']}: {e['reason']}" for e in st.excluded) or "none"
    return [
        ("Δ yes-rate (last − first window)", f"{num(delta.get('value'))} {ci(delta.get('ci'))}"
                                             " <span class=null>0 under no effect</span>"),
        ("yes-rate first → last", f"{num((st.yes_rate_first or {}).get('value'), '.3f')} → "
                                  f"{num((st.yes_rate_last or {}).get('value'), '.3f')}"),
        ("I_avg % (count)", _i_avg(st)),
        ("I_avg % (cumulative)", f"{num(cum.get('value'), '+.1f')} "
                                 f"{ci(cum.get('ci'), '+.1f')} <span class=null>"
                                 f"null {num(st.i_avg_cumulative_null, '+.1f')}</span>"),
        ("pooled increase %", f"{num(inc.get('value'), '+.1f')} "
                              f"{ci(inc.get('ci'), '+.1f')}"),
        ("trend (log-odds /100 scrolls)", _trend(tr) + (
            f" · odds ratio {num(tr.get('odds_ratio'), '.3f')}" if tr.get("odds_ratio") else "")),
        ("persona-value share", f"{num(vs.get('first'), '.3f')} → {num(vs.get('last'), '.3f')}, "
                                f"change {num(vs.get('value'))} {ci(vs.get('ci'))}"),
        ("invalid answers", esc(f"{st.invalid_answers} of {st.steps} steps")),
        ("excluded trials", esc(excluded)),
        ("cost", esc(f"${st.cost_usd:.4f}, cached {pct(st.cached_share)}")),
    ]


def cell_charts(parts: list[tuple[str, list[dict[str, Any]]]], scrolls: int,
                window: int | None) -> str:
    """Yes-rate and persona-value share against scroll index for one or more cells."""
    k = rolling_width(scrolls)
    out = []
    for key, title, label in (("decision", "Yes-rate against scroll index", "yes-rate"),
                              ("value_match", "Persona-value share of the served posts",
                               "persona-value share")):
        series = [Series(name, matrix(rows, key, scrolls), COLORS[i % len(COLORS)])
                  for i, (name, rows) in enumerate(parts)]
        out.append(step_chart(series, title=title, y_label=label, window=window, rolling_by=k))
    return '<div class="charts">' + "".join(out) + "</div>"


def cell_page(src: SweepReader, links: Links, cell: str) -> str:
    """A cell: its statistics, contrasts, the scroll-by-scroll charts, its trials."""
    st = src.cell_stats(cell)
    summary = src.summary()
    scrolls = int(src.spec.get("scrolls") or (summary.scrolls if summary else 0) or 0)
    window = src.spec.get("window") or (summary.window if summary else None)
    columns = st.columns if st else src.cell_columns().get(cell)
    facts = [(f, esc(getattr(columns, f) if columns else "?"))
             for f in ("persona", "model", "platform", "strategy")]
    if st:
        facts.insert(0, ("role", badge("control" if st.control else "treatment")))
    body = [definition_list(facts)]
    body.append("<h2>Statistics</h2>" + (definition_list(cell_stats_facts(st)) if st else
                "<p>Written when the run ends (summary.json); the chart is live.</p>"))
    if summary and any(cell in (c.treatment, c.control) for c in summary.contrasts):
        body += ["<h2>Contrasts</h2>", contrast_table(src, links, summary, only=cell)]
    body.append("<h2>Scroll by scroll</h2>")
    body.append(cell_charts([(cell, src.cell_series(cell))], scrolls, window))
    rows = []
    for t in src.cell_trials(cell):
        rec = t["record"]
        wall = rec.wall_s if rec else None
        rows.append([f'<a href="{esc(links.trial(src.rid, t["trial_id"]))}">{esc(t["trial_id"])}</a>',
                     esc(rec.status if rec else "running"), str(t["steps"]), pct(t["yes_rate"]),
                     str(t["invalid"]), pct(t["value_share"]), str(t["errors"]),
                     str(rec.restarts if rec else 0), f"${t['cost_usd'] or 0:.4f}",
                     f"{wall:.0f} s" if wall else "–"])
    body += ["<h2>Trials</h2>", table(["trial", "status", "steps", "yes", "invalid",
                                       "persona-value share", "errors", "restarts", "cost",
                                       "wall"], rows)]
    others = [(o, links.compare(f"{src.rid}:cell:{cell}", f"{src.rid}:cell:{o}"))
              for o in src.cells_like(cell)]
    others = [(o, h) for o, h in others if h]
    if others:
        body.append("<h2>Compare side by side with</h2><ul>" + "".join(
            f'<li><a href="{esc(h)}">{esc(o)}</a></li>' for o, h in others) + "</ul>")
    return page(links, f"Cell {cell}", "".join(body),
                crumbs=[(src.name, links.run(src.rid)), (cell, None)],
                live=links.signature(src.rid) if src.live() else None,
                signature=src.signature(), kind="cell")

"""The runs page and the comparison page (two trials or two cells, from one run or two)."""

from __future__ import annotations

from valuespectrum.metrics import session_contrast, session_curves
from valuespectrum.report.contrast_rows import comparisons, p_text, row_for
from valuespectrum.view.charts import curve_charts
from valuespectrum.view.html import ci, esc, num, p_value, page
from valuespectrum.view.links import Links
from valuespectrum.view.run_source import RunSource
from valuespectrum.view.sweep_pages import cell_charts, cell_stats_facts, curves_section
from valuespectrum.view.sweep_reader import SweepReader
from valuespectrum.view.trial_pages import compare_trials_body


def runs_page(runs: dict[str, RunSource], links: Links) -> str:
    """The runs page: one card per run with its status, design and headline statistics."""
    cards = []
    for rid, src in runs.items():
        cards.append(f'<section class="run-card" data-run="{esc(rid)}"><h2><a href="'
                     f'{esc(links.run(rid))}">{esc(src.name)}</a> <small>{esc(src.kind_label)} · '
                     f'{esc(src.root)}</small></h2>{src.card(links)}</section>')
    form = ""
    if not links.static:
        cells = sorted(f"{rid}:cell:{c['cell']}" for rid, s in runs.items()
                       for c in s.cell_rows())
        options = "".join(f'<option value="{esc(c)}">' for c in cells)
        form = ('<h2>Compare</h2><form class="compare-form" action="/compare"><input name="a" '
                'list="refs" size="60" placeholder="RUN:cell:CELL or RUN:trial:TRIAL"> '
                '<input name="b" list="refs" size="60" placeholder="RUN:cell:CELL or '
                f'RUN:trial:TRIAL"> <button>side by side</button><datalist id="refs">{options}'
                "</datalist></form>")
    any_live = any(s.live() for s in runs.values())
    signature = "".join(s.signature() for s in runs.values())
    return page(links, "Runs", "".join(cards) + form, kind="runs",
                live=links.signature("*") if any_live else None, signature=signature)


def _trial_answers(rows: list[dict], scrolls: int) -> list[list[int | None]]:
    decisions: dict[str, list] = {}
    for r in rows:
        d = decisions.setdefault(r["trial_id"], [None] * scrolls)
        if 0 <= r["step"] < scrolls:
            d[r["step"]] = r["decision"]
    return [decisions[t] for t in sorted(decisions)]


def _difference(srcs: list[SweepReader], cells: tuple[str, str],
                series: list[list[dict]]) -> str:
    """The two cells' session contrast with its interval and curves: the run's planned
    comparison when the pair is one (its family, p and bands), else an ad hoc unpaired one."""
    if srcs[0] is srcs[1]:
        summary = srcs[0].summary()
        for c in comparisons(summary) if summary else []:
            if (c.treatment, c.control) in (cells, cells[::-1]):
                flipped = (c.treatment, c.control) != cells
                exposure = row_for(summary, c, "exposure")
                text = (f"<p>Planned comparison ({esc(c.kind)}, {esc(c.family)}): "
                        f"{esc(c.estimand)}, {esc(c.reading)}, treatment − control: "
                        f"{num(c.diff)} {ci(c.ci)}, {esc(p_text(c))}; exposure "
                        f"{num(exposure and exposure.diff)} {ci(exposure and exposure.ci)}"
                        + (" (the left cell is the control)" if flipped else "") + ".</p>")
                return text + curves_section(summary, c.treatment, c.control)
    specs = [s.spec for s in srcs]
    scrolls = specs[0].get("scrolls")
    if not scrolls or specs[1].get("scrolls") != scrolls:
        return "<p>No contrast: the two runs' trials have different lengths.</p>"
    answers = [_trial_answers(rows, int(scrolls)) for rows in series]
    res = session_contrast(answers[0], answers[1], paired=False)
    curves = session_curves(answers[0], answers[1], scrolls=int(scrolls), bins=20,
                            window=int(specs[0].get("window") or 1), paired=False)
    return (f"<p>Ad hoc contrast (exploratory: not a planned one, no multiplicity adjustment):"
            f" session yes-rate, left − right: {num(res.diff)} {ci(res.ci)} (Welch's t over "
            f"{res.n_treatment} vs {res.n_control} trials, unpaired), p {p_value(res.p_value)};"
            f" 0 under no difference.</p>"
            + curve_charts({**curves.to_json(), "treatment": cells[0], "control": cells[1]},
                           ("left", "right")))


def parse_ref(ref: str) -> tuple[str, str, str]:
    """``RID:trial:ID`` or ``RID:cell:ID`` -> (rid, kind, id); ValueError otherwise."""
    parts = ref.split(":", 2)
    if len(parts) != 3 or parts[1] not in ("trial", "cell") or not parts[2]:
        raise ValueError(f"{ref!r}: expected RUN:trial:TRIAL_ID or RUN:cell:CELL")
    return parts[0], parts[1], parts[2]


def compare_page(runs: dict[str, RunSource], links: Links, a: str, b: str) -> str:
    """Two trials step by step, or two cells' statistics and charts side by side.

    Raises:
        ValueError: a ref is malformed, names an unknown run or mixes a trial and a cell.
    """
    (ra, ka, ia), (rb, kb, ib) = parse_ref(a), parse_ref(b)
    srcs = []
    for rid in (ra, rb):
        src = runs.get(rid)
        if src is None or not src.compares:
            raise ValueError(f"{rid!r} is not a sweep shown here")
        srcs.append(src)
    if ka != kb:
        raise ValueError("compare two trials or two cells, not one of each")
    crumbs = [(f"{ia} vs {ib}", None)]
    if ka == "trial":
        body = compare_trials_body((srcs[0], ia), (srcs[1], ib), links)
        return page(links, "Two trials side by side", body, crumbs=crumbs, kind="compare")
    stats = [s.cell_stats(c) for s, c in ((srcs[0], ia), (srcs[1], ib))]
    facts = [dict(cell_stats_facts(st)) if st else {} for st in stats]
    keys = list(dict.fromkeys(k for f in facts for k in f))
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{facts[0].get(k, '–')}</td>"
                   f"<td>{facts[1].get(k, '–')}</td></tr>" for k in keys)
    heads = "".join(f'<th><a href="{esc(links.cell(s.rid, c))}">{esc(s.name)} · {esc(c)}</a></th>'
                    for s, c in ((srcs[0], ia), (srcs[1], ib)))
    series = [srcs[0].cell_series(ia), srcs[1].cell_series(ib)]
    diff = _difference(srcs, (ia, ib), series)
    scrolls = int(srcs[0].spec.get("scrolls") or 0)
    same = srcs[0].spec.get("scrolls") == srcs[1].spec.get("scrolls")
    window = srcs[0].spec.get("window") if same and srcs[0].spec.get("window") == \
        srcs[1].spec.get("window") else None
    charts = cell_charts([(f"A: {ia}", series[0]), (f"B: {ib}", series[1])],
                         max(scrolls, int(srcs[1].spec.get("scrolls") or 0)), window)
    body = (f'<table class="side-by-side"><thead><tr><th></th>{heads}</tr></thead>'
            f"<tbody>{rows}</tbody></table>{diff}<h2>Scroll by scroll</h2>{charts}")
    return page(links, "Two cells side by side", body, crumbs=crumbs, kind="compare")

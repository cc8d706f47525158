"""A trial's filmstrip, one step in full (screenshot, replies, the prompt), two trials side by side."""

from __future__ import annotations

import json
from typing import Any

from valuespectrum.view.html import badge, decision, definition_list, esc, page, table
from valuespectrum.view.links import PAGE, Links
from valuespectrum.view.replay import Replay
from valuespectrum.view.sweep_reader import SweepReader

ISQ = ("visual_appeal", "curiosity", "emotional_engagement", "value_expectation",
       "preference_alignment", "action_desire")
ISQ_SHORT = ("VA", "CU", "EE", "VE", "PA", "AD")


def isq_line(row: dict[str, Any]) -> str:
    """ISQ components and S% ("VA 7 CU 6 ... S 63%") when the step used the questionnaire."""
    if row.get("isq_visual_appeal") is None and row.get("score") is None:
        return ""
    parts = []
    for key, short in zip(ISQ, ISQ_SHORT, strict=True):
        v = row.get(f"isq_{key}")
        if v is not None:
            parts.append(f"{short} {'yes' if v is True else 'no' if v is False else v}")
    if row.get("score") is not None:
        parts.append(f"S {row['score']:.0f}%")
    return " · ".join(parts)


def usage_line(row: dict[str, Any]) -> str:
    """Latency, tokens, cost and the cached flag of a step."""
    tokens = f"{row.get('input_tokens') or 0}/{row.get('output_tokens') or 0} tok"
    cached = " · cached" if row.get("cached") else ""
    return f"{row.get('latency_s') or 0:.2f} s · {tokens} · ${row.get('cost_usd') or 0:.4f}{cached}"


def _plain(value: Any) -> str:
    """A field as a reader wants it: lists joined, booleans as yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "none"
    return str(value)


def first_reply(row: dict[str, Any]) -> str:
    """The model's first recorded reply (the decision's answer)."""
    try:
        answers = json.loads(row.get("answers") or "{}")
    except json.JSONDecodeError:
        return row.get("answers") or ""
    return next(iter(answers.values()), "") if answers else ""


def step_card(src: SweepReader, links: Links, row: dict[str, Any], *, focusable: bool = True) -> str:
    """One step of a filmstrip: thumbnail, decision, answers summary, usage, errors."""
    label, kind = decision(row.get("decision"))
    shot = row.get("screenshot_path")
    img = (f'<img loading="lazy" src="{esc(links.file(src.rid, shot))}" alt="step {row["step"]}">'
           if shot else '<div class="noshot">no screenshot</div>')
    tags = ", ".join(row.get("value_tags") or []) or "no value tags"
    match = " · persona value" if row.get("value_match") else ""
    # the persona's relevance labels (personas.is_relevant); absent: no labels, older run
    match += {True: " · relevant", False: " · not relevant"}.get(row.get("relevant"), "")
    error = f'<div class="error">{esc(row["error"])}</div>' if row.get("error") else ""
    isq = isq_line(row)
    return (f'<a class="step {kind}" id="s-{row["step"]}" data-step="{row["step"]}" '
            f'data-decision="{label}" href="{esc(links.step(src.rid, row["trial_id"], row["step"]))}"'
            f'{" tabindex=0" if focusable else ""}>{img}'
            f'<div class="meta"><b>#{row["step"]}</b> {badge(label, kind)}'
            f'<div class="small">{esc(row.get("category") or "")} · {esc(tags)}{match}</div>'
            + (f'<div class="small isq">{esc(isq)}</div>' if isq else "")
            + f'<div class="reply">{esc(first_reply(row)[:160])}</div>'
            f'<div class="small">{esc(usage_line(row))}</div>{error}</div></a>')


def _pager(links: Links, rid: str, tid: str, page_no: int, pages: int) -> str:
    prev = (f'<a rel="prev" href="{esc(links.trial_page(rid, tid, page_no - 1))}">‹ steps '
            f'{(page_no - 1) * PAGE}–{page_no * PAGE - 1}</a>' if page_no > 0 else "")
    nxt = (f'<a rel="next" href="{esc(links.trial_page(rid, tid, page_no + 1))}">steps '
           f'{(page_no + 1) * PAGE}–… ›</a>' if page_no + 1 < pages else "")
    return f'<p class="pager">{prev} <span>page {page_no + 1} of {max(pages, 1)}</span> {nxt}</p>'


def trial_facts(src: SweepReader, links: Links, meta: dict[str, Any]) -> list[tuple[str, str]]:
    """Cell, status, seed, restarts and error of a trial."""
    out = [("cell", f'<a href="{esc(links.cell(src.rid, meta["cell"]))}">{esc(meta["cell"])}</a>'),
           ("status", badge(meta.get("status", "running")))]
    if meta.get("seed") is not None:
        out.append(("seed · repetition", esc(f"{meta['seed']} · {meta.get('index')}")))
    if meta.get("restarts"):
        out.append(("restarts", esc(meta["restarts"])))
    if meta.get("error"):
        out.append(("error", f'<span class="error">{esc(meta["error"])}</span>'))
    return out


def filmstrip_page(src: SweepReader, links: Links, tid: str, page_no: int = 0) -> str | None:
    """One page of a trial's filmstrip (None: no such trial)."""
    meta = src.trial_meta(tid)
    if meta is None:
        return None
    n = src.trial_length(tid)
    pages = max(1, -(-n // PAGE))
    rows = src.trial_steps(tid, page_no * PAGE, PAGE)
    stays = sum(1 for r in rows if r.get("decision") == 1)
    body = [definition_list(trial_facts(src, links, meta) + [
        ("steps", esc(f"{n} recorded; on this page {len(rows)}, {stays} stayed"))])]
    twins = []
    if meta.get("index") is not None:
        for other in src.cells_like(meta["cell"]):
            twin = src.trial_at(other, int(meta["index"]))
            href = twin and links.compare(f"{src.rid}:trial:{tid}", f"{src.rid}:trial:{twin}")
            if href:
                twins.append(f'<a href="{esc(href)}">{esc(other)}</a>')
    if twins:
        body.append("<p>Side by side with the same repetition in: " + " · ".join(twins) + "</p>")
    body.append('<p class="hint">Keys: ← → move between steps, Enter opens one, '
                'Home/End jump to the first/last step of the page.</p>')
    body.append(_pager(links, src.rid, tid, page_no, pages))
    body.append('<div class="filmstrip" data-trial="' + esc(tid) + '">'
                + "".join(step_card(src, links, r) for r in rows) + "</div>")
    body.append(_pager(links, src.rid, tid, page_no, pages))
    return page(links, f"Trial {tid}", "".join(body),
                crumbs=[(src.name, links.run(src.rid)), (meta["cell"], links.cell(src.rid, meta["cell"])),
                        (tid, None)],
                live=links.signature(src.rid) if src.live() else None,
                signature=src.signature(), kind="filmstrip")


def replay_html(replay: Replay, strategy: str) -> str:
    """The rebuilt conversation(s), labelled as what the strategy sends."""
    head = (f"<p>The prompt the <b>{esc(strategy)}</b> strategy sends for this step, rebuilt by "
            "replaying the recorded replies through the strategy with the run's prompt set and "
            "persona (the screenshot is sent as an image where marked).</p>")
    notes = "".join(f'<p class="note {esc(level)}">{esc(text)}</p>'
                    for level, text in replay.notes)
    if replay.error:
        return head + notes + f'<p class="error">{esc(replay.error)}</p>'
    chats = []
    for i, chat in enumerate(replay.conversations, 1):
        turns = "".join(
            f'<div class="turn {esc(t.role)}"><span class="role">{esc(t.role)}'
            + (f' <small>asks for: {esc(t.asked_as)}</small>' if t.asked_as else "") + "</span>"
            + ('<span class="image-part">[the screenshot, as an image]</span>' if t.image else "")
            + f"<pre>{esc(t.text)}</pre></div>" for t in chat)
        title = f"<h3>Conversation {i}</h3>" if len(replay.conversations) > 1 else ""
        chats.append(f'<div class="conversation">{title}{turns}</div>')
    return head + notes + "".join(chats)


def step_page(src: SweepReader, links: Links, row: dict[str, Any], total: int,
              replay: Replay) -> str:
    """One step in full; `total` is the trial's step count (for the next link)."""
    tid, n = row["trial_id"], int(row["step"])
    label, kind = decision(row.get("decision"))
    nav = [f'<a rel="up" href="{esc(links.trial(src.rid, tid, n))}">filmstrip</a>']
    if n > 0:
        nav.insert(0, f'<a rel="prev" href="{esc(links.step(src.rid, tid, n - 1))}">‹ step {n - 1}</a>')
    if n + 1 < total:
        nav.append(f'<a rel="next" href="{esc(links.step(src.rid, tid, n + 1))}">step {n + 1} ›</a>')
    shot = row.get("screenshot_path")
    img = (f'<a href="{esc(links.file(src.rid, shot))}"><img class="full" src="'
           f'{esc(links.file(src.rid, shot))}" alt="screenshot of step {n}"></a>'
           if shot else '<div class="noshot">no screenshot recorded</div>')
    try:
        answers = json.loads(row.get("answers") or "{}")
    except json.JSONDecodeError:
        answers = {"(unreadable)": row.get("answers")}
    replies = table(["question", "reply"], [[esc(k), f"<pre>{esc(v)}</pre>"]
                                            for k, v in answers.items()])
    fields = [(k, esc(_plain(row.get(k)))) for k in (
        "item_id", "category", "value_tags", "value_match", "relevant", "action", "dwell_s", "watched_s",
        "watch_ratio", "t_s", "prompt_version", "isq_format", "url") if row.get(k) not in (None, "")]
    facts = [("decision", badge(label, kind)), ("ISQ", esc(isq_line(row)) or "–"),
             ("usage", esc(usage_line(row)))]
    if row.get("error"):
        facts.append(("error", f'<span class="error">{esc(row["error"])}</span>'))
    body = (f'<p class="pager">{" · ".join(nav)}</p><div class="step-detail" data-step="{n}">'
            f'<div>{img}</div><div>{definition_list(facts + fields)}'
            f"<h2>Replies</h2>{replies}<h2>Prompt</h2>{replay_html(replay, row['strategy'])}"
            "</div></div>")
    return page(links, f"{tid} · step {n}", body,
                crumbs=[(src.name, links.run(src.rid)), (row["cell"], links.cell(src.rid, row["cell"])),
                        (tid, links.trial(src.rid, tid, n)), (f"step {n}", None)],
                kind="step")


def compare_trials_body(a: tuple[SweepReader, str], b: tuple[SweepReader, str],
                        links: Links) -> str:
    """Two trials step by step: row s holds step s of each (a trial is short enough to
    show whole: its scrolls, not the run's steps)."""
    heads, cols = [], []
    for src, tid in (a, b):
        meta = src.trial_meta(tid) or {"cell": "?"}
        heads.append(f'<a href="{esc(links.trial(src.rid, tid))}">{esc(src.name)} · {esc(tid)}</a>'
                     f'<div class="small">{esc(meta["cell"])}</div>')
        cols.append({r["step"]: r for r in src.trial_steps(tid, 0, src.trial_length(tid))})
    steps = sorted(set(cols[0]) | set(cols[1]))
    rows = []
    for s in steps:
        cells = [step_card(src, links, col[s], focusable=False) if s in col else "–"
                 for (src, _), col in ((a, cols[0]), (b, cols[1]))]
        rows.append(cells)
    same = sum(1 for s in steps if s in cols[0] and s in cols[1]
               and cols[0][s].get("item_id") == cols[1][s].get("item_id"))
    return (f"<p>{len(steps)} steps on this page; the same post at {same} of them.</p>"
            + table(heads, rows, cls="side-by-side", html_headers=True))

"""A Value-Spectrum run: Table 1 and the figures; per value, the retrieved images and answers."""

from __future__ import annotations

import json
from typing import Any

from valuespectrum.report.spectrum import ValueScore
from valuespectrum.types import SchwartzValue
from valuespectrum.view.html import badge, definition_list, esc, num, page, pct, table
from valuespectrum.view.links import Links
from valuespectrum.view.replay import Replay
from valuespectrum.view.spectrum_reader import SpectrumReader
from valuespectrum.view.trial_pages import replay_html


def value_label(v: str) -> str:
    """A Schwartz value as the paper prints it ("Self-direction")."""
    return SchwartzValue(v).label if v in {x.value for x in SchwartzValue} else v


def _yes(value: bool | None, error: str | None) -> tuple[str, str]:
    if value is None:
        return ("failed" if error and error != "invalid" else "invalid"), "invalid"
    return ("yes", "stay") if value else ("no", "skip")


def _score(s: ValueScore | None) -> str:
    if s is None or s.mean is None:
        return "–"
    std = "–" if s.std is None else f"{100 * s.std:.0f}"
    return f"{100 * s.mean:.0f} ± {std}"


def table1(src: SpectrumReader, links: Links, arms: list[str]) -> str:
    """Values (rows) x arms (columns): yes rate %, mean ± std across keywords."""
    scores = src.scores()
    rows = []
    for v in src.values():
        rows.append([f'<a href="{esc(links.value(src.rid, v))}">{esc(value_label(v))}</a>']
                    + [_score(scores.get(a, {}).get(v)) for a in arms])
    return table(["value", *arms], rows, cls="table1")


def run_card(src: SpectrumReader, links: Links) -> str:
    """The run's card on the runs page: status, retrieval, cost, each arm's mean yes rate."""
    ov = src.overview()
    scores = src.scores()
    rows = []
    for a in ov["arms"]:
        means = [s.mean for s in scores.get(a.label, {}).values() if s.mean is not None]
        rows.append(f"<li>{esc(a.label)} ({esc(a.strategy)}): "
                    f"{ov['answers'].get(a.label, 0)} answers, mean yes rate over values "
                    f"{pct(sum(means) / len(means)) if means else '–'}</li>")
    facts = [("status", badge(ov["status"], "running" if ov["status"] == "running" else "")),
             ("retrieval", esc(f"top {src.spec.get('top_k')}, {ov['images_per_arm']} images "
                               "per arm")),
             ("cost", esc(f"${ov['cost_usd']:.4f}; {ov['invalid']} invalid or failed"))]
    return definition_list(facts) + f"<ul>{''.join(rows)}</ul>"


def run_page(src: SpectrumReader, links: Links) -> str:
    """A benchmark run: arms, Table 1, the Figure 9 table, the report's figures."""
    ov = src.overview()
    s = src.spec
    arms = ov["arms"]
    plain = [a.label for a in arms if a.strategy == "plain"]
    pairs = [a for a in arms if a.strategy == "caption_llm"]
    facts = [("status", badge(ov["status"], "running" if ov["status"] == "running" else "")),
             ("arms", esc("; ".join(f"{a.label} ({a.strategy}: {a.model}"
                                    + (f" + {a.text_model}" if a.text_model else "") + ")"
                                    for a in arms))),
             ("retrieval", esc(f"top {s.get('top_k')} per keyword, embedder {s.get('embedder')}, "
                               f"{ov['images_per_arm']} images per arm")),
             ("answers", esc(", ".join(f"{k} {v}" for k, v in ov["answers"].items()) or "none")
              + esc(f" ({ov['invalid']} invalid or failed)")),
             ("cost", esc(f"${ov['cost_usd']:.4f}"))]
    if ov.get("writer"):
        facts.append(("writer", esc(ov["writer"])))
    body = [definition_list(facts),
            "<h2>Table 1: preference per value (yes rate %, mean ± std across keywords)</h2>",
            "<p>Invalid answers are excluded from the scores and counted apart; click a value "
            "for its images and every model's answers.</p>",
            table1(src, links, plain) if plain else "<p>No plain arm.</p>"]
    if pairs:
        cols = [x for p in pairs for x in (p.vlm_label, p.label)]
        body += ["<h2>Figure 9: the VLM (image) against captioning + LLM (text)</h2>",
                 table1(src, links, list(dict.fromkeys(cols)))]
    figures = src.figures()
    if figures:
        body.append("<h2>Figures</h2>" + "".join(
            f'<img class="figure" src="{esc(links.file(src.rid, f))}" alt="{esc(f)}">'
            for f in figures))
    return page(links, f"Value-Spectrum run {src.name}", "".join(body),
                crumbs=[(src.name, None)],
                live=links.signature(src.rid) if ov["live"] else None,
                signature=src.signature(), kind="spectrum")


def value_page(src: SpectrumReader, links: Links, value: str) -> str | None:
    """A value's retrieved images, keyword by keyword, with every arm's answer (None: no
    image was retrieved for it)."""
    items = src.retrieved(value)
    if not items:
        return None
    answers: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in src.answers(value):
        answers.setdefault((r["keyword"], int(r["rank"])), []).append(r)
    arm_order = [a.label for a in src.arms()]
    scores = src.scores()
    body = ["<p>" + esc("; ".join(f"{a}: {_score(scores.get(a, {}).get(value))}"
                                  for a in arm_order)) + "</p>"]
    for kw in dict.fromkeys(it["keyword"] for it in items):
        cards = []
        for it in (i for i in items if i["keyword"] == kw):
            rows = sorted(answers.get((kw, int(it["rank"])), []),
                          key=lambda r: arm_order.index(r["arm"]) if r["arm"] in arm_order else 99)
            verdicts = []
            for r in rows:
                label, kind = _yes(r.get("yes"), r.get("error"))
                href = links.answer(src.rid, r["arm"], value, kw, int(it["rank"]))
                verdicts.append(f'<li><a href="{esc(href)}">{esc(r["arm"])}</a> '
                                f'{badge(label, kind)}</li>')
            img = links.image(src.rid, value, kw, int(it["rank"]))
            cards.append(f'<div class="retrieved"><img loading="lazy" src="{esc(img)}" '
                         f'alt="{esc(it["caption"])}"><div class="small">#{it["rank"]} · '
                         f'distance {num(it["distance"], ".3f")}</div><div class="caption">'
                         f'{esc(it["caption"])}</div><ul class="verdicts">{"".join(verdicts)}'
                         "</ul></div>")
        body.append(f'<h2>Keyword “{esc(kw)}”</h2><div class="gallery">{"".join(cards)}</div>')
    return page(links, f"{value_label(value)}: retrieved images and answers", "".join(body),
                crumbs=[(src.name, links.run(src.rid)), (value_label(value), None)],
                live=links.signature(src.rid) if src.live() else None,
                signature=src.signature(), kind="value")


def find_answer(src: SpectrumReader, arm: str, value: str, keyword: str,
                rank: int) -> dict[str, Any] | None:
    """The answer of `arm` to one retrieved image, or None."""
    return next((r for r in src.answers(value) if r["arm"] == arm and r["keyword"] == keyword
                 and int(r["rank"]) == rank), None)


def answer_page(src: SpectrumReader, links: Links, row: dict[str, Any], replay: Replay) -> str:
    """One answer in full: the image, the raw replies and the rebuilt prompt."""
    value, kw, rank = row["value"], row["keyword"], int(row["rank"])
    label, kind = _yes(row.get("yes"), row.get("error"))
    try:
        replies = json.loads(row.get("answers") or "{}")
    except json.JSONDecodeError:
        replies = {"(unreadable)": row.get("answers")}
    facts = [("answer", badge(label, kind)), ("arm", esc(f"{row['arm']} ({row['strategy']})")),
             ("model", esc(row["model"] + (f" + {row['text_model']}" if row.get("text_model")
                                           else ""))),
             ("usage", esc(f"{row.get('latency_s') or 0:.2f} s · {row.get('input_tokens') or 0}/"
                           f"{row.get('output_tokens') or 0} tok · ${row.get('cost_usd') or 0:.4f}"
                           + (" · cached" if row.get("cached") else ""))),
             ("image", esc(f"{row['image_id']} ({row['path']})"))]
    if row.get("error"):
        facts.append(("error", f'<span class="error">{esc(row["error"])}</span>'))
    img = links.image(src.rid, value, kw, rank)
    body = (f'<div class="step-detail"><div><img class="full" src="{esc(img)}" alt="image"></div>'
            f"<div>{definition_list(facts)}<h2>Replies</h2>"
            + table(["question", "reply"], [[esc(k), f"<pre>{esc(v)}</pre>"]
                                            for k, v in replies.items()])
            + f"<h2>Prompt</h2>{replay_html(replay, row['strategy'])}</div></div>")
    return page(links, f"{row['arm']} on “{kw}” #{rank}", body,
                crumbs=[(src.name, links.run(src.rid)),
                        (value_label(value), links.value(src.rid, value)),
                        (f"{kw} #{rank} · {row['arm']}", None)], kind="answer")

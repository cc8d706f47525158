"""Page layout and formatting: plain HTML strings, escaped, with one stylesheet and script."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from valuespectrum.view.links import Links

__all__ = ["badge", "ci", "decision", "definition_list", "esc", "num", "p_value", "page", "pct",
           "table"]


def esc(x: Any) -> str:
    return escape("" if x is None else str(x))


def num(x: float | None, spec: str = "+.3f") -> str:
    """A number as the reports print it; '–' when missing, scientific when out of scale."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if abs(x) >= 1e5:
        return format(x, "+.2e" if "+" in spec else ".2e")
    return format(x, spec)


def ci(bounds: Sequence[float | None] | None, spec: str = "+.3f") -> str:
    if not bounds or bounds[0] is None or bounds[1] is None:
        return "–"
    return f"[{num(bounds[0], spec)}, {num(bounds[1], spec)}]"


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def p_value(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def decision(value: int | bool | None) -> tuple[str, str]:
    """(label, css class) of a recorded decision: stay, skip or invalid."""
    if value is None:
        return "invalid", "invalid"
    return ("stay", "stay") if value else ("skip", "skip")


def badge(text: str, kind: str = "") -> str:
    return f'<span class="badge {esc(kind)}">{esc(text)}</span>'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "",
          html_headers: bool = False) -> str:
    """An HTML table; cells are HTML already (escape text with `esc`), headers text unless
    `html_headers`."""
    head = "".join(f"<th>{h if html_headers else esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def page(links: Links, title: str, body: str, *, crumbs: Sequence[tuple[str, str | None]] = (),
         live: str | None = None, signature: str = "", kind: str = "") -> str:
    """A whole page: header with breadcrumbs, the body, the stylesheet and the script.

    Args:
        crumbs: (label, link or None) from the runs page down to this one.
        live: Where to poll for changes (pages of runs in progress on the server), or None.
        signature: The run's signature when the page was made (compared while polling).
        kind: A name for the page (``runs``, ``cell``, ``filmstrip``...), for scripts and tests.
    """
    nav = " › ".join(f'<a href="{esc(href)}">{esc(label)}</a>' if href else esc(label)
                     for label, href in [("runs", links.index()), *crumbs])
    poll = (f' data-live="{esc(live)}" data-signature="{esc(signature)}"' if live else "")
    banner = ('<p class="live-note">Read from the journals (the run is in progress, or stopped '
              'before writing its tables): this page reloads as they grow.</p>' if live else "")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{esc(title)} · vspec view</title>'
            f'<link rel="stylesheet" href="{esc(links.asset("view.css"))}"></head>'
            f'<body data-page="{esc(kind)}"{poll}><header><nav>{nav}</nav></header>'
            f'<main><h1>{esc(title)}</h1>{banner}{body}</main>'
            f'<script src="{esc(links.asset("view.js"))}"></script></body></html>')


def definition_list(items: Iterable[tuple[str, str]]) -> str:
    """<dl> of (term, HTML) pairs."""
    return '<dl class="facts">' + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in items) \
        + "</dl>"

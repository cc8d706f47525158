"""Where a page links to: URLs of the local server, or relative files of a static export.

Pages are written once, against `Links`; the server passes `ServerLinks`, the export a
`StaticLinks` for the page being written (its links are relative, so the exported folder
opens from disk, from any place it is copied to).
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote, urlencode

from valuespectrum.names import safe_name

#: Steps per filmstrip page.
PAGE = 50


def file_slug(text: str) -> str:
    """A file-safe name for any id (cells contain ``|``), unique by a short digest."""
    safe = safe_name(text).strip("-.")[:80]
    return f"{safe}-{hashlib.sha256(text.encode()).hexdigest()[:6]}"


class Links:
    """The links of the local server (absolute paths)."""

    static = False

    def index(self) -> str:
        return "/"

    def run(self, rid: str) -> str:
        return f"/run/{quote(rid)}"

    def cell(self, rid: str, cell: str) -> str:
        return f"/run/{quote(rid)}/cell?{urlencode({'id': cell})}"

    def trial(self, rid: str, tid: str, step: int | None = None) -> str:
        """The filmstrip page holding `step` (the first page when None), anchored on it."""
        page = (step or 0) // PAGE
        base = f"/run/{quote(rid)}/trial/{quote(tid)}" + (f"?page={page}" if page else "")
        return base + (f"#s-{step}" if step is not None else "")

    def trial_page(self, rid: str, tid: str, page: int) -> str:
        return f"/run/{quote(rid)}/trial/{quote(tid)}" + (f"?page={page}" if page else "")

    def step(self, rid: str, tid: str, step: int) -> str:
        return f"/run/{quote(rid)}/trial/{quote(tid)}/step/{step}"

    def compare(self, a: str, b: str) -> str | None:
        """Side by side: `a` and `b` are refs ``RID:trial:ID`` or ``RID:cell:ID``."""
        return f"/compare?{urlencode({'a': a, 'b': b})}"

    def value(self, rid: str, value: str) -> str:
        return f"/run/{quote(rid)}/value/{quote(value)}"

    def answer(self, rid: str, arm: str, value: str, keyword: str, rank: int) -> str | None:
        q = urlencode({"arm": arm, "value": value, "keyword": keyword, "rank": rank})
        return f"/run/{quote(rid)}/answer?{q}"

    def file(self, rid: str, rel: str) -> str:
        return f"/run/{quote(rid)}/files/{quote(rel)}"

    def image(self, rid: str, value: str, keyword: str, rank: int) -> str:
        q = urlencode({"value": value, "keyword": keyword, "rank": rank})
        return f"/run/{quote(rid)}/image?{q}"

    def asset(self, name: str) -> str:
        return f"/assets/{name}"

    def signature(self, rid: str) -> str | None:
        """Where a live page asks whether its run changed (None: no reloading)."""
        return f"/api/signature/{quote(rid)}"


class StaticLinks(Links):
    """Relative links between the files of a static export.

    Layout: ``index.html``, ``assets/``, and per run ``<rid>/index.html``,
    ``<rid>/cell-<slug>.html``, ``<rid>/trial-<id>-<page>.html``, ``<rid>/step-<id>-<n>.html``,
    ``<rid>/value-<v>.html``, ``<rid>/answer-<slug>.html``, ``<rid>/files/...`` (screenshots
    and figures), ``<rid>/images/...`` (retrieved images); ``compare/<slug>.html``.

    Args:
        depth: How deep the page being written is (0: index.html, 1: everything else).
        compares: The comparisons exported (others are not linked).
        images: (rid, value, keyword, rank) -> the exported image's name under images/.
    """

    static = True

    def __init__(self, depth: int, compares: set[tuple[str, str]] | None = None,
                 images: dict[tuple[str, str, str, int], str] | None = None) -> None:
        self.up = "../" * depth
        self.compares = compares or set()
        self.images = images or {}

    def at(self, depth: int) -> StaticLinks:
        return StaticLinks(depth, self.compares, self.images)

    def index(self) -> str:
        return f"{self.up}index.html"

    def run(self, rid: str) -> str:
        return f"{self.up}{quote(rid)}/index.html"

    def cell(self, rid: str, cell: str) -> str:
        return f"{self.up}{quote(rid)}/cell-{file_slug(cell)}.html"

    def trial(self, rid: str, tid: str, step: int | None = None) -> str:
        page = self.trial_page(rid, tid, (step or 0) // PAGE)
        return page + (f"#s-{step}" if step is not None else "")

    def trial_page(self, rid: str, tid: str, page: int) -> str:
        return f"{self.up}{quote(rid)}/trial-{quote(tid)}-{page}.html"

    def step(self, rid: str, tid: str, step: int) -> str:
        return f"{self.up}{quote(rid)}/step-{quote(tid)}-{step}.html"

    def compare(self, a: str, b: str) -> str | None:
        if (a, b) not in self.compares:
            return None
        return f"{self.up}compare/{file_slug(a + '~' + b)}.html"

    def value(self, rid: str, value: str) -> str:
        return f"{self.up}{quote(rid)}/value-{quote(value)}.html"

    def answer(self, rid: str, arm: str, value: str, keyword: str, rank: int) -> str | None:
        return f"{self.up}{quote(rid)}/answer-{file_slug(f'{arm}|{value}|{keyword}|{rank}')}.html"

    def file(self, rid: str, rel: str) -> str:
        return f"{self.up}{quote(rid)}/files/{quote(rel)}"

    def image(self, rid: str, value: str, keyword: str, rank: int) -> str:
        name = self.images.get((rid, value, keyword, rank), "missing.png")
        return f"{self.up}{quote(rid)}/images/{quote(name)}"

    def asset(self, name: str) -> str:
        return f"{self.up}assets/{name}"

    def signature(self, rid: str) -> str | None:
        return None

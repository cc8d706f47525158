"""A Value-Spectrum run as the viewer shows it: its card, pages, replays and static export.

What it reads is `SpectrumReader`'s (`view/spectrum_reader.py`); the HTML is
`view/spectrum_pages.py`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from valuespectrum.strategies import StrategyOptions
from valuespectrum.view import spectrum_pages
from valuespectrum.view.links import Links
from valuespectrum.view.replay import Replay, ReplayContext
from valuespectrum.view.spectrum_reader import SpectrumReader


class SpectrumSource(SpectrumReader):
    """A Value-Spectrum benchmark run directory: arms answering about retrieved images."""

    kind_label = "Value-Spectrum benchmark"
    routes = frozenset({"value", "answer", "image"})

    def card(self, links: Links) -> str:
        return spectrum_pages.run_card(self, links)

    def run_page(self, links: Links) -> str:
        return spectrum_pages.run_page(self, links)

    def replay_context(self, row: dict[str, Any]) -> ReplayContext:
        """No persona; the plain arm asks follow-ups as the spec says, and the caption_llm
        arm's LLM the plain arm's question (see `spectrum.arms.answer_items`)."""
        strategy = row.get("strategy") or ""
        options = StrategyOptions(followups=bool(self.spec.get("followups", True)),
                                  caption_question="plain")
        return ReplayContext(strategy=strategy,
                             params=options.params_for(strategy).model_dump(mode="json"))

    def export_images(self, place: Callable[[Path, str], None]) -> dict[tuple[str, str, int], str]:
        """The retrieved images (from the corpus), numbered in retrieval order."""
        names: dict[tuple[str, str, int], str] = {}
        for i, it in enumerate(self.retrieved()):
            path = Path(it["path"])
            if path.is_file():
                name = f"{i:05d}{path.suffix.lower()}"
                place(path, name)
                names[(it["value"], it["keyword"], int(it["rank"]))] = name
        return names

    def static_pages(self, links: Links, replay: Callable[[dict[str, Any]], Replay]
                     ) -> Iterator[tuple[str, str | None]]:
        """The run page, each value's page and each answer with its prompt."""
        rid = self.rid
        yield f"{rid}/index.html", spectrum_pages.run_page(self, links)
        for v in self.values():
            yield f"{rid}/value-{v}.html", spectrum_pages.value_page(self, links, v)
        for row in self.answers():
            rel = links.answer(rid, row["arm"], row["value"], row["keyword"], int(row["rank"]))
            yield rel.removeprefix("../"), spectrum_pages.answer_page(self, links, row, replay(row))

"""A sweep as the viewer shows it: its card, pages, comparisons, replays and static export.

What it reads is `SweepReader`'s (`view/sweep_reader.py`); the HTML is `view/sweep_pages.py`'s
and `view/trial_pages.py`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from valuespectrum.personas import Persona
from valuespectrum.report.contrast_rows import comparisons
from valuespectrum.view import sweep_pages, trial_pages
from valuespectrum.view.links import PAGE, Links, file_slug
from valuespectrum.view.replay import Replay, ReplayContext, trial_strategy_params
from valuespectrum.view.sweep_reader import SweepReader


class SweepSource(SweepReader):
    """A sweep run directory: persona × model × platform × strategy cells of trials."""

    kind_label = "sweep"
    routes = frozenset({"cell", "trial", "step"})
    compares = True

    def card(self, links: Links) -> str:
        return sweep_pages.run_card(self, links)

    def run_page(self, links: Links) -> str:
        return sweep_pages.run_page(self, links)

    def compare_pairs(self) -> set[tuple[str, str]]:
        """Each contrast's treatment cell with its control, each of its trials with the same
        repetition in the control, and each cell with every cell one dimension away."""
        rid = self.rid
        pairs: set[tuple[str, str]] = set()
        summary = self.summary()
        for c in comparisons(summary) if summary else []:
            if c.treatment_cell.pooled:
                continue
            pairs.add((f"{rid}:cell:{c.treatment}", f"{rid}:cell:{c.control}"))
            for t in self.cell_trials(c.treatment):
                rec = t["record"]
                twin = self.trial_at(c.control, rec.index) if rec is not None else None
                if twin:
                    pairs.add((f"{rid}:trial:{t['trial_id']}", f"{rid}:trial:{twin}"))
        for row in self.cell_rows():
            for other in self.cells_like(row["cell"]):
                pairs.add((f"{rid}:cell:{row['cell']}", f"{rid}:cell:{other}"))
        return pairs

    def replay_context(self, row: dict[str, Any]) -> ReplayContext:
        """The step's persona from spec.yaml, and its trial's strategy parameters as the
        trial record stores them (`replay.trial_strategy_params`)."""
        entry = next((p for p in self.spec.get("personas") or []
                      if isinstance(p, dict) and p.get("name") == row.get("persona")), None)
        if entry is None:
            raise ValueError(f"persona {row.get('persona')!r} is not in the run's spec.yaml")
        record = self.trial_records().get(row.get("trial_id") or "")
        return ReplayContext(strategy=row.get("strategy") or "",
                             params=trial_strategy_params(
                                 record.strategy_params if record is not None else None,
                                 self.spec, row),
                             persona=Persona.model_validate(entry))

    def static_pages(self, links: Links, replay: Callable[[dict[str, Any]], Replay]
                     ) -> Iterator[tuple[str, str | None]]:
        """The run page, each cell, each trial's filmstrip pages and each step."""
        rid = self.rid
        yield f"{rid}/index.html", sweep_pages.run_page(self, links)
        tids: set[str] = set(self.trial_records())
        for row in self.cell_rows():
            yield (f"{rid}/cell-{file_slug(row['cell'])}.html",
                   sweep_pages.cell_page(self, links, row["cell"]))
            tids.update(t["trial_id"] for t in self.cell_trials(row["cell"]))
        for tid in sorted(tids):
            steps = self.trial_steps(tid, 0, 1 << 30)  # one trial at a time: its scrolls only
            for page_no in range(max(1, -(-len(steps) // PAGE))):
                yield (f"{rid}/trial-{tid}-{page_no}.html",
                       trial_pages.filmstrip_page(self, links, tid, page_no))
            for row in steps:
                yield (f"{rid}/step-{tid}-{row['step']}.html",
                       trial_pages.step_page(self, links, row, len(steps), replay(row)))

"""A sweep's steps and trials, queried lazily: a page reads the rows it shows, no more.

Every file is found and read through the run's `engine.reader.RunReader` (typed trial
records and summary); the step rows are paged with DuckDB. A finished sweep is read from
steps.parquet and trials.parquet (only the columns and rows a query needs are read). A sweep in progress, or one whose journals are newer than
its tables, is read from its journals: one trial's journal for a filmstrip and a step, and
for the run and cell pages a narrow index of all of them, read incrementally as they grow
(see `journal_index`).
"""

from __future__ import annotations

import threading
from typing import Any

from valuespectrum.engine.reader import STEPS_TABLE, TRIALS_TABLE, CellColumns
from valuespectrum.sweep.results import TrialRecord
from valuespectrum.sweep.spec import planned_trials
from valuespectrum.sweep.summary_model import CellRow, SweepSummary
from valuespectrum.view.journal_index import NARROW_SELECT, TABLE, JournalIndex
from valuespectrum.view.links import PAGE
from valuespectrum.view.run_source import RunSource


class SweepReader(RunSource):
    """Read access to a sweep run directory (see `valuespectrum.sweep.results`); its pages
    and replays are `view.sweep_source.SweepSource`'s."""

    kind = "sweep"
    summary_model = SweepSummary

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._db: Any = None
        self._index: JournalIndex | None = None
        self._db_lock = threading.Lock()
        self._memo: dict[str, tuple[Any, Any]] = {}

    def tables(self) -> tuple[str, ...]:
        return (STEPS_TABLE, TRIALS_TABLE)

    def summary(self) -> SweepSummary | None:
        return super().summary()

    # ------------------------------------------------------------------ queries
    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        """Run `sql`, in which ``{index}`` names the narrow step rows of every trial (see
        `journal_index`) and ``{steps}`` the full rows of steps.parquet (finished runs only)."""
        import duckdb

        live = self.live()
        with self._db_lock:
            if self._db is None:
                self._db = duckdb.connect(":memory:")
            if live:
                if self._index is None:
                    self._index = JournalIndex(self._db)
                self._index.refresh([j.path for j in self.reader.step_journals()])
            cur = self._db.cursor()  # one connection per query: pages are served in threads
        steps = self.reader.sql(STEPS_TABLE)
        index = TABLE if live else f"({NARROW_SELECT} FROM {steps})"
        try:
            cur.execute(sql.format(index=index, steps=steps), params or [])
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        finally:
            cur.close()

    def _cached(self, key: str, stamp: Any, make: Any) -> Any:
        """`make()`, computed again only when `stamp` changes."""
        hit = self._memo.get(key)
        if hit is None or hit[0] != stamp:
            hit = (stamp, make())
            self._memo[key] = hit
        return hit[1]

    # ------------------------------------------------------------------ trials
    def trial_records(self) -> dict[str, TrialRecord]:
        """The latest record of each finished trial attempt, by trial id."""
        found = self.scan()
        if not self.live():
            return self._cached("trials", found.get(TRIALS_TABLE), self.reader.trial_table)
        journal = self.reader.trials_journal().path
        return self._cached("trials-live", found.get(f"{journal.parent.name}/{journal.name}"),
                            self.reader.trial_records)

    def _journal_rows(self, trial_id: str) -> list[dict[str, Any]]:
        """One trial's journaled steps, in order: small, and exactly what is on disk now."""
        return self.reader.step_rows([trial_id])

    def trial_steps(self, trial_id: str, offset: int = 0, limit: int = PAGE
                    ) -> list[dict[str, Any]]:
        """Steps `offset`..`offset + limit` of a trial, in order."""
        if self.live():
            return self._journal_rows(trial_id)[offset:offset + limit]
        return self.query("SELECT * FROM {steps} WHERE trial_id = ? ORDER BY step "
                          "LIMIT ? OFFSET ?", [trial_id, limit, offset])

    def trial_length(self, trial_id: str) -> int:
        """How many steps the trial has recorded."""
        if self.live():
            return len(self._journal_rows(trial_id))
        return self.query("SELECT count(*) AS n FROM {steps} WHERE trial_id = ?",
                          [trial_id])[0]["n"]

    def step(self, trial_id: str, step: int) -> dict[str, Any] | None:
        """One step's full row, or None."""
        if self.live():
            rows = [r for r in self._journal_rows(trial_id) if r["step"] == step]
        else:
            rows = self.query("SELECT * FROM {steps} WHERE trial_id = ? AND step = ?",
                              [trial_id, step])
        return rows[0] if rows else None

    def trial_meta(self, trial_id: str) -> dict[str, Any] | None:
        """The trial's cell, persona, model, platform, strategy (and record when finished)."""
        rec = self.trial_records().get(trial_id)
        if rec is not None:
            return rec.model_dump()
        first = self.trial_steps(trial_id, 0, 1)
        if not first:
            return None
        keys = ("trial_id", "cell", "persona", "model", "platform", "strategy")
        return {**{k: first[0][k] for k in keys}, "status": "running"}

    # ------------------------------------------------------------------ cells
    def cell_rows(self) -> list[dict[str, Any]]:
        """Per cell: its columns and live counts from the steps, and the summary's
        statistics (`CellRow`, under ``stats``) if written."""
        counts = self.query(
            "SELECT cell, any_value(persona) AS persona, any_value(model) AS model, "
            "any_value(platform) AS platform, any_value(strategy) AS strategy, "
            "count(DISTINCT trial_id) AS trials_seen, count(*) AS steps, "
            "avg(decision) AS yes_rate, count(*) - count(decision) AS invalid, "
            "sum(cost_usd) AS cost_usd FROM {index} GROUP BY cell ORDER BY cell")
        summary = self.summary()
        stats = {c.cell: c for c in summary.cells} if summary else {}
        out = []
        for row in counts:
            out.append({**row, "stats": stats.pop(row["cell"], None)})
        out += [{"cell": c, **s.columns.model_dump(), "trials_seen": 0, "steps": 0,
                 "yes_rate": None, "invalid": 0, "cost_usd": 0.0, "stats": s}
                for c, s in stats.items()]
        return out

    def cell_stats(self, cell: str) -> CellRow | None:
        """The cell's statistics from summary.json (None until the run ends)."""
        summary = self.summary()
        return summary.cell(cell) if summary else None

    def cell_columns(self) -> dict[str, CellColumns]:
        """Every cell seen (in the steps or the summary) by key, as its four columns."""
        return self._cached("cells", self.signature(), lambda: {
            r["cell"]: CellColumns(**{f: r[f] for f in CellColumns.model_fields})
            for r in self.cell_rows()})

    def cell_trials(self, cell: str) -> list[dict[str, Any]]:
        """Per trial of the cell: its record (if finished) and counts from its steps."""
        counts = self.query(
            "SELECT trial_id, count(*) AS steps, avg(decision) AS yes_rate, "
            "count(*) - count(decision) AS invalid, avg(CAST(value_match AS INTEGER)) AS "
            "value_share, sum(cost_usd) AS cost_usd, count(*) FILTER (WHERE has_error) AS "
            "errors FROM {index} WHERE cell = ? GROUP BY trial_id ORDER BY trial_id", [cell])
        records = {t: r for t, r in self.trial_records().items() if r.cell == cell}
        out = [{**c, "record": records.pop(c["trial_id"], None)} for c in counts]
        out += [{"trial_id": t, "steps": 0, "yes_rate": None, "invalid": 0,
                 "value_share": None, "cost_usd": 0.0, "errors": 0, "record": r}
                for t, r in records.items()]
        return sorted(out, key=lambda r: r["trial_id"])

    def cell_series(self, cell: str) -> list[dict[str, Any]]:
        """(trial_id, step, decision, value_match) of every step of the cell."""
        return self.query("SELECT trial_id, step, decision, value_match FROM {index} "
                          "WHERE cell = ? ORDER BY trial_id, step", [cell])

    def cells_like(self, cell: str) -> list[str]:
        """Cells that differ from `cell` in exactly one dimension (what to compare it with)."""
        cells = self.cell_columns()
        mine = cells.get(cell)
        if mine is None:
            return []
        return sorted(name for name, other in cells.items()
                      if len(mine.differs_from(other)) == 1)

    def trial_at(self, cell: str, index: int) -> str | None:
        """The trial id with repetition `index` in `cell` (its twin in another cell)."""
        rec = next((r for r in self.trial_records().values()
                    if r.cell == cell and r.index == index), None)
        if rec is not None:
            return rec.trial_id
        rows = self.query("SELECT DISTINCT trial_id FROM {index} WHERE cell = ? ORDER BY trial_id",
                          [cell])
        ids = [r["trial_id"] for r in rows if r["trial_id"].endswith(f".{index:03d}")]
        return ids[0] if ids else None

    # ------------------------------------------------------------------ the run
    def status(self) -> str:
        if self.writer() is not None:
            return "running"
        problem = self.summary_problem()
        if problem is not None:
            return f"summary unreadable: {problem}"
        planned = len(planned_trials(self.plan()))
        done = sum(1 for r in self.trial_records().values() if r.status == "done")
        if self.summary() is not None and done >= planned:
            return "finished"
        return f"stopped ({done} of {planned} trials done)"

    def overview(self) -> dict[str, Any]:
        totals = self.query(
            "SELECT count(*) AS steps, count(DISTINCT trial_id) AS trials_seen, "
            "sum(cost_usd) AS cost_usd, sum(input_tokens) AS input_tokens, "
            "sum(output_tokens) AS output_tokens, count(*) - count(decision) AS invalid, "
            "avg(CAST(cached AS INTEGER)) AS cached_share FROM {index}")
        records = self.trial_records()
        statuses: dict[str, int] = {}
        for r in records.values():
            statuses[r.status] = statuses.get(r.status, 0) + 1
        return {"status": self.status(), "writer": self.writer(), "live": self.live(),
                "planned": len(planned_trials(self.plan())), "statuses": statuses,
                **(totals[0] if totals else {"steps": 0, "trials_seen": 0, "cost_usd": 0.0})}

"""A sweep's steps and trials, queried lazily: a page reads the rows it shows, no more.

A finished sweep is read from steps.parquet and trials.parquet with DuckDB (only the columns
and rows a query needs are read). A sweep in progress, or one whose journals are newer than
its tables, is read from its journals: one trial's journal for a filmstrip and a step, and
for the run and cell pages a narrow index of all of them, read incrementally as they grow
(see `journal_index`).
"""

from __future__ import annotations

import threading
from typing import Any

from valuespectrum.runs import read_jsonl
from valuespectrum.sweep.spec import planned_trials
from valuespectrum.trial import Cell
from valuespectrum.view.journal_index import NARROW_SELECT, TABLE, JournalIndex
from valuespectrum.view.links import PAGE
from valuespectrum.view.run_source import RunSource


def _trials_journal() -> str:
    """The sweep's journal of trial records (imported late: `valuespectrum.sweep` is heavy,
    and a finished run never needs it)."""
    from valuespectrum.sweep.results import TRIALS_JOURNAL

    return TRIALS_JOURNAL


def _quote(path: Any) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class SweepReader(RunSource):
    """Read access to a sweep run directory (see `valuespectrum.sweep.results`); its pages
    and replays are `view.sweep_source.SweepSource`'s."""

    kind = "sweep"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._db: Any = None
        self._index: JournalIndex | None = None
        self._db_lock = threading.Lock()
        self._memo: dict[str, tuple[Any, Any]] = {}

    def tables(self) -> tuple[str, ...]:
        return ("steps.parquet", "trials.parquet")

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
                self._index.refresh([p for p in self.journal_files()
                                     if p.stem != _trials_journal()])
            cur = self._db.cursor()  # one connection per query: pages are served in threads
        steps = _quote(self.root / "steps.parquet")
        index = TABLE if live else f"({NARROW_SELECT} FROM read_parquet({steps}))"
        try:
            cur.execute(sql.format(index=index, steps=f"read_parquet({steps})"), params or [])
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
    def trial_records(self) -> dict[str, dict[str, Any]]:
        """The latest record of each finished trial attempt, by trial id."""
        found = self.scan()
        if not self.live():
            return self._cached("trials", found.get("trials.parquet"), lambda: {
                r["trial_id"]: r for r in self.query("SELECT * FROM read_parquet(?)",
                                                     [str(self.root / "trials.parquet")])})
        name = _trials_journal()
        return self._cached("trials-live", found.get(f"journal/{name}.jsonl"), lambda: {
            r["trial_id"]: r for r in read_jsonl(self.run.journal(name).path)})

    def trial_steps(self, trial_id: str, offset: int = 0, limit: int = PAGE
                    ) -> list[dict[str, Any]]:
        """Steps `offset`..`offset + limit` of a trial, in order."""
        if self.live():  # one trial's journal: small, and exactly what is on disk now
            rows = sorted(read_jsonl(self.run.journal(trial_id).path), key=lambda r: r["step"])
            return rows[offset:offset + limit]
        return self.query("SELECT * FROM {steps} WHERE trial_id = ? ORDER BY step "
                          "LIMIT ? OFFSET ?", [trial_id, limit, offset])

    def trial_length(self, trial_id: str) -> int:
        """How many steps the trial has recorded."""
        if self.live():
            return len(read_jsonl(self.run.journal(trial_id).path))
        return self.query("SELECT count(*) AS n FROM {steps} WHERE trial_id = ?",
                          [trial_id])[0]["n"]

    def step(self, trial_id: str, step: int) -> dict[str, Any] | None:
        """One step's full row, or None."""
        if self.live():
            rows = [r for r in read_jsonl(self.run.journal(trial_id).path) if r["step"] == step]
        else:
            rows = self.query("SELECT * FROM {steps} WHERE trial_id = ? AND step = ?",
                              [trial_id, step])
        return rows[0] if rows else None

    def trial_meta(self, trial_id: str) -> dict[str, Any] | None:
        """The trial's cell, persona, model, platform, strategy (and record when finished)."""
        rec = self.trial_records().get(trial_id)
        if rec is not None:
            return rec
        first = self.trial_steps(trial_id, 0, 1)
        if not first:
            return None
        keys = ("trial_id", "cell", "persona", "model", "platform", "strategy")
        return {**{k: first[0][k] for k in keys}, "status": "running"}

    # ------------------------------------------------------------------ cells
    def cell_rows(self) -> list[dict[str, Any]]:
        """Per cell: live counts from the steps, and the summary's statistics if written."""
        counts = self.query(
            "SELECT cell, split_part(cell, '|', 1) AS persona, split_part(cell, '|', 2) AS "
            "model, split_part(cell, '|', 3) AS platform, split_part(cell, '|', 4) AS strategy, "
            "count(DISTINCT trial_id) AS trials_seen, count(*) AS steps, "
            "avg(decision) AS yes_rate, count(*) - count(decision) AS invalid, "
            "sum(cost_usd) AS cost_usd FROM {index} GROUP BY cell ORDER BY cell")
        stats = {c["cell"]: c for c in (self.summary() or {}).get("cells", [])}
        out = []
        for row in counts:
            out.append({**row, "stats": stats.pop(row["cell"], None)})
        out += [{"cell": c, "persona": s["persona"], "model": s["model"],
                 "platform": s["platform"], "strategy": s["strategy"], "trials_seen": 0,
                 "steps": 0, "yes_rate": None, "invalid": 0, "cost_usd": 0.0, "stats": s}
                for c, s in stats.items()]
        return out

    def cell_stats(self, cell: str) -> dict[str, Any] | None:
        """The cell's statistics from summary.json (None until the run ends)."""
        return next((c for c in (self.summary() or {}).get("cells", []) if c["cell"] == cell),
                    None)

    def cell_trials(self, cell: str) -> list[dict[str, Any]]:
        """Per trial of the cell: its record (if finished) and counts from its steps."""
        counts = self.query(
            "SELECT trial_id, count(*) AS steps, avg(decision) AS yes_rate, "
            "count(*) - count(decision) AS invalid, avg(CAST(value_match AS INTEGER)) AS "
            "value_share, sum(cost_usd) AS cost_usd, count(*) FILTER (WHERE has_error) AS "
            "errors FROM {index} WHERE cell = ? GROUP BY trial_id ORDER BY trial_id", [cell])
        records = {t: r for t, r in self.trial_records().items() if r["cell"] == cell}
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
        mine = Cell.parse(cell)
        cells = self._cached("cells", self.signature(), lambda: [
            r["cell"] for r in self.query("SELECT DISTINCT cell FROM {index} ORDER BY cell")])
        if mine is None:
            return []
        return [name for name in cells if (other := Cell.parse(name)) is not None
                and len(mine.differs_from(other)) == 1]

    def trial_at(self, cell: str, index: int) -> str | None:
        """The trial id with repetition `index` in `cell` (its twin in another cell)."""
        rec = next((r for r in self.trial_records().values()
                    if r["cell"] == cell and r["index"] == index), None)
        if rec is not None:
            return rec["trial_id"]
        rows = self.query("SELECT DISTINCT trial_id FROM {index} WHERE cell = ? ORDER BY trial_id",
                          [cell])
        ids = [r["trial_id"] for r in rows if r["trial_id"].endswith(f".{index:03d}")]
        return ids[0] if ids else None

    # ------------------------------------------------------------------ the run
    def status(self) -> str:
        if self.writer() is not None:
            return "running"
        planned = len(planned_trials(self.plan()))
        done = sum(1 for r in self.trial_records().values() if r["status"] == "done")
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
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        return {"status": self.status(), "writer": self.writer(), "live": self.live(),
                "planned": len(planned_trials(self.plan())), "statuses": statuses,
                **(totals[0] if totals else {"steps": 0, "trials_seen": 0, "cost_usd": 0.0})}

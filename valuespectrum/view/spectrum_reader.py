"""A Value-Spectrum run as the viewer reads it: Table 1, the retrieved images, the answers.

Finished: summary.json (Table 1 scores, `SpectrumSummary`), retrieval.parquet,
results.parquet, all found and read through the run's `engine.reader.RunReader`. In
progress: the same scores computed from the arms' journals with the report's own scoring
function.
Retrieved images live in the corpus, outside the run directory: the viewer serves only the
paths listed in retrieval.parquet.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from valuespectrum.engine.reader import RESULTS_TABLE
from valuespectrum.report.spectrum import (
    SpectrumArm,
    SpectrumSummary,
    ValueScore,
    score_rows,
    value_order,
)
from valuespectrum.view.run_source import SERVABLE, RunSource

RETRIEVAL_TABLE = "retrieval.parquet"


class SpectrumReader(RunSource):
    """Read access to a spectrum run directory (see `valuespectrum.spectrum.run`); its pages
    and replays are `view.spectrum_source.SpectrumSource`'s."""

    kind = "spectrum"
    summary_model = SpectrumSummary

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._db: Any = None
        self._db_lock = threading.Lock()

    def tables(self) -> tuple[str, ...]:
        return (RESULTS_TABLE,)

    def summary(self) -> SpectrumSummary | None:
        return super().summary()

    def _query(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        import duckdb

        with self._db_lock:
            if self._db is None:
                self._db = duckdb.connect(":memory:")
            cur = self._db.cursor()
        try:
            cur.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        finally:
            cur.close()

    # ------------------------------------------------------------------ arms and answers
    def arms(self) -> list[SpectrumArm]:
        """The arms (label, strategy, model, text_model, vlm_label) in the run's order."""
        s = self.summary()
        if s and s.arms:
            return s.arms
        out = []
        for m in self.spec.get("models") or []:
            label = m.get("name") or m.get("spec", "?")
            out.append(SpectrumArm(label=label, strategy="plain", model=m.get("spec", ""),
                                   vlm_label=label))
        for pair in self.spec.get("caption_llm") or []:
            vlm = pair["vlm"].get("name") or pair["vlm"].get("spec")
            llm = pair["llm"].get("name") or pair["llm"].get("spec")
            out.append(SpectrumArm(label=f"{vlm}+{llm}", strategy="caption_llm",
                                   model=pair["vlm"].get("spec", ""),
                                   text_model=pair["llm"].get("spec", ""), vlm_label=vlm))
        return out

    def answers(self, value: str | None = None) -> list[dict[str, Any]]:
        """Answer rows (all, or of one value): results.parquet, or the journals when live."""
        if not self.live():
            where = "WHERE value = ?" if value else ""
            return self._query(f"SELECT * FROM {self.reader.sql(RESULTS_TABLE)} {where}",
                               [value] if value else [])
        latest: dict[tuple, dict[str, Any]] = {}  # the last answer per key, as consolidate keeps
        for arm in self.arms():
            for r in self.reader.journal(arm.label).rows():
                if value is None or r["value"] == value:
                    latest[(r["arm"], r["value"], r["keyword"], int(r["rank"]))] = r
        return list(latest.values())

    def scores(self) -> dict[str, dict[str, ValueScore]]:
        """Table 1: arm -> value -> score (mean, std, answered, yes, invalid, keywords)."""
        s = self.summary()
        if s and not self.live():
            return s.scores
        return score_rows(self.answers())

    def retrieved(self, value: str | None = None) -> list[dict[str, Any]]:
        """The images retrieved (per value, keyword, rank), in retrieval order."""
        if not self.reader.has_table(RETRIEVAL_TABLE):
            return []
        where = "WHERE value = ?" if value else ""
        return self._query(f"SELECT * FROM {self.reader.sql(RETRIEVAL_TABLE)} {where} "
                           "ORDER BY value, keyword, rank", [value] if value else [])

    def values(self) -> list[str]:
        """The values of the run, in the paper's order."""
        if not self.reader.has_table(RETRIEVAL_TABLE):
            return value_order([v for per in self.scores().values() for v in per])
        rows = self._query(f"SELECT DISTINCT value FROM {self.reader.sql(RETRIEVAL_TABLE)}", [])
        return value_order([r["value"] for r in rows])

    def image(self, value: str, keyword: str, rank: int) -> Path | None:
        """The file of a retrieved image, if retrieval.parquet lists it (never another path)."""
        hit = [r for r in self.retrieved(value) if r["keyword"] == keyword and r["rank"] == rank]
        if not hit:
            return None
        path = Path(hit[0]["path"])
        return path if path.suffix.lower() in SERVABLE and path.is_file() else None

    # ------------------------------------------------------------------ the run
    def status(self) -> str:
        if self.writer() is not None:
            return "running"
        problem = self.summary_problem()
        if problem is not None:
            return f"summary unreadable: {problem}"
        s = self.summary()
        if s is None:
            return "stopped (no summary yet)"
        if s.stopped:
            return "stopped early: " + "; ".join(f"{k}: {v}" for k, v in s.stopped.items())
        return "finished" if s.complete else "incomplete (some answers missing)"

    def overview(self) -> dict[str, Any]:
        rows = self.answers()
        per_arm: dict[str, int] = {}
        for r in rows:
            per_arm[r["arm"]] = per_arm.get(r["arm"], 0) + 1
        s = self.summary()
        return {"status": self.status(), "writer": self.writer(), "live": self.live(),
                "arms": self.arms(), "answers": per_arm,
                "images_per_arm": (s.images_per_arm if s else 0) or len(self.retrieved()),
                "cost_usd": sum(float(r.get("cost_usd") or 0.0) for r in rows),
                "invalid": sum(1 for r in rows if r.get("yes") is None)}

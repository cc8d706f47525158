"""A sweep's records in its run directory: step journals, trial records, screenshots, tables.

Files (inside the shared `RunDirectory` layout)::

    journal/<trial>.jsonl         one step record per line, appended and fsync'd on arrival
    journal/_trials.jsonl         one line per finished (or failed) trial attempt
    screens/<trial>/<step>.jpg    the screenshot each decision was made on
    steps.parquet, trials.parquet rebuilt from the journals by `consolidate`

A crash loses at most the step in flight; a rerun skips trials recorded as done (with their
full journal on disk) and redoes the others from scratch (their journals are reset first),
so the final tables equal those of an uninterrupted run.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa

from valuespectrum.runs import (
    RunDirectory,
    arrow_schema,
    unreadable_tables,
    write_error,
    write_table,
)
from valuespectrum.types import Frozen, StepRecord

TRIALS_JOURNAL = "_trials"
TABLES = ("steps.parquet", "trials.parquet")


class TrialRecord(Frozen):
    """How one trial attempt ended (a row of trials.parquet)."""

    trial_id: str
    cell: str
    persona: str
    model: str
    platform: str
    strategy: str
    index: int
    seed: int
    status: str
    steps: int
    restarts: int = 0
    error: str | None = None
    node_id: str = ""
    started: float = 0.0
    ended: float = 0.0

    @property
    def wall_s(self) -> float:
        return self.ended - self.started


def step_schema() -> pa.Schema:
    return arrow_schema(StepRecord).append(pa.field("trial_status", pa.string()))


class SweepResults:
    """The sweep-specific files of a run directory (the driver is their only writer)."""

    def __init__(self, run: RunDirectory) -> None:
        self.run = run
        self.root = run.root
        self.screens_dir = run.root / "screens"

    # ------------------------------------------------------------------ trials
    def trial_records(self) -> dict[str, TrialRecord]:
        """The latest record of each trial id."""
        out: dict[str, TrialRecord] = {}
        for row in self.run.journal(TRIALS_JOURNAL).rows():
            rec = TrialRecord.model_validate(row)
            out[rec.trial_id] = rec
        return out

    def completed(self) -> set[str]:
        """Trial ids recorded as done with their full journal on disk."""
        return {tid for tid, rec in self.trial_records().items()
                if rec.status == "done" and len(self.run.journal(tid).rows()) == rec.steps}

    def repair(self) -> dict[str, int]:
        """Cut torn journal tails (a crash mid-write); returns journal name -> bytes cut."""
        return {j.path.stem: n for j in self.run.journals() if (n := j.repair())}

    def damaged_tables(self) -> list[str]:
        """Tables that exist but cannot be read (e.g. truncated by a power loss).

        They need no repair of their own: every run rebuilds them from the journals.
        """
        return unreadable_tables(self.root, TABLES)

    def start_trial(self, trial_id: str) -> None:
        """Forget any earlier partial attempt of this trial."""
        self.run.journal(trial_id).reset()
        shutil.rmtree(self.screens_dir / trial_id, ignore_errors=True)

    def append_steps(self, records: list[tuple[StepRecord, bytes | None]]) -> list[StepRecord]:
        """Write the screenshots, then append the records durably (one fsync per call)."""
        out = []
        for record, jpeg in records:
            if jpeg is not None:
                rel = Path("screens") / record.trial_id / f"{record.step:04d}.jpg"
                path = self.root / rel
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(jpeg)
                except OSError as e:
                    raise write_error(path, e) from None
                record = record.model_copy(update={"screenshot_path": str(rel)})
            out.append(record)
        by_trial: dict[str, list[dict[str, Any]]] = {}
        for r in out:
            by_trial.setdefault(r.trial_id, []).append(r.model_dump(mode="json"))
        for tid, rows in by_trial.items():
            self.run.journal(tid).append(*rows)
        return out

    def append_step(self, record: StepRecord, jpeg: bytes | None = None) -> StepRecord:
        return self.append_steps([(record, jpeg)])[0]

    def finish_trial(self, record: TrialRecord) -> None:
        self.run.journal(TRIALS_JOURNAL).append(record.model_dump(mode="json"))

    # ------------------------------------------------------------------ tables
    def step_rows(self, trial_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """Journaled step rows, ordered by trial id then step."""
        if trial_ids is None:
            journals = [j for j in self.run.journals() if j.path.stem != TRIALS_JOURNAL]
        else:
            journals = [self.run.journal(t) for t in trial_ids]
        rows = [r for j in journals for r in j.rows()]
        rows.sort(key=lambda r: (r["trial_id"], r["step"]))
        return rows

    def consolidate(self, trial_ids: list[str]) -> tuple[Path, Path]:
        """Write steps.parquet and trials.parquet for the planned trials (atomic replace).

        Each step row carries its trial's `trial_status` (``unfinished`` for a trial still
        to be redone), so partial trials are never mistaken for finished ones.
        """
        planned = set(trial_ids)
        records = {t: r for t, r in self.trial_records().items() if t in planned}
        steps = self.step_rows(sorted(planned))
        for row in steps:
            rec = records.get(row["trial_id"])
            row["trial_status"] = rec.status if rec is not None else "unfinished"
        trials = sorted((r.model_dump(mode="json") for r in records.values()),
                        key=lambda r: r["trial_id"])
        return (write_table(self.root / "steps.parquet", steps, step_schema()),
                write_table(self.root / "trials.parquet", trials, arrow_schema(TrialRecord)))

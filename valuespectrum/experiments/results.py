"""The run directory: one writer, append-only journals, Parquet tables, resume.

Layout of RUN_DIR:
    spec.yaml          the resolved experiment spec (kind: sweep)
    versions.json      package versions of the run
    journal/<trial>.jsonl   step records appended and fsync'd as they arrive
    trials.jsonl       one line per finished (or failed) trial attempt
    screens/<trial>/<step>.jpg   the screenshot each decision was made on
    steps.parquet, trials.parquet, summary.json   written by `consolidate`/the summary

A crash loses at most the step in flight; a rerun skips trials recorded as done and redoes
the others from scratch (their journals are truncated first), so the final tables equal those
of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, get_args, get_origin

import pyarrow as pa
import pyarrow.parquet as pq

from valuespectrum.experiments.locking import RunLockedError, WriterLock
from valuespectrum.types import Frozen, StepRecord

__all__ = ["RunDirectory", "RunLockedError", "TrialRecord", "load_table", "read_jsonl"]

class TrialRecord(Frozen):
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
    started: float = 0.0
    ended: float = 0.0

    @property
    def wall_s(self) -> float:
        return self.ended - self.started


def _arrow_type(annotation: Any) -> pa.DataType:
    if get_origin(annotation) is tuple:
        return pa.list_(pa.string())
    args = [a for a in get_args(annotation) if a is not type(None)]
    base = args[0] if args else annotation
    if base is bool:
        return pa.bool_()
    if base is int:
        return pa.int64()
    if base is float:
        return pa.float64()
    return pa.string()


def arrow_schema(model: type[Frozen]) -> pa.Schema:
    """Arrow schema of a record model (so empty/all-null columns keep their types)."""
    return pa.schema([(n, _arrow_type(f.annotation)) for n, f in model.model_fields.items()])


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON-lines file; a torn last line (crash mid-write) is ignored."""
    out = []
    if not path.exists():
        return out
    with path.open("r", encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return out


class RunDirectory:
    """All files of one sweep run, with a single-writer lock."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.journal_dir = self.root / "journal"
        self.screens_dir = self.root / "screens"
        self.trials_log = self.root / "trials.jsonl"
        self._lock = WriterLock(self.root)

    # ------------------------------------------------------------------ locking
    def acquire(self) -> None:
        """Take the writer lock; a second writer gets RunLockedError naming the holder."""
        self._lock.acquire()
        self.journal_dir.mkdir(exist_ok=True)
        self.screens_dir.mkdir(exist_ok=True)

    def release(self) -> None:
        self._lock.release()

    # ------------------------------------------------------------------ trials
    def trial_records(self) -> dict[str, TrialRecord]:
        """The latest record of each trial id."""
        out: dict[str, TrialRecord] = {}
        for row in read_jsonl(self.trials_log):
            rec = TrialRecord.model_validate(row)
            out[rec.trial_id] = rec
        return out

    def completed(self) -> set[str]:
        """Trial ids recorded as done with their full journal on disk."""
        done = set()
        for tid, rec in self.trial_records().items():
            if rec.status == "done" and len(read_jsonl(self.journal_path(tid))) == rec.steps:
                done.add(tid)
        return done

    def journal_path(self, trial_id: str) -> Path:
        return self.journal_dir / f"{trial_id}.jsonl"

    def start_trial(self, trial_id: str) -> None:
        """Forget any earlier partial attempt of this trial."""
        self.journal_path(trial_id).unlink(missing_ok=True)
        shutil.rmtree(self.screens_dir / trial_id, ignore_errors=True)

    def append_step(self, record: StepRecord, jpeg: bytes | None = None) -> StepRecord:
        """Write the screenshot (if any), then append the record durably."""
        if jpeg is not None:
            rel = Path("screens") / record.trial_id / f"{record.step:04d}.jpg"
            (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.root / rel).write_bytes(jpeg)
            record = record.model_copy(update={"screenshot_path": str(rel)})
        self._append(self.journal_path(record.trial_id), record.model_dump(mode="json"))
        return record

    def finish_trial(self, record: TrialRecord) -> None:
        self._append(self.trials_log, record.model_dump(mode="json"))

    @staticmethod
    def _append(path: Path, row: dict[str, Any]) -> None:
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    # ------------------------------------------------------------------ tables
    def step_rows(self, trial_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """All journaled step rows, ordered by trial id then step."""
        paths = (
            [self.journal_path(t) for t in trial_ids]
            if trial_ids is not None
            else sorted(self.journal_dir.glob("*.jsonl"))
        )
        rows = [r for p in sorted(paths) for r in read_jsonl(p)]
        rows.sort(key=lambda r: (r["trial_id"], r["step"]))
        return rows

    def consolidate(self, trial_ids: list[str] | None = None) -> tuple[Path, Path]:
        """Write steps.parquet and trials.parquet from the journals (atomic replace).

        Only `trial_ids` (the current plan; default: every journal) are written. Each step
        row carries its trial's `trial_status` (`unfinished` for a trial still to be redone),
        so partial trials can never be mistaken for finished ones.
        """
        records = self.trial_records()
        if trial_ids is not None:
            records = {t: r for t, r in records.items() if t in set(trial_ids)}
        steps = self.step_rows(sorted(trial_ids) if trial_ids is not None else None)
        for row in steps:
            rec = records.get(row["trial_id"])
            row["trial_status"] = rec.status if rec is not None else "unfinished"
        trials = sorted((r.model_dump(mode="json") for r in records.values()),
                        key=lambda r: r["trial_id"])
        schema = arrow_schema(StepRecord).append(pa.field("trial_status", pa.string()))
        p1 = self._write_table(self.root / "steps.parquet", steps, schema)
        p2 = self._write_table(self.root / "trials.parquet", trials, arrow_schema(TrialRecord))
        return p1, p2

    @staticmethod
    def _write_table(path: Path, rows: list[dict[str, Any]], schema: pa.Schema) -> Path:
        table = pa.Table.from_pylist(rows, schema=schema)
        tmp = path.with_suffix(".parquet.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, path)
        return path


def load_table(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a Parquet file as dicts."""
    return pq.read_table(path).to_pylist()

"""A sweep's records in its run directory: step journals, trial records, screenshots, tables.

Files (inside the shared `RunDirectory` layout)::

    journal/<trial>.jsonl         one step record per line, appended and fsync'd on arrival
    journal/_trials.jsonl         one line per finished (or failed) trial attempt
    screens/<trial>/<step>.jpg    the screenshot each decision was made on (`screenshot_path`)
    steps.parquet, trials.parquet rebuilt from the journals by `consolidate`

Steps are written by group commit: the driver *stages* each step as it arrives (its journal
line as the actor encoded it, `StepEvent`), and a `commit` (every fraction of a second, and
soon after a trial ends) appends every staged line and screenshot, makes them durable with
one sync for all journals, and only then appends the records of the trials that ended
(staged with `stage_finish`, or given to `commit`). A crash loses at most the steps staged since the last
commit (steps in flight), never a committed one, and a trial is recorded as done only after
all its steps are on disk. A rerun skips trials recorded as done (with their full journal
on disk) and redoes the others from scratch (their journals are reset first), so the final
tables equal those of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, field_serializer, field_validator

from valuespectrum.runs import (
    Journal,
    RunDirectory,
    append_all,
    arrow_schema,
    open_append,
    sync_files,
    unreadable_tables,
    write_error,
    write_table,
)
from valuespectrum.trial import StepEvent
from valuespectrum.types import Frozen, StepRecord

if TYPE_CHECKING:
    import pyarrow as pa

TRIALS_JOURNAL = "_trials"
STEPS_TABLE, TRIALS_TABLE = "steps.parquet", "trials.parquet"
TABLES = (STEPS_TABLE, TRIALS_TABLE)


class TrialRecord(Frozen):
    """How one trial attempt ended (a row of trials.parquet), and what it ran with.

    `strategy_params` and `feed` + `feed_params` are the trial's ``{name, params}``: the
    parameters of its strategy (the registered model's fields, defaults filled) and its feed
    style with the recommender parameters in force for it. They vary in shape by strategy
    and style, so the journal and the table hold them as JSON text (one column each; DuckDB
    reads a value as ``strategy_params->>'mode'``); here they are dicts. None: a run from
    before they were recorded (its spec.yaml's `strategy_options` and `recommenders` say).
    """

    # rows written by a later version (a column added) still read here
    model_config = ConfigDict(extra="ignore", frozen=True)

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
    strategy_params: dict[str, Any] | None = None
    feed: str | None = None
    feed_params: dict[str, Any] | None = None

    @field_validator("strategy_params", "feed_params", mode="before")
    @classmethod
    def _from_json(cls, v: Any) -> Any:
        return json.loads(v) if isinstance(v, str) else v

    @field_serializer("strategy_params", "feed_params", when_used="json")
    def _as_json(self, v: dict[str, Any] | None) -> str | None:
        return None if v is None else json.dumps(v, sort_keys=True)

    @property
    def wall_s(self) -> float:
        return self.ended - self.started


def _open_files_budget() -> int:
    """How many trial journals a sweep keeps open: a quarter of this process's file limit
    (Ray, sockets and the feed need the rest), at most 4,096."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(0, min(4096, (soft if soft != resource.RLIM_INFINITY else 16384) // 4))


def step_schema() -> pa.Schema:
    import pyarrow as pa

    return arrow_schema(StepRecord).append(pa.field("trial_status", pa.string()))


class SweepResults:
    """The sweep-specific files of a run directory (the driver is their only writer).

    Its reading side (`trial_records`, `step_rows`) is what `engine.reader.RunReader`
    reads a sweep's journals with; everything else reads a run through `RunReader`.
    """

    def __init__(self, run: RunDirectory) -> None:
        self.run = run
        self.root = run.root
        self.screens_dir = run.root / "screens"
        self._staged: dict[str, list[StepEvent]] = {}
        self._finished: list[TrialRecord] = []  # trial records waiting for the next commit
        self._paths: dict[str, str] = {}  # the journal path of each trial being written
        # their files, kept open while they run (an open and a close per journal and commit
        # cost more of the driver's CPU than the write: docs/scale.md); at most `_max_open`
        self._fds: dict[str, int] = {}
        self._max_open = _open_files_budget()
        # journals written but not yet made durable (their sync failed): the next commit
        # syncs them before it records any trial
        self._unsynced: set[str] = set()
        self._stage_lock = threading.Lock()  # held for microseconds: staging never waits on I/O
        self._io_lock = threading.Lock()  # one commit (or journal reset) at a time

    # ------------------------------------------------------------------ trials
    def trials_journal(self) -> Journal:
        return self.run.journal(TRIALS_JOURNAL)

    def trial_records(self) -> dict[str, TrialRecord]:
        """The latest record of each trial id."""
        out: dict[str, TrialRecord] = {}
        for row in self.trials_journal().rows():
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
        """Forget any earlier partial attempt of this trial (staged or on disk)."""
        with self._io_lock:  # not while a commit is writing this trial's rows
            with self._stage_lock:
                self._staged.pop(trial_id, None)
            self._close(trial_id)  # before the file goes: no write may reach the old one
            path = self._path(trial_id)
            self._unsynced.discard(path)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            shutil.rmtree(self.screens_dir / trial_id, ignore_errors=True)

    def _path(self, trial_id: str) -> str:
        """The journal path of a trial being written (a str: built once per trial, and
        hashed on every commit)."""
        path = self._paths.get(trial_id)
        if path is None:
            path = self._paths[trial_id] = str(self.run.journal(trial_id).path)
        return path

    def stage_step(self, record: StepRecord, jpeg: bytes | None = None) -> StepRecord:
        """Queue a step, as the agent recorded it, for the next `commit` (which writes
        `jpeg` at the record's `screenshot_path`); returns it. (The driver stages the
        actors' encoded events with `stage_event`.)

        Raises:
            ValueError: a screenshot comes without a path to store it at, or a path without it.
        """
        self.stage_event(record.trial_id, StepEvent.of(record, jpeg))
        return record

    def stage_event(self, trial_id: str, event: StepEvent) -> None:
        """Queue a step event of `trial_id` (its journal line as the actor encoded it).

        Raises:
            ValueError: a screenshot comes without a path to store it at, or a path without it.
        """
        if (event.jpeg is None) != (event.screenshot_path is None):
            have = "a screenshot but no screenshot_path" if event.jpeg is not None \
                else f"screenshot_path {event.screenshot_path!r} but no screenshot"
            raise ValueError(f"step {event.step} of trial {trial_id}: {have}")
        with self._stage_lock:
            self._staged.setdefault(trial_id, []).append(event)

    def stage_finish(self, record: TrialRecord) -> None:
        """Queue how a trial ended: the next `commit` records it after its steps."""
        with self._stage_lock:
            self._finished.append(record)

    def staged(self) -> int:
        """Steps and trial records staged and not yet committed."""
        with self._stage_lock:
            return sum(len(v) for v in self._staged.values()) + len(self._finished)

    def commit(self, *finished: TrialRecord) -> int:
        """Write the staged steps and screenshots, make them durable, then record `finished`.

        One sync covers every journal written (see `sync_files`); the trial records are
        appended (and fsync'd) after it, so a trial is never recorded before its steps.
        Safe to call from a worker thread. Returns the number of steps written.
        """
        with self._io_lock:
            with self._stage_lock:
                staged, self._staged = self._staged, {}
                finished = (*self._finished, *finished)
                self._finished = []
            written = self._unsynced
            appended: set[str] = set()  # trials whose lines are in their journal
            path: str | Path = self.root
            try:
                for tid, events in staged.items():
                    for event in events:
                        if event.jpeg is not None:
                            path = self.root / str(event.screenshot_path)
                            path.parent.mkdir(parents=True, exist_ok=True)
                            path.write_bytes(event.jpeg)
                    path = self._path(tid)
                    self._append(tid, path, events[0].line if len(events) == 1
                                 else b"".join([e.line for e in events]))
                    written.add(path)
                    appended.add(tid)
                path = self.root
                sync_files(written)
                written.clear()
            except Exception as e:
                # keep the steps not yet in their journals staged (those appended stay there:
                # staging them again would write them twice), so that no trial is recorded
                # without its steps: the next commit tries again, and if the run stops
                # here a rerun redoes the unrecorded trials
                with self._stage_lock:
                    for tid, events in staged.items():
                        if tid not in appended:
                            self._staged[tid] = events + self._staged.get(tid, [])
                    self._finished[:0] = finished
                if isinstance(e, OSError):
                    raise write_error(path, e) from None
                raise
            if finished:
                try:
                    self.run.journal(TRIALS_JOURNAL).append(
                        *(r.model_dump(mode="json") for r in finished))
                except Exception:
                    # the next commit tries again (a torn line is cut by `repair`, and a
                    # trial recorded twice reads as its latest record)
                    with self._stage_lock:
                        self._finished[:0] = finished
                    raise
                for record in finished:  # a finished trial's journal is not written again
                    self._paths.pop(record.trial_id, None)
                    self._close(record.trial_id)
        return sum(len(v) for v in staged.values())

    def _append(self, trial_id: str, path: str, data: bytes) -> None:
        """Append to a trial's journal through its kept file (opened on its first write);
        a failed write leaves no partial line behind (`append_all`)."""
        fd = self._fds.get(trial_id)
        if fd is None:
            fd = open_append(path)
            if len(self._fds) < self._max_open:
                self._fds[trial_id] = fd
        try:
            append_all(fd, data)
        except OSError:
            self._fds.pop(trial_id, None)  # closed below: the next commit opens it again
            raise
        finally:
            if self._fds.get(trial_id) != fd:
                os.close(fd)

    def _close(self, trial_id: str) -> None:
        fd = self._fds.pop(trial_id, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        """Close the journals kept open (the next commit opens them again)."""
        with self._io_lock:
            for tid in list(self._fds):
                self._close(tid)

    def finish_trial(self, record: TrialRecord) -> None:
        """Commit what is staged, then record how the trial ended."""
        self.commit(record)

    # ------------------------------------------------------------------ tables
    def step_journals(self, trial_ids: list[str] | None = None) -> list[Journal]:
        """The trials' step journals (of `trial_ids`, or every one on disk)."""
        if trial_ids is None:
            return [j for j in self.run.journals() if j.path.stem != TRIALS_JOURNAL]
        return [self.run.journal(t) for t in trial_ids]

    def step_rows(self, trial_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """Journaled step rows, ordered by trial id then step."""
        rows = [r for j in self.step_journals(trial_ids) for r in j.rows()]
        rows.sort(key=lambda r: (r["trial_id"], r["step"]))
        return rows

    def consolidate(self, trial_ids: list[str],
                    ran_with: dict[str, dict[str, Any]] | None = None) -> tuple[Path, Path]:
        """Write steps.parquet and trials.parquet for the planned trials (atomic replace).

        Each step row carries its trial's `trial_status` (``unfinished`` for a trial still
        to be redone), so partial trials are never mistaken for finished ones.

        Args:
            trial_ids: The planned trials.
            ran_with: Trial id -> its `strategy_params`, `feed` and `feed_params`, for the
                records journaled without them (by a version before they were recorded, in
                a run resumed since: its plan fingerprints both, so they are the same).
        """
        self.commit()  # nothing staged is left out of the tables
        self.close()
        planned = set(trial_ids)
        records = {t: r for t, r in self.trial_records().items() if t in planned}
        for tid, rec in records.items():
            if rec.strategy_params is None and ran_with and tid in ran_with:
                records[tid] = rec.model_copy(update=ran_with[tid])
        steps = self.step_rows(sorted(planned))
        for row in steps:
            rec = records.get(row["trial_id"])
            row["trial_status"] = rec.status if rec is not None else "unfinished"
        trials = sorted((r.model_dump(mode="json") for r in records.values()),
                        key=lambda r: r["trial_id"])
        return (write_table(self.root / STEPS_TABLE, steps, step_schema()),
                write_table(self.root / TRIALS_TABLE, trials, arrow_schema(TrialRecord)))

"""One typed reader of a run directory, of any kind (sweep, spectrum, probe).

The summary, the reports, the run viewer and `vspec report` read a run through `RunReader`;
it is the one place that knows where a run's files are for reading (the writers are
`runs.RunDirectory` and each task's own: `sweep.results.SweepResults`, `spectrum.run`,
`probe`). What it gives:

- `kind`, `spec()` (spec.yaml as data), `plan()` (`runs.Plan`);
- `summary()`: summary.json as the task's typed model (`Task.summary_model`, or a model the
  caller names); a missing, damaged or malformed file raises `RunReadError` naming it;
- a sweep's records: `trial_records()` (`TrialRecord` by trial id, from the journal, the
  source of truth), `trial_table()` (trials.parquet), `steps()` (`types.StepRecord`) and
  `step_rows()` (the same rows as dicts, for the statistics), `step_journals()`;
- the tables: `table(name)` (a pyarrow Table), `rows(name)`, `sql(name)` (a DuckDB
  ``read_parquet(...)`` expression for a query that reads only what it needs).

A cell of the design is stored as four columns (`CellColumns`); its key string
``persona|model|platform|strategy`` is only a name (URLs, display). Summaries written before
the columns existed are read by deriving them from the key once, here (`cell_from_key`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from valuespectrum.engine.registry import kind_of_run, task_for
from valuespectrum.errors import RunReadError
from valuespectrum.runs import Journal, Plan, RunDirectory
from valuespectrum.sweep.results import STEPS_TABLE, TRIALS_TABLE, SweepResults, TrialRecord
from valuespectrum.trial import CELL_FIELDS, CellColumns
from valuespectrum.types import StepRecord

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["CELL_FIELDS", "RESULTS_TABLE", "STEPS_TABLE", "SUMMARY", "TRIALS_TABLE", "CellColumns", "RunReader",
           "cell_from_key"]

M = TypeVar("M", bound=BaseModel)

SUMMARY = "summary.json"
#: A benchmark's and a probe's answers, one row each.
RESULTS_TABLE = "results.parquet"
def cell_from_key(key: Any) -> CellColumns:
    """The columns of a cell key (summaries written before cells were stored as columns).

    Raises:
        ValueError: `key` is not ``persona|model|platform|strategy`` (the message quotes it).
    """
    parts = key.split("|") if isinstance(key, str) else []
    if len(parts) != len(CELL_FIELDS) or not all(parts):
        raise ValueError(f"{key!r} is not a cell key persona|model|platform|strategy")
    return CellColumns(**dict(zip(CELL_FIELDS, parts, strict=True)))


def _where(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(x) for x in first["loc"]) or "(top level)"
    return f"{loc}: {first['msg']}"


class RunReader:
    """Read access to one run directory; it never writes and never takes the lock.

    Args:
        root: The run directory.
        kind: Its kind, when the caller knows it (else read from spec.yaml or summary.json).

    Raises:
        FileNotFoundError: `root` is not a directory.
    """

    def __init__(self, root: str | Path, kind: str | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: no such run directory")
        self._kind = kind
        self._summary: dict[tuple[str, type], tuple[tuple[int, int], Any]] = {}

    # ------------------------------------------------------------------ the run
    @property
    def kind(self) -> str:
        """``sweep``, ``spectrum``, ``probe``... (`engine.registry.kind_of_run`)."""
        if self._kind is None:
            self._kind = kind_of_run(self.root)
        return self._kind

    @property
    def run(self) -> RunDirectory:
        """The directory's layout (journal names, file paths); never acquired here."""
        return RunDirectory(self.root, self._kind or "")

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def spec(self) -> dict[str, Any]:
        """spec.yaml as data (empty when the run has none)."""
        try:
            return self.run.saved_spec() or {}
        except Exception as e:  # noqa: BLE001 - yaml.YAMLError, UnicodeDecodeError
            raise RunReadError(f"{self.path(RunDirectory.SPEC)}: not readable YAML ({e})") \
                from None

    def plan(self) -> Plan:
        """plan.json (an empty plan when the run has none)."""
        path = self.path(RunDirectory.PLAN)
        if not path.exists():
            return Plan()
        try:
            return Plan.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RunReadError(f"{path}: not readable JSON ({e})") from None

    def json(self, name: str) -> Any:
        """Another JSON file of the run (abundance.json, versions.json...).

        Raises:
            RunReadError: it is missing or not readable JSON (named).
        """
        path = self.path(name)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunReadError(f"{path}: no such file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RunReadError(f"{path}: damaged, not readable JSON ({e})") from None

    # ------------------------------------------------------------------ the summary
    def has_summary(self) -> bool:
        return self.path(SUMMARY).is_file()

    def summary_model(self) -> type[BaseModel]:
        """The typed model of this kind's summary.json (its task's `summary_model`)."""
        return task_for(self.kind).summary_model

    def summary(self, model: type[M] | None = None, name: str = SUMMARY) -> M:
        """summary.json (or another summary file `name`, e.g. a re-reading's) as `model`
        (default: this kind's). Parsed again only when the file changed.

        Raises:
            RunReadError: the file is missing, not JSON, or not a summary of this kind
                (the message names the file and the first bad field).
        """
        model = model or self.summary_model()  # type: ignore[assignment]
        path = self.path(name)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise RunReadError(f"{path}: no summary (the run has not finished; rerun the "
                               "same command to resume and write it)") from None
        stamp = (st.st_mtime_ns, st.st_size)
        hit = self._summary.get((name, model))
        if hit is not None and hit[0] == stamp:
            return hit[1]
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RunReadError(f"{path}: damaged, not readable JSON ({e}); rerun the same "
                               "command to write it again") from None
        if not isinstance(data, dict):
            raise RunReadError(f"{path}: expected a JSON object, found {type(data).__name__}")
        try:
            value = model.model_validate(data)
        except ValidationError as e:
            raise RunReadError(f"{path}: {_where(e)}") from None
        self._summary[(name, model)] = (stamp, value)
        return value  # type: ignore[return-value]

    def summary_or_none(self, model: type[M] | None = None) -> M | None:
        """The summary, or None while there is none, it is being replaced, or it cannot be
        read (the viewer reads runs that are still being written, and then shows no
        statistics; `summary` and `vspec report` name the cause)."""
        try:
            return self.summary(model)
        except RunReadError:
            return None

    # ------------------------------------------------------------------ a sweep's records
    def _sweep(self) -> SweepResults:
        # the journals' layout is the sweep's writer's; the reader reads through it
        return SweepResults(self.run)

    def trials_journal(self) -> Journal:
        """``journal/_trials.jsonl``: one line per finished (or failed) trial attempt."""
        return self._sweep().trials_journal()

    def trial_records(self, trial_ids: set[str] | list[str] | None = None
                      ) -> dict[str, TrialRecord]:
        """The latest record of each trial (of `trial_ids`, or all), from the journal.

        Raises:
            RunReadError: a line is not a trial record (names the journal and field).
        """
        try:
            records = self._sweep().trial_records()
        except ValidationError as e:
            raise RunReadError(f"{self.trials_journal().path}: {_where(e)}") from None
        if trial_ids is None:
            return records
        wanted = set(trial_ids)
        return {t: r for t, r in records.items() if t in wanted}

    def trial_table(self) -> dict[str, TrialRecord]:
        """trials.parquet (the planned trials' records, written at the end of a run)."""
        out = {}
        for r in self.rows(TRIALS_TABLE):
            try:
                out[r["trial_id"]] = TrialRecord.model_validate(r)
            except ValidationError as e:
                raise RunReadError(f"{self.path(TRIALS_TABLE)}: {_where(e)}") from None
        return out

    def step_journals(self, trial_ids: list[str] | None = None) -> list[Journal]:
        """The trials' step journals (of `trial_ids`, or every one on disk)."""
        return self._sweep().step_journals(trial_ids)

    def step_rows(self, trial_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """Journaled step rows (`StepRecord`'s fields), ordered by trial id then step."""
        return self._sweep().step_rows(trial_ids)

    def steps(self, trial_ids: list[str] | None = None) -> list[StepRecord]:
        """The journaled steps as `StepRecord`s, ordered by trial id then step."""
        return [StepRecord.model_validate(r) for r in self.step_rows(trial_ids)]

    # ------------------------------------------------------------------ journals
    def journal(self, name: str) -> Journal:
        """The journal `journal/<name>.jsonl` (its `rows()`; a torn last line is left out)."""
        return self.run.journal(name)

    def journals(self) -> list[Journal]:
        """Every journal of the run, by name."""
        return self.run.journals()

    # ------------------------------------------------------------------ tables
    def table_path(self, name: str) -> Path:
        return self.path(name)

    def has_table(self, name: str) -> bool:
        return self.path(name).is_file()

    def table(self, name: str, columns: list[str] | None = None) -> pa.Table:
        """A Parquet table of the run (only `columns`, if given).

        Raises:
            RunReadError: the table is missing or unreadable (named).
        """
        import pyarrow.parquet as pq

        path = self.path(name)
        if not path.is_file():
            raise RunReadError(f"{path}: no such table (the run has not finished; rerun the "
                               "same command to resume and write it)")
        try:
            return pq.read_table(path, columns=columns)
        except Exception as e:  # noqa: BLE001 - ArrowInvalid, OSError: a damaged file
            raise RunReadError(f"{path}: damaged, not readable Parquet ({e}); rerun the same "
                               "command to rebuild it from the journals") from None

    def rows(self, name: str) -> list[dict[str, Any]]:
        """A Parquet table's rows as dicts (see `table`)."""
        return self.table(name).to_pylist()

    def num_rows(self, name: str) -> int:
        """How many rows a table has (0 when it is missing), from its footer."""
        import pyarrow.parquet as pq

        path = self.path(name)
        return pq.read_metadata(path).num_rows if path.is_file() else 0

    def sql(self, name: str) -> str:
        """``read_parquet('<path>')``: the table in a DuckDB query."""
        return "read_parquet('" + str(self.path(name)).replace("'", "''") + "')"


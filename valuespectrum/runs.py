"""One run directory, shared by persona sweeps and the Value-Spectrum benchmark.

Layout of RUN_DIR (both kinds)::

    .writer.lock       the single writer's lock; names its holder (pid, host, command)
    spec.yaml          the resolved spec (kind: sweep | spectrum); reruns as it is
    plan.json          the plan fingerprint: what every planned entry's results depend on
    versions.json      the lock's sha256 and package versions of the run (valuespectrum.versions)
    logs/output.log    what third-party code printed (progress bars, warnings), never the terminal
    journal/*.jsonl    records appended and fsync'd as they arrive (the source of truth)
    *.parquet          tables rebuilt from the journals (atomic replace)
    summary.json       the run's statistics

The rules both pipelines follow:

- **One writer.** `RunDirectory.acquire` takes an exclusive `flock`; a second writer gets
  `RunLockedError` naming the holder. The OS drops the lock when the holder dies.
- **Resume.** Rerunning the same spec resumes: entries with complete records are kept, the
  rest are redone. `restart=True` (`--restart`) clears the directory first.
- **Refuse a changed plan.** The plan maps each entry (a trial, an arm, the retrieval) to a
  fingerprint of everything its results depend on, including the *context* (corpus
  fingerprint, recommender parameters, prompt-set version, environment kind). An entry
  already planned under another fingerprint makes `begin` raise `PlanChanged`, whose
  message names what changed. Adding entries is fine.
- **Nothing half-written.** Journal lines are fsync'd one batch at a time and a torn last
  line (power loss) is cut off by `Journal.repair`; tables and JSON files are written to a
  temporary file and renamed.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import shutil
import socket
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, get_args, get_origin

import yaml

from valuespectrum.errors import PlanChanged, RunError, RunLockedError, RunWriteError
from valuespectrum.versions import package_versions, run_versions

__all__ = [
    "Journal", "Plan", "PlanChanged", "RunDirectory", "RunError", "RunLockedError",
    "RunWriteError", "WriterLock", "append_all", "arrow_schema", "fingerprint", "open_append",
    "package_versions", "read_jsonl", "read_table", "spec_changes", "sync_files",
    "unreadable_tables", "write_json", "write_table",
]


def write_error(path: Path, err: OSError) -> RunWriteError:
    """The user-facing error for an OSError while writing `path`."""
    return RunWriteError(
        f"cannot write {path}: {err.strerror or err}. Free disk space (or choose a writable "
        "--output), then rerun the same command to resume: everything written before is kept")


# --------------------------------------------------------------------------- the lock


class WriterLock:
    """An exclusive, non-blocking `flock` on a lock file that names its holder.

    The holder writes its pid, host and command line into the file, so a second writer is
    told who holds it. The OS drops the lock when the holder dies: a crashed run never
    leaves a stale lock behind.

    Args:
        path: The lock file (its folder is created).
        what: How the locked thing is named in the error ("run directory runs/demo").
        error: Exception type raised when the lock is held.
    """

    def __init__(self, path: str | Path, what: str | None = None,
                 error: type[Exception] = RunLockedError) -> None:
        self.path = Path(path)
        self.what = what or str(self.path.parent)
        self.error = error
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> None:
        if self._file is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = self.path.open("a+")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise self.error(f"{self.what} is being written by {holder}") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()}: {' '.join(sys.argv)}\n")
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


# --------------------------------------------------------------------------- journals


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Records of a JSON-lines file; a torn last line (crash mid-write) is ignored."""
    path = Path(path)
    out: list[dict[str, Any]] = []
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


@functools.cache
def _syncfs() -> Any:
    """libc's syncfs(fd) (Linux), or None (looked up once)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None


def sync_files(paths: Iterable[str | Path]) -> None:
    """Make written files durable: one `syncfs` of their file system on Linux (about
    0.3 ms here, where an fsync per file costs about 4 ms of wall time each), else an fsync
    per file."""
    paths = list(paths)
    if not paths:
        return
    syncfs = _syncfs()
    if syncfs is not None:
        fd = os.open(os.path.dirname(paths[0]) or ".", os.O_RDONLY)
        try:
            if syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


#: one row as JSON, as ``json.dumps(row, ensure_ascii=False)`` writes it (without building
#: an encoder for every row)
_json_line = json.JSONEncoder(ensure_ascii=False).encode


def journal_line(row: Mapping[str, Any]) -> bytes:
    """`row` as one journal line (UTF-8 JSON and a newline): what `Journal.append` writes.

    The sweep's actors encode their step records with it, and the driver appends the bytes
    as they come (`Journal.append_lines`)."""
    return (_json_line(row) + "\n").encode("utf-8")


def open_append(path: str | Path) -> int:
    """A file descriptor appending to `path` (created, with its directory, if missing).

    A sweep appends to hundreds of journals a second: one unbuffered descriptor, and the
    directory made only when it is missing."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o666)
    except FileNotFoundError:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, flags, 0o666)


def append_all(fd: int, data: bytes) -> None:
    """Append all of `data` to `fd` (`open_append`), or none of it.

    A write that fails part-way (a full disk: the kernel writes what fits, then the next
    write fails) is cut back to where it began, so that no torn line stays mid-file for the
    next append to follow (a torn line hides every line after it from `Journal.repair`).
    If even the cut fails, the torn tail is the file's last bytes until the next append,
    and `repair` cuts it on the next run. (The file's size is read only then: one syscall
    less per journal and commit.)

    Raises:
        OSError: the write failed (the file is as it was, unless the cut failed too).
    """
    done = os.write(fd, data)
    if done == len(data):
        return
    try:
        view = memoryview(data)
        while done < len(data):
            done += os.write(fd, view[done:])
    except OSError:
        try:
            os.ftruncate(fd, os.fstat(fd).st_size - done)
        except OSError:
            pass
        raise


class Journal:
    """An append-only JSON-lines file; every `append` is on disk when it returns."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def append(self, *rows: Mapping[str, Any], sync: bool = True) -> None:
        """Append rows with one write and one fsync.

        Args:
            sync: fsync before returning. ``False`` leaves the rows in the OS page cache
                (safe from a crash of this process, not from a power loss) for a caller that
                makes many journals durable at once with `sync_files`.
        """
        if rows:
            self.append_lines(b"".join(journal_line(r) for r in rows), sync=sync)

    def append_lines(self, data: bytes, sync: bool = True) -> None:
        """Append whole journal lines already encoded (`journal_line`), with one write.

        A write that fails part-way is cut back (`append_all`): no torn line stays in the
        middle of the journal for a retried append to land after.
        """
        if not data:
            return
        try:
            fd = open_append(self.path)
            try:
                append_all(fd, data)
                if sync:
                    os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            raise write_error(self.path, e) from None

    def rows(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path)

    def repair(self) -> int:
        """Cut a torn tail (an unfinished or unreadable last line); returns bytes cut."""
        if not self.path.exists():
            return 0
        data = self.path.read_bytes()
        good = 0
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break
            try:
                json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                break
            good += len(line)
        if good == len(data):
            return 0
        with self.path.open("r+b") as f:
            f.truncate(good)
            f.flush()
            os.fsync(f.fileno())
        return len(data) - good

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- tables


def _arrow_type(annotation: Any) -> Any:
    import pyarrow as pa

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


def arrow_schema(model: type) -> Any:
    """Arrow schema of a pydantic record model (so all-null columns keep their types)."""
    import pyarrow as pa

    return pa.schema([(n, _arrow_type(f.annotation)) for n, f in model.model_fields.items()])


def _replace_atomically(path: Path, write: Any) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:  # the previous version of `path` is untouched
        tmp.unlink(missing_ok=True)
        raise write_error(path, e) from None
    return path


def write_table(path: str | Path, rows: list[dict[str, Any]], schema: Any) -> Path:
    """Write rows as a Parquet file, atomically (a reader never sees half a table)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows, schema=schema)
    return _replace_atomically(Path(path), lambda tmp: pq.write_table(table, tmp))


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a Parquet file as dicts."""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def unreadable_tables(root: str | Path, names: Iterable[str]) -> list[str]:
    """The named Parquet files under `root` that exist but cannot be read (truncated...)."""
    import pyarrow.parquet as pq

    bad = []
    for name in names:
        path = Path(root) / name
        if not path.exists():
            continue
        try:
            pq.read_metadata(path)
        except Exception:  # noqa: BLE001 - any unreadable file (ArrowInvalid, OSError...)
            bad.append(name)
    return bad


def write_json(path: str | Path, data: Any) -> Path:
    """Write JSON atomically."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    return _replace_atomically(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


# --------------------------------------------------------------------------- plans


def fingerprint(*parts: Any) -> str:
    """A short stable digest of JSON-serialisable parts."""
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Plan:
    """What a run's results depend on.

    Attributes:
        context: Named run-wide inputs that change results (corpus fingerprint,
            recommender parameters, prompt-set version...); shown when a plan changes.
        entries: Entry id (a trial, an arm, "retrieval") -> fingerprint of its inputs and
            of the context it uses.
    """

    context: dict[str, Any] = field(default_factory=dict)
    entries: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"context": self.context, "entries": self.entries}

    @classmethod
    def from_json(cls, data: Any) -> Plan:
        if not isinstance(data, dict):
            return cls()
        return cls(context=dict(data.get("context") or {}), entries=dict(data.get("entries") or {}))


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, Mapping):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: {}}
    return {prefix: data}


def spec_changes(old: Mapping[str, Any], new: Mapping[str, Any],
                 ignore: Iterable[str] = ()) -> list[str]:
    """Human-readable differences `path: old -> new` between two nested mappings.

    A path whose first component is in `ignore` is skipped (settings that may change
    between a run and its resumption, such as concurrency).
    """
    ignore = set(ignore)
    a, b = _flatten(old), _flatten(new)
    out = []
    for key in sorted(set(a) | set(b)):
        if key.split(".", 1)[0] in ignore or a.get(key) == b.get(key):
            continue
        out.append(f"{key}: {a.get(key, '(unset)')!r} -> {b.get(key, '(unset)')!r}")
    return out


# --------------------------------------------------------------------------- the directory


class RunDirectory:
    """The files of one run, with a single-writer lock and the resume rule.

    Args:
        root: The run directory (created on `acquire`).
        kind: ``sweep`` or ``spectrum``: a directory of one kind is never reused as the other.
    """

    SPEC = "spec.yaml"
    PLAN = "plan.json"
    VERSIONS = "versions.json"
    JOURNALS = "journal"
    LOGS = "logs"
    LOCK = ".writer.lock"

    def __init__(self, root: str | Path, kind: str) -> None:
        self.root = Path(root)
        self.kind = kind
        self._lock = WriterLock(self.root / self.LOCK, what=f"run directory {self.root}")

    # ------------------------------------------------------------------ locking
    def acquire(self) -> None:
        """Take the writer lock; a second writer gets RunLockedError naming the holder.

        Raises:
            RunLockedError: another process holds the lock.
            RunWriteError: the directory cannot be created or written.
        """
        try:
            self._lock.acquire()
            (self.root / self.JOURNALS).mkdir(exist_ok=True)
        except OSError as e:
            self._lock.release()
            raise RunWriteError(
                f"cannot write the run directory {self.root}: {e.strerror or e}; choose a "
                "writable --output (nothing was run)") from None

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> RunDirectory:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # ------------------------------------------------------------------ files
    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def log_path(self) -> Path:
        """``logs/output.log``: what third-party code printed during the run (made here).

        The driver's own file descriptors point there while the run runs
        (`console.output_to_log`), and so do its actors' and tasks'
        (`cluster.send_output_to`); the terminal shows only vspec's own lines.
        """
        logs = self.root / self.LOGS
        logs.mkdir(exist_ok=True)
        return logs / "output.log"

    def journal(self, name: str) -> Journal:
        """The journal `journal/<name>.jsonl` (name made file-safe)."""
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
        return Journal(self.root / self.JOURNALS / f"{safe}.jsonl")

    def journals(self) -> list[Journal]:
        return [Journal(p) for p in sorted((self.root / self.JOURNALS).glob("*.jsonl"))]

    def saved_spec(self) -> dict[str, Any] | None:
        path = self.root / self.SPEC
        if not path.exists():
            return None
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else None

    def saved_plan(self) -> Plan:
        path = self.root / self.PLAN
        return Plan.from_json(json.loads(path.read_text())) if path.exists() else Plan()

    def started(self) -> bool:
        """Whether this directory already holds a run (a spec or any journal)."""
        return (self.root / self.SPEC).exists() or any(
            (self.root / self.JOURNALS).glob("*.jsonl"))

    # ------------------------------------------------------------------ the resume rule
    def begin(self, spec: dict[str, Any], plan: Plan, *, restart: bool = False,
              resumable: Iterable[str] = ()) -> bool:
        """Start or resume the run under `plan`; returns True when resuming.

        Call with the lock held. Writes spec.yaml (with `kind`), plan.json (merged with
        entries planned earlier) and versions.json.

        Args:
            spec: The resolved spec as plain data.
            plan: The plan of this invocation.
            restart: Clear the directory's earlier results first.
            resumable: Top-level spec fields that may change without changing results;
                left out of the explanation of a changed plan.

        Raises:
            PlanChanged: earlier results were recorded under another plan (or kind).
        """
        assert self._lock.held, "acquire() the run directory first"
        old_spec = self.saved_spec()
        foreign = sorted(c.name for c in self.root.iterdir()
                         if c.name not in (self.LOCK, self.JOURNALS))
        if old_spec is None and foreign:
            raise RunError(
                f"{self.root} is not empty ({', '.join(foreign[:3])}...) and holds no run "
                f"({self.SPEC} is missing); choose an empty or new output directory")
        if old_spec is not None and old_spec.get("kind", self.kind) != self.kind:
            raise PlanChanged(
                f"{self.root} holds a {old_spec.get('kind')} run, not a {self.kind} run; "
                "choose another output directory")
        if restart:
            self.clear()
            old_spec = None
        old = self.saved_plan()
        changed = sorted(k for k, v in plan.entries.items()
                         if k in old.entries and old.entries[k] != v)
        if changed:
            what = spec_changes(old.context, plan.context)
            if old_spec is not None:
                what += spec_changes({k: v for k, v in old_spec.items() if k != "kind"},
                                     {k: v for k, v in spec.items() if k != "kind"},
                                     ignore=set(resumable) | set(plan.context))
            reasons = "; ".join(what[:12]) or "inputs that are not in the spec (e.g. files)"
            more = f" (and {len(what) - 12} more)" if len(what) > 12 else ""
            raise PlanChanged(
                f"{self.root} holds results of {len(changed)} planned entr"
                f"{'y' if len(changed) == 1 else 'ies'} (e.g. {changed[0]}) recorded under a "
                f"different plan. Changed: {reasons}{more}. Rerun with --restart to start "
                "over in this directory, or choose another --output.")
        resuming = self.started()
        merged = Plan(context=plan.context, entries={**old.entries, **plan.entries})
        text = yaml.safe_dump({"kind": self.kind, **{k: v for k, v in spec.items() if k != "kind"}},
                              sort_keys=False, allow_unicode=True)
        _replace_atomically(self.root / self.SPEC, lambda tmp: tmp.write_text(text, "utf-8"))
        write_json(self.root / self.PLAN, merged.to_json())
        write_json(self.root / self.VERSIONS, run_versions())
        return resuming

    def clear(self) -> None:
        """Remove every file of the run except the lock (for --restart)."""
        for child in self.root.iterdir():
            if child.name == self.LOCK:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        (self.root / self.JOURNALS).mkdir(exist_ok=True)

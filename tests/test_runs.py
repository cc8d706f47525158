"""The run directory both pipelines share: lock, journals, tables, the resume rule."""

from __future__ import annotations

import multiprocessing as mp

import pyarrow as pa
import pytest

from valuespectrum.runs import (
    Journal,
    Plan,
    PlanChanged,
    RunDirectory,
    RunError,
    RunLockedError,
    read_jsonl,
    read_table,
    spec_changes,
    write_table,
)


def _try_lock(path, q):
    try:
        RunDirectory(path, "sweep").acquire()
        q.put("acquired")
    except RunLockedError as e:
        q.put(str(e))


def test_a_second_writer_is_refused_with_the_holder_named(tmp_path):
    rd = RunDirectory(tmp_path / "run", "sweep")
    rd.acquire()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_try_lock, args=(tmp_path / "run", q))
    p.start()
    p.join(60)
    msg = q.get(timeout=5)
    assert f"run directory {tmp_path / 'run'} is being written by pid" in msg
    rd.release()
    p = ctx.Process(target=_try_lock, args=(tmp_path / "run", q))
    p.start()
    p.join(60)
    assert q.get(timeout=5) == "acquired"  # released: the next writer gets it


def test_a_torn_journal_line_is_ignored_then_cut_by_repair(tmp_path):
    j = Journal(tmp_path / "j.jsonl")
    j.append({"a": 1}, {"a": 2})
    with j.path.open("a") as f:  # power lost in the middle of writing a line
        f.write('{"a": 3, "b"')
    assert j.rows() == [{"a": 1}, {"a": 2}]
    assert j.repair() == len('{"a": 3, "b"')
    assert j.repair() == 0
    j.append({"a": 4})
    assert read_jsonl(j.path) == [{"a": 1}, {"a": 2}, {"a": 4}]


def test_an_append_cut_short_by_a_full_disk_leaves_no_torn_line_before_the_retry(
        tmp_path, monkeypatch):
    """The trials journal is appended to again after a failed write (the group commit
    retries): the failed write is cut back, so the retried lines follow whole ones."""
    import errno
    import os

    j = Journal(tmp_path / "j.jsonl")
    j.append({"a": 1})
    real_write = os.write

    def half_then_full(fd, data):  # as the kernel does: what fits, then ENOSPC
        if len(data) > 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(RunError, match="No space left on device"):
        j.append({"a": 2}, {"a": 3})
    monkeypatch.setattr(os, "write", real_write)
    j.append({"a": 2}, {"a": 3})
    assert read_jsonl(j.path) == [{"a": 1}, {"a": 2}, {"a": 3}]
    assert j.repair() == 0


def test_a_journal_makes_its_directory_and_writes_readable_utf8_lines(tmp_path):
    j = Journal(tmp_path / "journal" / "t1.jsonl")  # the directory does not exist yet
    j.append({"answer": "Oui, très intéressant 🐈"}, sync=False)
    j.append({"answer": "ja"})
    assert j.path.read_bytes().decode("utf-8").splitlines()[0] == \
        '{"answer": "Oui, très intéressant 🐈"}'  # as written, not \u-escaped
    assert j.rows() == [{"answer": "Oui, très intéressant 🐈"}, {"answer": "ja"}]


@pytest.mark.parametrize("syncfs", ["none", "fails"])
def test_files_are_fsynced_one_by_one_where_syncfs_is_missing_or_fails(tmp_path, monkeypatch,
                                                                       syncfs):
    import os

    import valuespectrum.runs as runs

    synced = []
    monkeypatch.setattr(runs, "_syncfs", lambda: None if syncfs == "none" else (lambda fd: -1))
    monkeypatch.setattr(runs.os, "fsync", lambda fd: synced.append(os.readlink(
        f"/proc/self/fd/{fd}")))
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("1\n")
    b.write_text("2\n")
    runs.sync_files([a, str(b)])  # paths as Path or str
    assert synced == [str(a), str(b)]


def test_tables_are_replaced_atomically_and_keep_types(tmp_path):
    schema = pa.schema([("x", pa.int64()), ("y", pa.string())])
    path = write_table(tmp_path / "t.parquet", [{"x": None, "y": None}], schema)
    assert read_table(path) == [{"x": None, "y": None}]
    assert pa.parquet.read_schema(path).field("x").type == pa.int64()
    write_table(path, [{"x": 1, "y": "a"}], schema)
    assert read_table(path) == [{"x": 1, "y": "a"}]
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]  # no temporary left


def begin(root, plan, spec=None, **kw):
    rd = RunDirectory(root, kw.pop("kind", "sweep"))
    rd.acquire()
    try:
        return rd, rd.begin(spec or {"name": "x", "scrolls": 10}, plan, **kw)
    finally:
        rd.release()


def test_resume_adds_entries_and_refuses_a_changed_one_naming_the_change(tmp_path):
    _, resuming = begin(tmp_path, Plan({"corpus": "c1"}, {"t1": "a", "t2": "b"}))
    assert not resuming
    rd, resuming = begin(tmp_path, Plan({"corpus": "c1"}, {"t1": "a", "t3": "c"}))
    assert resuming and set(rd.saved_plan().entries) == {"t1", "t2", "t3"}
    with pytest.raises(PlanChanged) as e:
        begin(tmp_path, Plan({"corpus": "c2"}, {"t1": "z"}), {"name": "x", "scrolls": 12})
    msg = str(e.value)
    assert "1 planned entry (e.g. t1)" in msg
    assert "corpus: 'c1' -> 'c2'" in msg and "scrolls: 10 -> 12" in msg
    assert "--restart" in msg
    # refused before anything was written: the saved spec is the old one
    assert rd.saved_spec()["scrolls"] == 10


def test_restart_clears_the_directory_and_takes_the_new_plan(tmp_path):
    rd, _ = begin(tmp_path, Plan({}, {"t1": "a"}))
    rd.journal("t1").append({"step": 0})
    (tmp_path / "steps.parquet").write_bytes(b"old")
    rd, resuming = begin(tmp_path, Plan({}, {"t1": "b"}), restart=True)
    assert not resuming
    assert not (tmp_path / "steps.parquet").exists() and rd.journal("t1").rows() == []
    assert rd.saved_plan().entries == {"t1": "b"}


def test_resumable_fields_are_not_reported_as_changes(tmp_path):
    begin(tmp_path, Plan({}, {"t1": "a"}), {"name": "x", "concurrency": 2, "seed": 1})
    with pytest.raises(PlanChanged) as e:
        begin(tmp_path, Plan({}, {"t1": "b"}), {"name": "x", "concurrency": 8, "seed": 2},
              resumable={"concurrency"})
    assert "seed: 1 -> 2" in str(e.value) and "concurrency" not in str(e.value)


def test_a_directory_of_the_other_kind_or_no_run_is_refused(tmp_path):
    begin(tmp_path / "a", Plan({}, {"t": "a"}))
    with pytest.raises(PlanChanged, match="holds a sweep run, not a spectrum run"):
        begin(tmp_path / "a", Plan({}, {"t": "a"}), kind="spectrum")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "thesis.tex").write_text("precious")
    with pytest.raises(RunError, match="not empty .* holds no run"):
        begin(tmp_path / "b", Plan({}, {"t": "a"}), restart=True)
    assert (tmp_path / "b" / "thesis.tex").read_text() == "precious"


def test_spec_changes_reads_nested_fields():
    old = {"a": 1, "rec": {"tiktok": {"warmup": 50}}, "keep": [1, 2]}
    new = {"a": 1, "rec": {"tiktok": {"warmup": 25}}, "keep": [1, 2], "b": True}
    assert spec_changes(old, new) == ["b: '(unset)' -> True", "rec.tiktok.warmup: 50 -> 25"]

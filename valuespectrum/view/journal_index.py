"""A narrow index of a sweep's step journals, kept in DuckDB and read incrementally.

For a run in progress the journals are the truth, but parsing every journal on every page
would take seconds at 100,000 steps. The index keeps only the columns the cell and run pages
aggregate (ids, the cell's four columns, step, decision, value match, cost, tokens, cached,
error flag: a few MB at 100,000 steps) and reads only the bytes appended since the last look. A journal that shrank
or was replaced (a trial restarted from scratch) is read again from its start. Full rows
(answers, screenshots) are read from the one trial's journal a page shows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TABLE = "journal_index"
COLUMNS = (("trial_id", "VARCHAR"), ("cell", "VARCHAR"), ("persona", "VARCHAR"),
           ("model", "VARCHAR"), ("platform", "VARCHAR"), ("strategy", "VARCHAR"),
           ("step", "BIGINT"),
           ("decision", "BIGINT"), ("value_match", "BOOLEAN"), ("cost_usd", "DOUBLE"),
           ("input_tokens", "BIGINT"), ("output_tokens", "BIGINT"), ("cached", "BOOLEAN"),
           ("has_error", "BOOLEAN"))
#: The same columns from a full step table (steps.parquet), for queries that serve both.
NARROW_SELECT = ("SELECT trial_id, cell, persona, model, platform, strategy, step, decision, value_match, cost_usd, input_tokens, "
                 "output_tokens, cached, error IS NOT NULL AS has_error")


#: Journal bytes parsed at once (bounds the memory a first look at a big run takes).
BATCH_BYTES = 8 << 20
#: What DuckDB reads from a journal line (every other field is skipped while parsing).
JSON_COLUMNS = {"trial_id": "VARCHAR", "cell": "VARCHAR", "persona": "VARCHAR",
                "model": "VARCHAR", "platform": "VARCHAR", "strategy": "VARCHAR",
                "step": "BIGINT", "decision": "BIGINT",
                "value_match": "BOOLEAN", "cost_usd": "DOUBLE", "input_tokens": "BIGINT",
                "output_tokens": "BIGINT", "cached": "BOOLEAN", "error": "VARCHAR"}


class JournalIndex:
    """The narrow rows of a set of journals in a DuckDB table (call under one lock).

    Args:
        db: A DuckDB connection (the table lives in its in-memory database).
    """

    def __init__(self, db: Any) -> None:
        self.db = db
        self.seen: dict[Path, tuple[int, int, bytes]] = {}  # path -> (inode, read, its tail)
        self.trials: dict[Path, set[str]] = {}
        cols = ", ".join(f"{n} {t}" for n, t in COLUMNS)
        db.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({cols})")

    def _forget(self, path: Path) -> None:
        for tid in self.trials.pop(path, set()):
            self.db.execute(f"DELETE FROM {TABLE} WHERE trial_id = ?", [tid])
        self.seen.pop(path, None)

    def _new_bytes(self, path: Path) -> bytes:
        """The complete lines appended to `path` since the last look (all of it after a
        restart); b"" when nothing new."""
        try:
            st = path.stat()
        except FileNotFoundError:
            self._forget(path)
            return b""
        inode, offset, tail = self.seen.get(path, (st.st_ino, 0, b""))
        if st.st_size == offset and inode == st.st_ino:
            return b""
        with path.open("rb") as f:
            f.seek(offset - len(tail))
            # a restarted trial's new journal (even one reusing the inode) no longer ends
            # its first `offset` bytes with what was read: read it again from its start
            if inode != st.st_ino or st.st_size < offset or f.read(len(tail)) != tail:
                self._forget(path)
                offset = 0
                f.seek(0)
            data = f.read(max(0, st.st_size - offset))
        end = data.rfind(b"\n") + 1  # a torn last line waits for its end
        if not end:
            return b""
        self.seen[path] = (st.st_ino, offset + end, data[max(0, end - 64):end])
        try:  # a journal holds one trial: its first new line names it (for _forget)
            self.trials.setdefault(path, set()).add(json.loads(data[:data.index(b"\n")])["trial_id"])
        except (json.JSONDecodeError, KeyError, TypeError):
            pass
        return data[:end]

    def refresh(self, files: list[Path]) -> int:
        """Read what was appended to `files` since the last call; returns rows added."""
        for gone in set(self.seen) - set(files):
            self._forget(gone)
        added, batch, size = 0, [], 0
        for path in files:
            data = self._new_bytes(path)
            batch.append(data)
            size += len(data)
            if size >= BATCH_BYTES:  # in batches: memory stays flat however big the run
                added += self._insert(b"".join(batch))
                batch, size = [], 0
        if size:
            added += self._insert(b"".join(batch))
        return added

    def _count(self) -> int:
        return self.db.execute(f"SELECT count(*) FROM {TABLE}").fetchall()[0][0]

    def _insert(self, data: bytes) -> int:
        import io

        before = self._count()
        # DuckDB's JSON reader parses journals several times faster than Python's json
        # module; an unreadable line becomes a null row, dropped here
        rows = self.db.read_json(io.BytesIO(data), format="newline_delimited",
                                 columns=JSON_COLUMNS, ignore_errors=True)
        rows.filter("trial_id IS NOT NULL AND step IS NOT NULL").project(
            "trial_id, cell, persona, model, platform, strategy, step, decision, value_match, coalesce(cost_usd, 0) AS cost_usd, "
            "coalesce(input_tokens, 0) AS input_tokens, coalesce(output_tokens, 0) AS "
            "output_tokens, coalesce(cached, false) AS cached, error IS NOT NULL AS has_error"
        ).insert_into(TABLE)
        return self._count() - before

"""One run directory as the viewer reads it: status, live or finished, servable files.

`RunSource` is the base both kinds' sources extend. Each kind reads its files in a reader
(`view/sweep_reader.py`, `view/spectrum_reader.py`, which its pages modules use) and answers
the viewer's questions in its source (`view/sweep_source.py`, `view/spectrum_source.py`):
its card on the runs page, its run page, which pages it serves, what a recorded row was
asked with, its static export. The rest of the viewer asks the source and never the kind;
`view/sources.py` tells the kinds apart and opens them.
The viewer never writes into a run directory and never takes its lock (a shared lock, even
for a moment, would make a starting writer fail); it reads the lock file's holder line and
checks that the process named there is alive.
"""

from __future__ import annotations

import os
import re
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from valuespectrum.engine.reader import SUMMARY, RunReader
from valuespectrum.errors import RunReadError
from valuespectrum.runs import Plan, RunDirectory
from valuespectrum.view.links import Links
from valuespectrum.view.replay import Replay, ReplayContext, Replayer

#: Files the viewer serves from a run directory (screenshots and report figures).
SERVABLE = (".jpg", ".jpeg", ".png", ".svg", ".webp")
#: How long one look at a run's files answers "is it live, has it changed" (seconds).
SCAN_TTL_S = 0.5


class ViewError(ValueError):
    """A path cannot be viewed (not a run directory, unknown kind); the message says why."""


class RunSource(ABC):
    """Read-only access to one run directory; subclasses add what their kind records.

    Args:
        root: The run directory.
        rid: The run's id in the viewer's URLs (unique among the runs shown).
        spec: Its saved spec (spec.yaml) as data.
    """

    kind = ""
    #: What the runs page calls this kind of run.
    kind_label = ""
    #: The pages it serves besides its run page (the app's routes: ``cell``, ``trial``,
    #: ``step``, ``value``, ``answer``, ``image``).
    routes: frozenset[str] = frozenset()
    #: Whether its cells and trials can be set side by side on the compare page.
    compares = False
    #: The typed model of its summary.json.
    summary_model: type[BaseModel] = BaseModel

    def __init__(self, root: Path, rid: str, spec: dict[str, Any]) -> None:
        self.root = root
        self.rid = rid
        self.spec = spec
        self.reader = RunReader(root, self.kind)  # every file is read through it
        self._scan: tuple[float, dict[str, tuple[int, int, int]]] | None = None

    @property
    def name(self) -> str:
        return str(self.spec.get("name") or self.root.name)

    # ------------------------------------------------------------------ files
    def plan(self) -> Plan:
        try:
            return self.reader.plan()
        except RunReadError:
            return Plan()  # being replaced right now: the next refresh reads it

    def summary(self) -> Any:
        """Its summary.json as `summary_model` (parsed again only when it changed), or None
        while there is none or it cannot be read (`summary_problem` says why)."""
        return self.reader.summary_or_none(self.summary_model)

    def summary_problem(self) -> str | None:
        """Why a summary.json that exists cannot be read (damaged, not JSON, a malformed
        field), or None. Summaries are replaced atomically, so an unreadable one is damage,
        not a file caught mid-write: the run's status says so instead of "stopped"."""
        if self.writer() is not None or not (self.root / SUMMARY).exists():
            return None
        try:
            self.reader.summary(self.summary_model)
        except RunReadError as e:
            return str(e).splitlines()[0]
        return None

    def servable(self, rel: str) -> Path | None:
        """The file `rel` inside the run directory if the viewer may serve it, else None."""
        if not rel or rel.startswith("/") or not rel.lower().endswith(SERVABLE):
            return None
        path = (self.root / rel).resolve()
        root = self.root.resolve()
        if root not in path.parents or not path.is_file():
            return None
        return path

    def journal_files(self) -> list[Path]:
        return [j.path for j in self.reader.journals()]

    # ------------------------------------------------------------------ state
    def writer(self) -> str | None:
        """Who is writing the run now ("pid 12 on host: vspec run ..."), or None."""
        try:
            text = (self.root / RunDirectory.LOCK).read_text(encoding="utf-8").strip()
        except (FileNotFoundError, UnicodeDecodeError):
            return None
        m = re.match(r"pid (\d+) on ([^:]+):", text)
        if not text or m is None:
            return None
        if m.group(2) != socket.gethostname():
            return text  # another host: the line is all we can know
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            return None  # the holder died (the OS dropped its lock)
        except PermissionError:
            pass
        return text

    def tables(self) -> tuple[str, ...]:
        """The Parquet tables the run writes at its end (their absence means: read journals)."""
        return ()

    def scan(self) -> dict[str, tuple[int, int, int]]:
        """name -> (size, mtime, inode) of the journals, tables and summary, and the writer.

        One scan serves every question a page asks within `SCAN_TTL_S` (a run of 1,000
        trials has 1,000 journals to look at).
        """
        now = time.monotonic()
        if self._scan is not None and now - self._scan[0] < SCAN_TTL_S:
            return self._scan[1]
        found: dict[str, tuple[int, int, int]] = {}
        for p in [*self.journal_files(), *(self.root / n for n in
                                          (SUMMARY, *self.tables()))]:
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            found[str(p.relative_to(self.root))] = (st.st_size, st.st_mtime_ns, st.st_ino)
        found["writer"] = (int(self.writer() is not None), 0, 0)
        self._scan = (now, found)
        return found

    def live(self) -> bool:
        """Read the journals rather than the tables: running, or tables missing or older."""
        found = self.scan()
        if found["writer"][0] or any(t not in found for t in self.tables()):
            return True
        newest = max((v[1] for k, v in found.items() if k.startswith("journal/")), default=0)
        return bool(self.tables()) and newest > min(found[t][1] for t in self.tables())

    def signature(self) -> str:
        """Changes whenever anything the pages show may have changed (for live reloads)."""
        import hashlib

        text = "\n".join(f"{k}:{v[0]}:{v[1]}:{v[2]}" for k, v in sorted(self.scan().items()))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def status(self) -> str:
        """``running``, ``finished``, or what is missing (subclasses refine it)."""
        return "running" if self.writer() else "finished"

    def overview(self) -> dict[str, Any]:
        """What the runs page shows: spec digest, status, counts, cost (subclasses)."""
        return {"status": self.status()}

    def figures(self) -> list[str]:
        """Report figures of the run (paths relative to the run directory)."""
        return [f"figures/{p.name}" for p in sorted((self.root / "figures").glob("*.png"))]

    # ------------------------------------------------------------------ its pages
    @abstractmethod
    def card(self, links: Links) -> str:
        """Its card on the runs page (HTML): status, design, headline numbers."""

    @abstractmethod
    def run_page(self, links: Links) -> str:
        """Its run page (HTML)."""

    def cell_rows(self) -> list[dict[str, Any]]:
        """Its cells (what the compare form offers); a run without cells has none."""
        return []

    def compare_pairs(self) -> set[tuple[str, str]]:
        """The comparisons its static export holds (pairs of compare refs); none by default."""
        return set()

    @abstractmethod
    def replay_context(self, row: dict[str, Any]) -> ReplayContext:
        """What the recorded `row` was asked with (strategy, options, persona).

        Raises:
            ValueError: the run's files cannot say (the message names what is missing).
        """

    def replayer(self) -> Replayer:
        """Rebuilds the prompts of its recorded rows (reads and checks its prompt set)."""
        return Replayer(self.spec, self.plan().context, self.replay_context)

    def export_images(self, place: Callable[[Path, str], None]) -> dict[tuple[str, str, int], str]:
        """Place the files from outside the run its static pages show, `place(file, name)`;
        their names by (value, keyword, rank). A run that shows none places none."""
        return {}

    @abstractmethod
    def static_pages(self, links: Links, replay: Callable[[dict[str, Any]], Replay]
                     ) -> Iterator[tuple[str, str | None]]:
        """Its pages for a static export: (path in the export, HTML or None to skip).

        Args:
            links: Links of a page one folder deep (the run's folder).
            replay: Rebuilds a recorded row's prompt (see `replayer`).
        """

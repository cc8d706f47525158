"""`vspec view --export DIR`: the same pages as a self-contained static site.

Every page the server shows for the runs is written as a file with relative links, with the
screenshots, figures and retrieved images beside them (hard links where the file system
allows, else copies), so the folder opens from disk (file://) and can be zipped and shared.
Comparisons are exported for the pairs the runs' contrasts name (each treatment cell with
its control, and each of its trials with the same repetition in the control); cells are also
exported side by side with every cell that differs in one dimension.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from valuespectrum.report.contrast_rows import comparisons
from valuespectrum.view import pages, spectrum_pages, sweep_pages, trial_pages
from valuespectrum.view.app import assets_dir
from valuespectrum.view.links import StaticLinks, file_slug
from valuespectrum.view.replay import Replayer
from valuespectrum.view.run_source import SERVABLE, RunSource, ViewError
from valuespectrum.view.spectrum_source import SpectrumSource
from valuespectrum.view.sweep_source import PAGE, SweepSource

MARKER = ".vspec-view-export"


def _place(src: Path, dst: Path) -> None:
    """Hard-link `src` at `dst` (same file system), else copy it."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _check_target(out: Path, runs: dict[str, RunSource]) -> None:
    target = out.resolve()
    for src in runs.values():
        root = src.root.resolve()
        if target == root or root in target.parents:
            raise ViewError(f"{out}: inside the run directory {src.root}; the viewer never "
                            "writes into a run: export somewhere else")
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ViewError(f"{out}: exists and is not empty; give a new folder (or an earlier "
                        "export, which is replaced)")


def compare_pairs(runs: dict[str, RunSource]) -> set[tuple[str, str]]:
    """The comparisons a static export holds (see the module docstring)."""
    pairs: set[tuple[str, str]] = set()
    for rid, src in runs.items():
        if not isinstance(src, SweepSource):
            continue
        for c in comparisons(src.summary() or {}):
            if "*" in c["treatment"]:
                continue
            pairs.add((f"{rid}:cell:{c['treatment']}", f"{rid}:cell:{c['control']}"))
            for t in src.cell_trials(c["treatment"]):
                rec = t["record"] or {}
                twin = src.trial_at(c["control"], int(rec["index"])) if "index" in rec else None
                if twin:
                    pairs.add((f"{rid}:trial:{t['trial_id']}", f"{rid}:trial:{twin}"))
        for row in src.cell_rows():
            for other in src.cells_like(row["cell"]):
                pairs.add((f"{rid}:cell:{row['cell']}", f"{rid}:cell:{other}"))
    return pairs


class _Writer:
    def __init__(self, out: Path, progress: Callable[[str], None] | None) -> None:
        self.out, self.pages, self.files = out, 0, 0
        self.progress = progress

    def page(self, rel: str, html: str | None) -> None:
        if html is None:
            return
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
        self.pages += 1
        if self.progress and self.pages % 1000 == 0:
            self.progress(f"{self.pages} pages written")

    def tree(self, src: Path, dst: Path) -> None:
        """Place the image files under `src` at the same places under `dst`."""
        if not src.is_dir():
            return
        for path in src.rglob("*"):
            if path.is_file() and path.suffix.lower() in SERVABLE:
                _place(path, dst / path.relative_to(src))
                self.files += 1


def export_site(runs: dict[str, RunSource], out: str | Path,
                progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Write the static site for `runs` into `out`; returns counts of pages and files.

    Raises:
        ViewError: `out` is inside a run directory, or a non-empty folder that is not an
            earlier export.
    """
    out = Path(out)
    _check_target(out, runs)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("written by vspec view --export; replaced by the next export\n")
    (out / "assets").mkdir()
    for name in ("view.css", "view.js"):
        shutil.copy2(assets_dir() / name, out / "assets" / name)
    pairs = compare_pairs(runs)
    images: dict[tuple[str, str, str, int], str] = {}
    w = _Writer(out, progress)
    for rid, src in runs.items():
        w.tree(src.root / "screens", out / rid / "files" / "screens")
        w.tree(src.root / "figures", out / rid / "files" / "figures")
        if isinstance(src, SpectrumSource):
            for i, it in enumerate(src.retrieved()):
                path = Path(it["path"])
                if path.is_file():
                    name = f"{i:05d}{path.suffix.lower()}"
                    _place(path, out / rid / "images" / name)
                    images[(rid, it["value"], it["keyword"], int(it["rank"]))] = name
                    w.files += 1
    top, deep = StaticLinks(0, pairs, images), StaticLinks(1, pairs, images)
    w.page("index.html", pages.runs_page(runs, top))
    loop = asyncio.new_event_loop()
    try:
        for rid, src in runs.items():
            replayer = Replayer(src.kind, src.spec, src.plan().context)
            if isinstance(src, SweepSource):
                _export_sweep(w, src, deep, replayer, loop)
            elif isinstance(src, SpectrumSource):
                w.page(f"{rid}/index.html", spectrum_pages.run_page(src, deep))
                for v in src.values():
                    w.page(f"{rid}/value-{v}.html", spectrum_pages.value_page(src, deep, v))
                for row in src.answers():
                    rel = deep.answer(rid, row["arm"], row["value"], row["keyword"],
                                      int(row["rank"]))
                    replay = loop.run_until_complete(replayer.replay(row))
                    w.page(rel.removeprefix("../"), spectrum_pages.answer_page(src, deep, row,
                                                                               replay))
    finally:
        loop.close()
    for a, b in sorted(pairs):
        w.page(f"compare/{file_slug(a + '~' + b)}.html", pages.compare_page(runs, deep, a, b))
    return {"pages": w.pages, "files": w.files, "compares": len(pairs), "out": str(out)}


def _export_sweep(w: _Writer, src: SweepSource, links: StaticLinks, replayer: Any,
                  loop: asyncio.AbstractEventLoop) -> None:
    rid = src.rid
    w.page(f"{rid}/index.html", sweep_pages.run_page(src, links))
    tids: set[str] = set(src.trial_records())
    for row in src.cell_rows():
        w.page(f"{rid}/cell-{file_slug(row['cell'])}.html",
               sweep_pages.cell_page(src, links, row["cell"]))
        tids.update(t["trial_id"] for t in src.cell_trials(row["cell"]))
    for tid in sorted(tids):
        steps = src.trial_steps(tid, 0, 1 << 30)  # one trial at a time: its scrolls only
        for page_no in range(max(1, -(-len(steps) // PAGE))):
            w.page(f"{rid}/trial-{tid}-{page_no}.html",
                   trial_pages.filmstrip_page(src, links, tid, page_no))
        for row in steps:
            replay = loop.run_until_complete(replayer.replay(row))
            w.page(f"{rid}/step-{tid}-{row['step']}.html",
                   trial_pages.step_page(src, links, row, len(steps), replay))

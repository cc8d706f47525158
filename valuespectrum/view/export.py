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

from valuespectrum.view import pages
from valuespectrum.view.app import assets_dir
from valuespectrum.view.links import StaticLinks, file_slug
from valuespectrum.view.run_source import SERVABLE, RunSource, ViewError

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
    return {pair for src in runs.values() for pair in src.compare_pairs()}


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

    def place(self, src: Path, rid: str, name: str) -> None:
        """Place a file from outside the run (a retrieved image) in the run's images/."""
        _place(src, self.out / rid / "images" / name)
        self.files += 1

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
        placed = src.export_images(lambda path, name, rid=rid: w.place(path, rid, name))
        images.update({(rid, *key): name for key, name in placed.items()})
    top, deep = StaticLinks(0, pairs, images), StaticLinks(1, pairs, images)
    w.page("index.html", pages.runs_page(runs, top))
    loop = asyncio.new_event_loop()
    try:
        for src in runs.values():
            replayer = src.replayer()
            for rel, html in src.static_pages(
                    deep, lambda row, r=replayer: loop.run_until_complete(r.replay(row))):
                w.page(rel, html)
    finally:
        loop.close()
    for a, b in sorted(pairs):
        w.page(f"compare/{file_slug(a + '~' + b)}.html", pages.compare_page(runs, deep, a, b))
    return {"pages": w.pages, "files": w.files, "compares": len(pairs), "out": str(out)}

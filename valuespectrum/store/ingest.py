"""Ingest screenshots into a `ScreenshotStore`: from a feed corpus, a folder + CSV, or a run.

Ingest is idempotent: a screenshot's id is the sha256 of its image bytes (or of its path
when the file is unreadable), ids already stored are skipped before anything is embedded,
and new rows go in batches with one flush at the end. A rich progress bar shows the work.

Which vector a screenshot gets depends on the embedder: an image embedder (``clip:``) embeds
the pixels; a text embedder (``minilm``) embeds the caption shown with the post.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from valuespectrum.config import ConfigError
from valuespectrum.embedders import Embedder, NotSupported
from valuespectrum.engine.reader import STEPS_TABLE, RunReader
from valuespectrum.feed.corpus import Corpus
from valuespectrum.store.base import Store
from valuespectrum.store.records import ScreenshotRecord

CSV_COLUMNS = ("path", "platform", "posted", "link", "caption", "source")


@dataclass
class IngestReport:
    """What an ingest did."""

    seen: int = 0
    inserted: int = 0
    already_stored: int = 0
    failed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{self.inserted} inserted, {self.already_stored} already stored or duplicate, "
                f"{len(self.failed)} failed, of {self.seen} screenshots")


def file_key(path: Path) -> str:
    """Identity of a screenshot: sha256 of its bytes, or its path if it cannot be read."""
    try:
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "path:" + str(path)


def _embed(embedder: Embedder, records: Sequence[ScreenshotRecord],
           texts: Sequence[str]) -> tuple[np.ndarray, list[int]]:
    """Vectors for a batch, and the positions that failed (unreadable images)."""
    import warnings

    from PIL import Image

    try:
        embedder.embed_images([])
        images_ok = True
    except NotSupported:
        images_ok = False
    if not images_ok:
        return embedder.embed_texts(list(texts)), []
    imgs, good, bad = [], [], []
    for i, r in enumerate(records):
        try:
            with Image.open(r.path) as im, warnings.catch_warnings():
                warnings.simplefilter("ignore")  # palette transparency notices
                imgs.append(im.convert("RGB"))
            good.append(i)
        except (OSError, ValueError, Image.DecompressionBombError):
            bad.append(i)
    vecs = np.zeros((len(records), embedder.dim), dtype=np.float32)
    if imgs:
        vecs[good] = embedder.embed_images(imgs)
    return vecs, bad


def ingest_records(store: Store, embedder: Embedder,
                   records: Sequence[ScreenshotRecord], texts: Sequence[str] | None = None,
                   vectors: np.ndarray | None = None, batch_size: int = 256,
                   progress: bool = True, label: str = "ingest") -> IngestReport:
    """Embed (unless `vectors` are given) and insert the records not yet in the store.

    Args:
        store: The open target store.
        embedder: Embedder of the store's collection.
        records: Screenshot metadata; `key` decides identity.
        texts: Text per record for text embedders (default: the captions).
        vectors: Precomputed vectors aligned with `records` (e.g. a corpus's MiniLM rows).
        batch_size: Records embedded and inserted per batch.
        progress: Show a rich progress bar.
        label: Progress-bar description.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    texts = list(texts) if texts is not None else [r.caption for r in records]
    report = IngestReport(seen=len(records))
    existing = store.existing_ids(r.id for r in records)
    seen: set[int] = set()
    todo = []
    for i, r in enumerate(records):
        if r.id in existing or r.id in seen:
            report.already_stored += 1
        else:
            seen.add(r.id)
            todo.append(i)
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeRemainingColumn(), disable=not progress,
                  transient=True) as bar:
        task = bar.add_task(label, total=len(todo))
        for s in range(0, len(todo), batch_size):
            idx = todo[s : s + batch_size]
            recs = [records[i] for i in idx]
            if vectors is not None:
                vecs, bad = np.asarray(vectors, dtype=np.float32)[idx], []
            else:
                vecs, bad = _embed(embedder, recs, [texts[i] for i in idx])
            report.failed += [recs[j].path for j in bad]
            keep = [j for j in range(len(recs)) if j not in set(bad)]
            report.inserted += store.add([recs[j] for j in keep], vecs[keep],
                                         skip_existing=False)
            bar.advance(task, len(idx))
    store.flush()
    return report


def ingest_corpus(store: Store, embedder: Embedder, root: str | Path,
                  platform: str | None = None, **kw) -> IngestReport:
    """Ingest every item of a feed corpus (`valuespectrum.feed.corpus.Corpus`).

    MiniLM stores reuse the corpus's own caption embeddings when their width matches.
    """
    corpus = Corpus.load(root)
    records, texts = [], []
    for it in corpus.items:
        path = corpus.image_path(it.item_id)
        records.append(ScreenshotRecord(
            path=str(path), platform=platform or it.source, posted=it.posted,
            link=f"corpus://{corpus.root.name}/{it.item_id}", caption=it.text,
            source=f"corpus:{corpus.root.name}", key=file_key(path)))
        texts.append(it.text)
    vectors = None
    if (embedder.name == "minilm" and corpus.embeddings.ndim == 2
            and corpus.embeddings.shape[1] == embedder.dim):
        vectors = corpus.embeddings
    return ingest_records(store, embedder, records, texts, vectors=vectors,
                          label=f"corpus {corpus.root.name}", **kw)


def read_folder_csv(folder: str | Path, csv_path: str | Path) -> list[ScreenshotRecord]:
    """Records of a folder of screenshots described by a CSV.

    The CSV needs a `path` column (relative to `folder`, or absolute); `platform`, `posted`
    (YYYY-MM-DD), `link`, `caption` and `source` are optional.
    """
    folder, csv_path = Path(folder), Path(csv_path)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: screenshot folder not found")
    try:
        with csv_path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            if "path" not in header:
                raise ConfigError(f"{csv_path}: needs a 'path' column (has: {', '.join(header)})")
            unknown = [c for c in header if c not in CSV_COLUMNS]
            if unknown:
                raise ConfigError(f"{csv_path}: unknown columns {unknown}; expected {CSV_COLUMNS}")
            rows = list(reader)
    except FileNotFoundError:
        raise ConfigError(f"{csv_path}: file not found") from None
    out = []
    for n, row in enumerate(rows, start=2):
        if not (row.get("path") or "").strip():
            raise ConfigError(f"{csv_path}:{n}: path: empty")
        path = (folder / row["path"]).resolve()
        out.append(ScreenshotRecord(
            path=str(path), platform=row.get("platform") or "", posted=row.get("posted") or "",
            link=row.get("link") or "", caption=row.get("caption") or "",
            source=row.get("source") or f"folder:{folder.name}", key=file_key(path)))
    return out


def ingest_folder(store: Store, embedder: Embedder, folder: str | Path,
                  csv_path: str | Path, **kw) -> IngestReport:
    """Ingest a folder of screenshots with a CSV of their metadata."""
    return ingest_records(store, embedder, read_folder_csv(folder, csv_path),
                          label=f"folder {Path(folder).name}", **kw)


def read_run(run_dir: str | Path, corpus_root: str | Path | None = None) -> list[ScreenshotRecord]:
    """Records of the screenshots of a runner's RUN_DIR (steps.parquet + screens/).

    Captions and post dates come from the corpus (by `item_id`) when one is given.
    """
    run_dir = Path(run_dir)
    if not (run_dir / STEPS_TABLE).is_file():
        raise ConfigError(f"{run_dir}: no {STEPS_TABLE} (not a finished run directory?)")
    reader = RunReader(run_dir, "sweep")
    corpus = None
    if corpus_root is not None:
        corpus = Corpus.load(corpus_root)
    out = []
    for row in reader.rows(STEPS_TABLE):
        rel = row.get("screenshot_path")
        if not rel:
            continue
        path = (run_dir / rel).resolve()
        item = corpus.get(row["item_id"]) if corpus and row.get("item_id") in corpus else None
        out.append(ScreenshotRecord(
            path=str(path), platform=row.get("platform") or "",
            posted=item.posted if item else "", link=row.get("url") or "",
            caption=item.text if item else (row.get("caption") or ""),
            source=f"run:{run_dir.name}", key=file_key(path)))
    return out


def ingest_run(store: Store, embedder: Embedder, run_dir: str | Path,
               corpus_root: str | Path | None = None, **kw) -> IngestReport:
    """Ingest the screenshots a collection run captured (each distinct screenshot once)."""
    records = read_run(run_dir, corpus_root)
    if embedder.name == "minilm" and records and not any(r.caption for r in records):
        raise ConfigError(
            f"{run_dir}: the steps carry no captions for the text embedder 'minilm'; pass "
            "--corpus (the run's feed corpus) or use an image embedder (--embedder clip:...)"
        )
    return ingest_records(store, embedder, records, label=f"run {Path(run_dir).name}", **kw)

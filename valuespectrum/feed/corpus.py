"""The feed corpus: a Parquet manifest, an image folder and row-aligned text embeddings.

On disk a corpus is a directory::

    manifest.parquet   one row per FeedItem (see valuespectrum.types.FeedItem)
    images/            the images; `image_path` in the manifest is relative to the root
    embeddings.npy     float32 (n_items, dim), MiniLM of caption + hashtags, row-aligned
    corpus.json        metadata: name, source, seed, embedder, counts, linked source dir

Builders (`build_openclipart`, `import_corpus`, `ensure_default_corpus`) live in
`valuespectrum.feed.sources`, which imports this module (never the other way round).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from valuespectrum.embedders import Embedder
from valuespectrum.errors import CorpusError
from valuespectrum.feed.features import tag_features
from valuespectrum.specs import vspec_home
from valuespectrum.types import FeedItem, SchwartzValue
from valuespectrum.values import ValueCatalog, load_values

MANIFEST = "manifest.parquet"
EMBEDDINGS = "embeddings.npy"
META = "corpus.json"
IMAGES = "images"


class UnknownItemError(LookupError):
    """An item id that the corpus does not contain."""

    def __init__(self, item_id: str) -> None:
        super().__init__(f"unknown item id {item_id!r}")
        self.item_id = item_id

    def __str__(self) -> str:  # LookupError would quote the message like a KeyError
        return self.args[0]


def default_corpus_dir(name: str = "openclipart") -> Path:
    """Default location of a named corpus: `$VSPEC_HOME/corpus/<name>` (VSPEC_HOME=./.vspec)."""
    return vspec_home() / "corpus" / name


@dataclass(frozen=True)
class BuildReport:
    """What a corpus build did: counts of items written and of inputs skipped, with reasons."""

    out_dir: Path
    n_items: int
    skipped_oversized: int = 0
    skipped_unreadable: int = 0
    missing_metadata: int = 0
    seconds: float = 0.0
    categories: dict[str, int] = field(default_factory=dict)

    @property
    def skipped(self) -> int:
        return self.skipped_oversized + self.skipped_unreadable


class Corpus:
    """A loaded corpus: items, their embeddings and safe access to their images.

    Args:
        root: the corpus directory.
        items: the items, in manifest order.
        embeddings: (len(items), dim) float32, rows L2-normalised, aligned with `items`.
        meta: the parsed corpus.json.
    """
    def __init__(self, root: Path, items: Sequence[FeedItem], embeddings: np.ndarray,
                 meta: dict[str, Any] | None = None) -> None:
        if embeddings.shape[0] != len(items):
            raise CorpusError(
                f"{root}: {EMBEDDINGS} has {embeddings.shape[0]} rows for {len(items)} items"
            )
        self.root = Path(root).resolve()
        self.items: list[FeedItem] = list(items)
        self.embeddings = embeddings
        self.meta = dict(meta or {})
        self._index = {it.item_id: i for i, it in enumerate(self.items)}
        if len(self._index) != len(self.items):
            raise CorpusError(f"{root}: duplicate item ids in {MANIFEST}")
        self._by_image = {it.image_path: it.item_id for it in self.items}
        self._fingerprint: str | None = None
        self._digests: dict[str, tuple[tuple[int, int, int], str]] = {}
        self._tag_features = None
        linked = self.meta.get("linked_source")
        self._allowed_roots = [self.root] + ([Path(linked).resolve()] if linked else [])

    @classmethod
    def load(cls, root: str | Path) -> Corpus:
        """Read a corpus directory written by `write_corpus` (or the builders)."""
        import pyarrow.parquet as pq

        root = Path(root)
        for name in (MANIFEST, EMBEDDINGS, META):
            if not (root / name).is_file():
                raise CorpusError(
                    f"{root}: not a corpus ({name} missing); build one with "
                    "`vspec corpus build openclipart` or `vspec corpus import SRC`"
                )
        try:
            rows = pq.read_table(root / MANIFEST).to_pylist()
            items = [FeedItem(**_row_to_item(r)) for r in rows]
            emb = np.load(root / EMBEDDINGS)
            meta = json.loads((root / META).read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError) as e:
            raise CorpusError(f"{root}: cannot read corpus: {e}") from e
        return cls(root, items, np.asarray(emb, dtype=np.float32), meta)

    def __len__(self) -> int:
        return len(self.items)

    def tag_features(self):
        """The platform's item features (tags and category; `feed.features`), computed once."""
        if self._tag_features is None:
            self._tag_features = tag_features(self.items)
        return self._tag_features

    @property
    def fingerprint(self) -> str:
        """A digest of the manifest and the embeddings: what a feed serves and learns from.

        Part of every sweep's plan, so a run never resumes on a changed corpus.
        """
        if self._fingerprint is None:
            import hashlib

            h = hashlib.sha256()
            for name in (MANIFEST, EMBEDDINGS):
                path = self.root / name
                h.update(path.read_bytes() if path.exists() else name.encode())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._index

    def index(self, item_id: str) -> int:
        """Row of `item_id` in `items` and `embeddings`; UnknownItemError if absent."""
        try:
            return self._index[item_id]
        except (KeyError, TypeError):
            raise UnknownItemError(str(item_id)) from None

    def get(self, item_id: str) -> FeedItem:
        """The item with this id (category, value_tags, ...); UnknownItemError if absent."""
        return self.items[self.index(item_id)]

    def item_for_image(self, rel_path: str) -> FeedItem:
        """The item whose manifest `image_path` is exactly `rel_path`."""
        item_id = self._by_image.get(rel_path)
        if item_id is None:
            raise UnknownItemError(rel_path)
        return self.get(item_id)

    def image_path(self, item_id: str) -> Path:
        """Absolute path of the item's image, checked to stay inside the corpus.

        The manifest path must be relative, under `images/`, without `..`; once symlinks
        are followed the file must lie in the corpus or in the source it was linked from.
        """
        rel = self.get(item_id).image_path
        norm = os.path.normpath(rel)
        if os.path.isabs(rel) or norm.startswith("..") or not norm.startswith(IMAGES + os.sep):
            raise CorpusError(f"item {item_id}: image path {rel!r} escapes the corpus")
        path = self.root / norm
        real = path.resolve()
        if not any(real.is_relative_to(r) for r in self._allowed_roots):
            raise CorpusError(f"item {item_id}: image {rel!r} resolves outside the corpus")
        if not real.is_file():
            raise CorpusError(f"item {item_id}: image file {rel!r} is missing")
        return path

    def image_digest(self, item_id: str) -> str:
        """A digest of the item's image file (16 hex digits of its SHA-256), "" if unreadable.

        What a drawn post's cache is keyed by (`environments.drawing`): the same digest means
        the same image bytes. It is computed once per file and recomputed when the file's
        size, modification time or inode changes (one `stat` per call).
        """
        import hashlib

        rel = self.get(item_id).image_path
        try:
            st = os.stat(self.root / rel)
            stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
            known = self._digests.get(item_id)
            if known is not None and known[0] == stamp:
                return known[1]
            digest = hashlib.sha256(self.image_path(item_id).read_bytes()).hexdigest()[:16]
        except (OSError, CorpusError):  # served as a broken image; nothing to key by
            return ""
        self._digests[item_id] = (stamp, digest)
        return digest

    def categories(self) -> Counter[str]:
        return Counter(it.category for it in self.items)

    def stats(self) -> dict[str, Any]:
        """Counts for `vspec corpus stats`."""
        tags: Counter[str] = Counter(v.value for it in self.items for v in it.value_tags)
        return {
            "root": str(self.root),
            "items": len(self),
            "dim": int(self.embeddings.shape[1]) if self.embeddings.ndim == 2 else 0,
            "categories": dict(self.categories().most_common()),
            "value_tags": dict(tags.most_common()),
            "untagged": sum(1 for it in self.items if not it.value_tags),
            "meta": self.meta,
        }


def _row_to_item(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["hashtags"] = tuple(row.get("hashtags") or ())
    row["value_tags"] = tuple(row.get("value_tags") or ())
    return row


def write_corpus(out_dir: Path, items: Sequence[FeedItem], embeddings: np.ndarray,
                 meta: dict[str, Any]) -> None:
    """Write manifest, embeddings and metadata (images must already be in place)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [it.model_dump(mode="json") for it in items]
    schema = pa.schema([
        ("item_id", pa.string()), ("image_path", pa.string()), ("caption", pa.string()),
        ("hashtags", pa.list_(pa.string())), ("creator", pa.string()),
        ("category", pa.string()), ("duration_s", pa.float64()), ("posted", pa.string()),
        ("popularity", pa.float64()), ("value_tags", pa.list_(pa.string())),
        ("source", pa.string()),
    ])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), out_dir / MANIFEST)
    np.save(out_dir / EMBEDDINGS, np.asarray(embeddings, dtype=np.float32))
    meta = {**meta, "count": len(items), "dim": int(embeddings.shape[1])}
    (out_dir / META).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")


def value_tags_for(item_vecs: np.ndarray, embedder: Embedder, catalog: ValueCatalog | None = None,
                   threshold: float = 0.35, max_tags: int = 2) -> list[tuple[SchwartzValue, ...]]:
    """Schwartz values whose keywords are most similar to each item text (cosine, MiniLM).

    A value's score is its best keyword's similarity; values scoring at least `threshold`
    are kept, best first, at most `max_tags` per item.
    """
    catalog = catalog or load_values()
    pairs = catalog.pairs()
    kw_vecs = embedder.embed_texts([k for _, k in pairs])
    sims = item_vecs @ kw_vecs.T  # (n_items, n_keywords)
    values = list(SchwartzValue)
    per_value = np.full((item_vecs.shape[0], len(values)), -1.0, dtype=np.float32)
    for j, (v, _) in enumerate(pairs):
        col = values.index(v)
        per_value[:, col] = np.maximum(per_value[:, col], sims[:, j])
    out: list[tuple[SchwartzValue, ...]] = []
    for row in per_value:
        order = np.argsort(-row, kind="stable")[:max_tags]
        out.append(tuple(values[k] for k in order if row[k] >= threshold))
    return out

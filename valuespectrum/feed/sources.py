"""Corpus builders: Debian openclipart (also built on first use: `ensure_default_corpus`),
and a user's own folder of screenshots (+ CSV).

Both end in `corpus.write_corpus`. Per-item attributes a real platform would know but the
source does not (creator, duration, post date, popularity) are drawn from a seeded RNG.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import html
import os
import re
import shutil
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from valuespectrum.console import output_to_log
from valuespectrum.embedders import Embedder, MiniLMEmbedder
from valuespectrum.feed.corpus import (
    IMAGES,
    MANIFEST,
    META,
    BuildReport,
    CorpusError,
    default_corpus_dir,
    value_tags_for,
    write_corpus,
)
from valuespectrum.specs import vspec_home
from valuespectrum.types import FeedItem

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")
POST_START = dt.date(2024, 7, 31)
POST_END = dt.date(2024, 10, 31)
DEFAULT_MAX_PIXELS = 16_000_000  # larger images stall a browser; PIL's own limit is ~89 MP
_ADJ = ("sunny", "quiet", "wild", "urban", "cosy", "bold", "tiny", "happy", "retro", "lazy",
        "brave", "clever", "daily", "epic", "fresh", "golden")
_NOUN = ("fox", "pixel", "panda", "otter", "chef", "rider", "studio", "garden", "coder",
         "sketch", "wave", "rocket", "maker", "lens", "owl", "tiger")
_TITLE = re.compile(r"<dc:title>(.*?)</dc:title>", re.S)
_SUBJECT = re.compile(r"<dc:subject>(.*?)</dc:subject>", re.S)
_LI = re.compile(r"<rdf:li>(.*?)</rdf:li>", re.S)
_NOISE_TAGS = frozenset({"hash", "icon", "icons", "clipart", "clip_art", "svg", "image", "png"})


#: Debian's openclipart-png / -svg: the source of the default corpus.
OPENCLIPART = Path("/usr/share/openclipart")
OPENCLIPART_FIX = "sudo apt-get install -y openclipart-png openclipart-svg"


def ensure_default_corpus(path: str | Path | None, say: Callable[[str], None]) -> bool:
    """Build the default corpus on first use, saying so in one line; True if it built it.

    A run calls this where it loads its corpus (after taking its run directory's lock).
    Only the default corpus (`$VSPEC_HOME/corpus/openclipart`) is built this way, from
    Debian's openclipart packages; any other missing corpus is left to `Corpus.load`'s
    error. What the build's libraries print (the embedder's loading bar) goes to
    `$VSPEC_HOME/logs/corpus-build.log`.

    Args:
        path: The corpus the run reads.
        say: Prints the one line (the run's progress, or the console).

    Raises:
        CorpusError: the openclipart packages are missing (the message names the fix).
    """
    if path is None:
        return False
    root = default_corpus_dir()
    if Path(path).resolve() != root.resolve() or (root / MANIFEST).is_file():
        return False
    if not (OPENCLIPART / "png").is_dir() or not (OPENCLIPART / "svg").is_dir():
        raise CorpusError(f"{root}: the default corpus is not built, and its source "
                          f"{OPENCLIPART} is missing: {OPENCLIPART_FIX}")
    log = vspec_home() / "logs" / "corpus-build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    say(f"first use: building the default corpus in {root} from {OPENCLIPART} (once, 1 to 3 "
        f"min; log: {log})")
    with output_to_log(log, "corpus build"):
        build_openclipart(root, source=OPENCLIPART)
    return True


def _synthetic_attributes(rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
    """Seeded creator (Zipf-like), duration 5-60 s, post date and popularity prior."""
    creators = [f"@{a}_{b}" for a in _ADJ for b in _NOUN]
    creators = [creators[i] for i in rng.permutation(len(creators))[:120]]
    weights = 1.0 / np.arange(1, len(creators) + 1) ** 0.8
    days = (POST_END - POST_START).days
    out = []
    for _ in range(n):
        out.append({
            "creator": creators[int(rng.choice(len(creators), p=weights / weights.sum()))],
            "duration_s": round(float(rng.uniform(5.0, 60.0)), 1),
            "posted": (POST_START + dt.timedelta(days=int(rng.integers(0, days + 1)))).isoformat(),
            "popularity": round(float(rng.beta(1.5, 4.0)), 4),
        })
    return out


def _hashtag(word: str) -> str:
    return re.sub(r"[^0-9a-z_]", "", word.lower().replace(" ", ""))


def _clean_stem(stem: str) -> str:
    text = re.sub(r"[_\-]+", " ", re.sub(r"[_\-]?\d+$", "", stem)).strip()
    return text[:1].upper() + text[1:] if text else stem


def _svg_metadata(svg: Path) -> tuple[str, list[str]] | None:
    """(title, keywords) from an openclipart SVG's RDF metadata, or None when absent."""
    try:
        text = svg.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    end = text.find("</metadata>")
    head = text if end < 0 else text[:end]
    title_m = _TITLE.search(head)
    subject_m = _SUBJECT.search(head)
    if title_m is None and subject_m is None:
        return None
    title = html.unescape(title_m.group(1)).strip() if title_m else ""
    keywords = [html.unescape(k).strip() for k in _LI.findall(subject_m.group(1))] if subject_m else []
    return title, [k for k in keywords if k]


def _check_image(path: Path, max_pixels: int) -> str | None:
    """None when the image header is readable and small enough, else 'oversized'/'unreadable'."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return "oversized"
    except Exception:  # noqa: BLE001 - any decoder failure means "unreadable"
        return "unreadable"
    return "oversized" if w * h > max_pixels else None


def _refuse(out: Path, why: str) -> CorpusError:
    return CorpusError(f"{out}: refusing to build a corpus here: {why}")


def _target_problem(out: Path) -> str | None:
    """Why `out` may not be replaced by a new corpus, or None when it is new, empty or a corpus."""
    if out.is_symlink():
        return "it is a symlink; pass the directory it points to"
    if not out.exists():
        return None
    if not out.is_dir():
        return "it exists and is not a directory"
    if (out / MANIFEST).is_file() or (out / META).is_file() or not any(out.iterdir()):
        return None
    return (f"the folder is not empty and not a corpus (no {MANIFEST} or {META}); "
            "its files would be deleted. Pick a new or empty folder")


def _check_target(out: Path, source: Path, role: str) -> None:
    """Refuse (before any work) a target that is or overlaps `source` or holds other files."""
    out_r, src_r = out.resolve(), source.resolve()
    if out_r == src_r:
        raise _refuse(out, f"it is the {role} {source}")
    if out_r.is_relative_to(src_r):
        raise _refuse(out, f"it is inside the {role} {source}")
    if src_r.is_relative_to(out_r):
        raise _refuse(out, f"it contains the {role} {source}")
    problem = _target_problem(out)
    if problem:
        raise _refuse(out, problem)


@contextmanager
def _staged(out: Path) -> Iterator[Path]:
    """Yield a fresh sibling directory to build in; on success it replaces `out`.

    The old corpus (if any) is renamed aside, the new one renamed into place, then the old
    one deleted. On any failure the temporary directory is removed and `out` is untouched.
    """
    real = out.resolve()
    real.parent.mkdir(parents=True, exist_ok=True)
    tmp = real.parent / f".{real.name}.tmp-{os.getpid()}"
    if tmp.exists():  # left by a killed earlier process that had our pid
        shutil.rmtree(tmp)
    tmp.mkdir()
    old: Path | None = None
    try:
        yield tmp
        problem = _target_problem(out)  # the target may have changed during the build
        if problem:
            raise _refuse(out, problem)
        if real.exists():
            old = real.parent / f".{real.name}.old-{os.getpid()}"
            if old.exists():
                shutil.rmtree(old)
            os.rename(real, old)
        try:
            os.rename(tmp, real)
        except OSError:
            if old is not None:
                os.rename(old, real)
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _embed_and_tag(rows: list[dict[str, Any]], embedder: Embedder | None,
                   threshold: float) -> tuple[list[FeedItem], np.ndarray]:
    if embedder is None:
        embedder = MiniLMEmbedder()
    drafts = [FeedItem(**r) for r in rows]
    vecs = embedder.embed_texts([d.text for d in drafts])
    tags = value_tags_for(vecs, embedder, threshold=threshold)
    items = [d.model_copy(update={"value_tags": t}) for d, t in zip(drafts, tags, strict=True)]
    return items, vecs


def build_openclipart(out_dir: str | Path | None = None,
                      source: Path = OPENCLIPART, seed: int = 0,
                      limit: int | None = None, embedder: Embedder | None = None,
                      categories: tuple[str, ...] | None = None,
                      max_pixels: int = DEFAULT_MAX_PIXELS,
                      tag_threshold: float = 0.35) -> BuildReport:
    """Build a corpus from Debian's openclipart-png/-svg packages.

    Title becomes the caption, keywords the hashtags, the top folder the category. Images are
    symlinked into `images/`, not re-encoded; only their headers are read to skip unreadable
    and oversized files (more than `max_pixels`).

    Args:
        out_dir: target directory (default `default_corpus_dir()`); replaced if it exists.
        source: directory holding `png/` and `svg/`.
        seed: seeds the sample and the synthetic attributes.
        limit: keep a seeded random sample of this many images (before skipping).
        embedder: text embedder (default MiniLM).
        categories: keep only these top-level categories.
        max_pixels: images with more pixels are skipped as oversized.
        tag_threshold: minimum keyword similarity for a value tag.
    """
    start = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else default_corpus_dir()
    _check_target(out, Path(source), "openclipart source folder")
    png_root = Path(source) / "png"
    if not png_root.is_dir():
        raise CorpusError(f"{png_root}: not found (install the openclipart-png package)")
    rels = sorted(
        os.path.relpath(os.path.join(d, f), png_root)
        for d, _, files in os.walk(png_root) for f in files if f.lower().endswith(".png")
    )
    if categories:
        rels = [r for r in rels if r.split(os.sep, 1)[0] in set(categories)]
    rng = np.random.default_rng(seed)
    if limit is not None and limit < len(rels):
        rels = [rels[i] for i in sorted(rng.choice(len(rels), size=limit, replace=False))]
    rows: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    with _staged(out) as tmp:
        (tmp / IMAGES).mkdir()
        for rel in rels:
            problem = _check_image(png_root / rel, max_pixels)
            if problem:
                skipped[problem] += 1
                continue
            meta = _svg_metadata((Path(source) / "svg" / rel).with_suffix(".svg"))
            if meta is None:
                skipped["no_metadata"] += 1
            title, keywords = meta or ("", [])
            parts = rel.split(os.sep)
            tags = [t for t in dict.fromkeys(_hashtag(k) for k in keywords + parts[1:-1])
                    if t and t not in _NOISE_TAGS]
            link = tmp / IMAGES / rel
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to((png_root / rel).resolve())
            rows.append({
                "item_id": "oc-" + hashlib.sha1(rel.encode()).hexdigest()[:12],
                "image_path": f"{IMAGES}/{rel}",
                "caption": title if len(title) > 1 else _clean_stem(Path(rel).stem),
                "hashtags": tuple(tags[:6]), "category": parts[0], "source": "openclipart",
            })
        # collection notices ("Part of the Flat Icon Collection (date)") say nothing: use the name
        title_counts = Counter(r["caption"] for r in rows)
        for row, attrs in zip(rows, _synthetic_attributes(rng, len(rows)), strict=True):
            row.update(attrs)
            caption = row["caption"]
            if title_counts[caption] >= 5 or caption.lower().startswith("part of the"):
                row["caption"] = _clean_stem(Path(row["image_path"]).stem)
        if not rows:
            raise CorpusError(f"{png_root}: no usable images")
        items, vecs = _embed_and_tag(rows, embedder, tag_threshold)
        write_corpus(tmp, items, vecs, {
            "name": "openclipart", "source": "openclipart", "seed": seed, "limit": limit,
            "embedder": getattr(embedder, "name", "minilm"),
            "linked_source": str(png_root.resolve()), "skipped": dict(skipped),
        })
    return BuildReport(out, len(items), skipped["oversized"], skipped["unreadable"],
                       skipped["no_metadata"], time.perf_counter() - start,
                       dict(Counter(it.category for it in items).most_common()))


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            return [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
                    for row in csv.DictReader(f)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise CorpusError(f"{path}: cannot read CSV: {e}") from e


def _image_column(row: dict[str, str]) -> str:
    for key in ("image", "image_path", "file", "path", "filename"):
        if row.get(key):
            return row[key]
    return ""


def import_corpus(src: str | Path, out_dir: str | Path, seed: int = 0,
                  embedder: Embedder | None = None, tag_threshold: float = 0.35,
                  max_pixels: int = DEFAULT_MAX_PIXELS) -> BuildReport:
    """Import a user's screenshots as a corpus; images are copied into `out_dir/images/`.

    `src` is either a folder of images (optionally with one CSV whose `image`/`file` column
    names files in that folder) or a CSV whose `image` column holds paths (relative to the
    CSV). Optional columns: caption, hashtags (space/comma separated), category, creator,
    duration_s, posted (ISO date). Missing values get seeded defaults.
    """
    start = time.perf_counter()
    src, out = Path(src), Path(out_dir)
    _check_target(out, src, "source folder" if src.is_dir() else "source")
    if src.is_file() and src.suffix.lower() == ".csv":
        base, meta_rows = src.parent, _read_csv(src)
        entries = [(_image_column(r), r) for r in meta_rows]
        if any(not name for name, _ in entries):
            raise CorpusError(f"{src}: every row needs an 'image' column naming an image file")
    elif src.is_dir():
        base = src
        csvs = sorted(src.glob("*.csv"))
        if len(csvs) > 1:
            raise CorpusError(f"{src}: several CSV files ({', '.join(c.name for c in csvs)}); keep one")
        by_name = {_image_column(r): r for r in _read_csv(csvs[0])} if csvs else {}
        files = sorted(p.relative_to(src).as_posix() for p in src.rglob("*")
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        entries = [(f, by_name.get(f, by_name.get(Path(f).name, {}))) for f in files]
    else:
        raise CorpusError(f"{src}: expected a folder of images or a .csv file")
    if not entries:
        raise CorpusError(f"{src}: no images found ({', '.join(IMAGE_SUFFIXES)})")
    rng = np.random.default_rng(seed)
    rows, skipped = [], Counter()
    with _staged(out) as tmp:
        (tmp / IMAGES).mkdir()
        attributes = _synthetic_attributes(rng, len(entries))
        for (name, meta), attrs in zip(entries, attributes, strict=True):
            path = Path(name) if Path(name).is_absolute() else base / name
            problem = _check_image(path, max_pixels) if path.is_file() else "unreadable"
            if problem:
                skipped[problem] += 1
                continue
            digest = hashlib.sha1(name.encode()).hexdigest()[:12]
            target = f"{IMAGES}/{digest}{path.suffix.lower()}"
            shutil.copyfile(path, tmp / target)
            tags = re.split(r"[\s,]+", meta.get("hashtags", ""))
            row = {"item_id": "im-" + digest, "image_path": target, "source": "import",
                   "caption": meta.get("caption") or _clean_stem(path.stem),
                   "hashtags": tuple(t for t in dict.fromkeys(_hashtag(t) for t in tags) if t),
                   "category": meta.get("category") or "imported", **attrs}
            for key in ("creator", "posted"):
                row[key] = meta.get(key) or row[key]
            if meta.get("duration_s"):
                try:
                    row["duration_s"] = float(meta["duration_s"])
                except ValueError:
                    raise CorpusError(f"{src}: {name}: duration_s {meta['duration_s']!r} "
                                      "is not a number") from None
            rows.append(row)
        if not rows:
            raise CorpusError(f"{src}: none of the {len(entries)} images could be read")
        try:
            items, vecs = _embed_and_tag(rows, embedder, tag_threshold)
        except ValueError as e:  # pydantic: e.g. duration_s <= 0
            raise CorpusError(f"{src}: invalid metadata: {e}") from None
        write_corpus(tmp, items, vecs, {"name": out.name, "source": str(src.resolve()),
                                        "seed": seed, "skipped": dict(skipped),
                                        "embedder": getattr(embedder, "name", "minilm")})
    return BuildReport(out, len(items), skipped["oversized"], skipped["unreadable"], 0,
                       time.perf_counter() - start,
                       dict(Counter(it.category for it in items).most_common()))

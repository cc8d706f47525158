"""Posts drawn with PIL, and the caches that draw each one once per node.

The HTTP environment shows a viewer the post drawn like the feed page draws it (image,
creator, caption, hashtags on a phone-sized canvas). A drawn post depends only on the item
(its text and its image's bytes) and the drawing options (viewport, video times, motion,
format, JPEG quality), so it is drawn and encoded once and the same bytes go to every later
viewer of that post: the screenshots a model receives are byte for byte those drawn
without a cache (tests/environments/test_drawing.py). Two layers:

- `DrawnPosts`, in memory, shared by the agents of one viewer actor (a bounded LRU);
- `DrawingDirectory`, files in a private directory of the node, shared by every actor on
  it (a node's actors see most of the corpus between them; one actor sees a quarter of
  its steps, so many more posts are first seen there).

Drawing was most of a step's CPU (docs/scale.md, "Drawn posts cached").
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import json
import logging
import os
import struct
import tempfile
import textwrap
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
#: Bytes a viewer actor's memory cache of drawn posts holds at most (the LRU drops the
#: rest), in front of the node's directory and alone. A post drawn as PNG is ~28 KB and its
#: stored JPEG ~16 KB on the default corpus. In front of a directory the memory saves only a
#: file read per post (~40 us), so it stays small (~750 posts); alone it is all there is.
#: Chosen from those sizes, not from run speeds: with four actors on a 2-core node,
#: 4 x 128 MiB alone added ~0.4 GB to 1,000 agents' 1.7 GB (docs/scale.md).
DEFAULT_CACHE_BYTES = 32 * 2**20
ALONE_CACHE_BYTES = 128 * 2**20
#: `Observation.meta["renderer"]` of posts drawn here: the same post and options give the
#: same bytes every time, so their stored copies are cached too (a browser's screenshots
#: never repeat, so theirs are not).
RENDERER = "PIL"
#: What one entry costs beyond its bytes (dict slot, tuple, key string), roughly.
ENTRY_OVERHEAD = 256
#: Bytes a node's directory of drawn posts holds at most: the whole default corpus drawn
#: as PNG with its stored JPEGs (~44 KB a post x 8,102) fits twice over, in one option set.
DEFAULT_DIRECTORY_BYTES = 1024 * 2**20
#: A directory file: magic, then the header's length (4 bytes, big-endian), the header
#: (JSON: the namespaced key and each frame's length), the frames.
MAGIC = b"VSPD1"


def _font(path: str, size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.truetype(path, size)
    except OSError:
        return ImageFont.load_default(size)


def _load_picture(image_bytes: bytes | None, viewport: tuple[int, int]) -> Any:
    """The post's image fitted into the media area (as the page's CSS fits it), or None."""
    from PIL import Image

    if not image_bytes:
        return None
    w, h = viewport
    try:
        with Image.open(io.BytesIO(image_bytes)) as im:
            im.draft("RGB", (w, h))
            pic = im.convert("RGBA")
        pic.thumbnail((w, int(h * 0.78)))
        return pic
    except Exception:  # noqa: BLE001 - a broken image still shows the text, as in a browser
        return None


def _compose(pic: Any, item: dict[str, Any], viewport: tuple[int, int], t_s: float,
             motion: str, image: str = "png", jpeg_quality: int = 80) -> bytes:
    from PIL import Image, ImageDraw

    from valuespectrum.environments.observation import panzoom

    w, h = viewport
    canvas = Image.new("RGB", (w, h), (244, 241, 234))
    if pic is not None:
        scale, fx, fy = (panzoom(t_s, item.get("item_id", "")) if motion == "panzoom"
                         else (1.0, 0.0, 0.0))
        if scale != 1.0:
            pic = pic.resize((max(1, round(pic.width * scale)), max(1, round(pic.height * scale))))
        x = (w - pic.width) // 2 + round(fx * w)
        y = (h - pic.height) // 2 + round(fy * h)
        canvas.paste(pic, (x, y), pic)
    draw = ImageDraw.Draw(canvas)
    regular, bold = _font(FONT, 15), _font(FONT_BOLD, 15)
    lines = [(item.get("creator", ""), bold)]
    lines += [(ln, regular) for ln in textwrap.wrap(item.get("caption", ""), 34)[:3]]
    tags = " ".join(f"#{t}" for t in item.get("hashtags", ()))
    lines += [(ln, bold) for ln in textwrap.wrap(tags, 34)[:2]]
    top = h - 16 - 21 * len(lines)
    draw.rectangle((0, top - 12, w, h), fill=(40, 40, 40))
    for i, (text, font) in enumerate(lines):
        draw.text((16, top + 21 * i), text, fill=(255, 255, 255), font=font)
    draw.rectangle((0, h - 4, w, h), fill=(90, 90, 90))
    out = io.BytesIO()
    if image == "jpeg":  # encoded once, as the model and the run directory take it
        canvas.save(out, format="JPEG", quality=jpeg_quality)
    else:
        canvas.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def render_post(image_bytes: bytes | None, item: dict[str, Any],
                viewport: tuple[int, int] = (390, 844), t_s: float = 0.0,
                motion: str = "none") -> bytes:
    """Draw a post like the feed page does (at video time `t_s`) and return PNG bytes."""
    return _compose(_load_picture(image_bytes, viewport), item, viewport, t_s, motion)


def render_frames(image_bytes: bytes | None, item: dict[str, Any], viewport: tuple[int, int],
                  times: Sequence[float], motion: str = "none", image: str = "png",
                  jpeg_quality: int = 80) -> list[bytes]:
    """The post at each video time in `times`, as PNG or JPEG (the image is decoded once)."""
    pic = _load_picture(image_bytes, viewport)
    return [_compose(pic, item, viewport, t, motion, image, jpeg_quality) for t in times]


def drawing_key(item: dict[str, Any], viewport: tuple[int, int], times: Sequence[float],
                motion: str, image: str, jpeg_quality: int) -> str | None:
    """What a drawn post depends on, as a cache key; None when the image is not named.

    Every input of `render_frames`: the item's id (it picks the pan direction), its text as
    drawn, the digest of its image's bytes (`Corpus.image_digest`, sent by the feed server)
    and every drawing option. A feed server that sends no digest gets no caching.
    """
    digest = item.get("image_digest")
    if not digest:
        return None
    return json.dumps([
        item.get("item_id", ""), digest, item.get("creator", ""), item.get("caption", ""),
        list(item.get("hashtags", ())), list(viewport), [float(t) for t in times], motion,
        image, int(jpeg_quality) if image == "jpeg" else 0,
    ], ensure_ascii=False)


def stored_key(png: bytes, quality: int) -> str:
    """The cache key of a PNG screenshot's stored JPEG copy: its bytes' digest, the quality."""
    return f"stored:{hashlib.blake2b(png, digest_size=16).hexdigest()}:{int(quality)}"


#: The environment variable naming a node's directory of drawn posts ("" for none).
DIRECTORY_VARIABLE = "VSPEC_DRAWN_POSTS_DIR"


def default_directory() -> Path | None:
    """The node's directory of drawn posts: `$VSPEC_DRAWN_POSTS_DIR` if set (empty: none,
    each actor draws for itself), else `<temp dir>/vspec-<uid>/drawn-posts`.

    A setting of the node, read by its actors (they inherit the environment of `ray start`,
    or of the driver that started a local Ray)."""
    named = os.environ.get(DIRECTORY_VARIABLE)
    if named is not None:
        return Path(named) if named else None
    return Path(tempfile.gettempdir()) / f"vspec-{os.getuid()}" / "drawn-posts"


def renderer_digest() -> str:
    """What else a drawing depends on: this code, the pan/zoom formula, Pillow and its
    codecs, the fonts. Part of every directory key, so a drawing made by another version
    of any of them is never reused."""
    import PIL
    from PIL import features

    from valuespectrum.environments import observation

    h = hashlib.sha256()
    for path in (__file__, observation.__file__):
        h.update(Path(path).read_bytes())
    h.update(PIL.__version__.encode())
    for codec in ("zlib", "jpg", "freetype2"):
        h.update(f"{codec}={features.version(codec)}".encode())
    for font in (FONT, FONT_BOLD):
        try:
            st = os.stat(font)
            h.update(f"{font}:{st.st_size}:{st.st_mtime_ns}".encode())
        except OSError:
            h.update(f"{font}:missing".encode())
    return h.hexdigest()[:16]


class DrawingDirectory:
    """Drawn posts as files in a private directory, shared by the viewer actors of a node.

    A file holds its full key beside the frames and is read only when the key matches, so
    a stale, foreign or damaged file is a miss, never a wrong picture. Files appear whole
    (written aside, then renamed). Once a process has written an eighth of `max_bytes`, it
    deletes the least recently used files (by modification time; a hit touches its file)
    down to three quarters of `max_bytes`.

    Args:
        root: the directory (created with mode 0700). One another user could write to is
            refused (ValueError): a planted file would become a model's screenshot.
        max_bytes: the files' bytes it keeps at most.
    """

    def __init__(self, root: str | Path, max_bytes: int = DEFAULT_DIRECTORY_BYTES) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be > 0, got {max_bytes}")
        self.root = Path(root)
        self.max_bytes = int(max_bytes)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for d in (self.root, self.root.parent):
            st = d.stat()
            if d == self.root or d.name.startswith("vspec-"):
                if st.st_uid != os.getuid() or st.st_mode & 0o022:
                    raise ValueError(f"{d}: a directory of drawn posts must belong to this "
                                     "user and be writable by no one else")
        self.namespace = renderer_digest()
        self._written = 0
        self._tmp = itertools.count()

    def _path(self, key: str) -> tuple[str, Path]:
        full = f"{self.namespace}\n{key}"
        name = hashlib.sha256(full.encode()).hexdigest()[:40]
        return full, self.root / f"{name}.post"

    def read(self, key: str) -> tuple[bytes, ...] | None:
        """The frames stored under `key`, or None."""
        full, path = self._path(key)
        try:
            with open(path, "rb") as f:
                data = f.read()
            os.utime(path)
        except OSError:
            return None
        try:
            if not data.startswith(MAGIC):
                return None
            (n,) = struct.unpack_from(">I", data, len(MAGIC))
            start = len(MAGIC) + 4
            header = json.loads(data[start:start + n])
            if header["key"] != full:
                return None
            frames, pos = [], start + n
            for size in header["sizes"]:
                frames.append(data[pos:pos + size])
                pos += size
            return tuple(frames) if pos == len(data) else None
        except (ValueError, KeyError, TypeError, struct.error):
            return None

    def write(self, key: str, frames: Sequence[bytes]) -> None:
        """Store `frames` under `key` (failures to write are logged, not raised)."""
        full, path = self._path(key)
        header = json.dumps({"key": full, "sizes": [len(f) for f in frames]}).encode()
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{next(self._tmp)}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(MAGIC + struct.pack(">I", len(header)) + header + b"".join(frames))
            os.replace(tmp, path)
        except OSError as e:  # a full disk costs a redraw, not the step
            log.warning("cannot keep a drawn post in %s: %s", self.root, e)
            tmp.unlink(missing_ok=True)
            return
        self._written += len(header) + sum(len(f) for f in frames)
        if self._written > self.max_bytes // 8:
            self._written = 0
            self.trim()

    def trim(self, to_bytes: int | None = None) -> int:
        """Delete the least recently used files down to `to_bytes` (default: 3/4 of
        `max_bytes`) if the directory holds more than `max_bytes`; returns files deleted."""
        files, total, now = [], 0, time.time()
        with os.scandir(self.root) as it:
            for entry in it:
                try:
                    st = entry.stat()
                except OSError:
                    continue
                if entry.name.endswith(".tmp"):  # a writer that died mid-file, long ago
                    if now - st.st_mtime > 3600:
                        Path(entry.path).unlink(missing_ok=True)
                    continue
                files.append((st.st_mtime, st.st_size, entry.path))
                total += st.st_size
        if total <= self.max_bytes:
            return 0
        goal = self.max_bytes * 3 // 4 if to_bytes is None else to_bytes
        deleted = 0
        for _, size, path in sorted(files):
            if total <= goal:
                break
            Path(path).unlink(missing_ok=True)
            total -= size
            deleted += 1
        return deleted


def node_directory(root: str | Path | None = None,
                   max_bytes: int = DEFAULT_DIRECTORY_BYTES) -> DrawingDirectory | None:
    """The node's `DrawingDirectory` (`root`, else `default_directory()`), or None: when
    none is set, or with a warning when it cannot be used (read-only, or foreign)."""
    root = default_directory() if root is None else root
    if root is None:
        return None
    try:
        return DrawingDirectory(root, max_bytes)
    except (OSError, ValueError) as e:
        log.warning("drawn posts are not shared between this node's actors: %s", e)
        return None


class DrawnPosts:
    """A bounded LRU of drawn posts (encoded frames by `drawing_key`), shared by the agents
    of one viewer actor (one event loop), in front of the node's `DrawingDirectory`.

    Agents asking for a post another agent is drawing wait for that drawing rather than
    draw it again; if it fails they draw it themselves.

    Args:
        max_bytes: the frames' bytes it holds at most (0 holds nothing).
        directory: the node's directory of drawn posts, or None for memory only.

    Attributes:
        hits: Lookups answered from memory (including waits on another's drawing).
        shared_hits: Lookups answered from the directory.
        misses: Lookups that drew.
    """

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES,
                 directory: DrawingDirectory | None = None) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self.directory = directory
        self.bytes = 0
        self.hits = 0
        self.shared_hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, tuple[bytes, ...]] = OrderedDict()
        self._drawing: dict[str, asyncio.Future] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def _size(key: str, frames: tuple[bytes, ...]) -> int:
        return sum(len(f) for f in frames) + len(key) + ENTRY_OVERHEAD

    def get(self, key: str) -> tuple[bytes, ...] | None:
        """The frames under `key` (now the most recently used), or None."""
        frames = self._entries.get(key)
        if frames is not None:
            self._entries.move_to_end(key)
        return frames

    def put(self, key: str, frames: Sequence[bytes]) -> tuple[bytes, ...]:
        """Keep `frames` under `key`, dropping the least recently used beyond `max_bytes`."""
        frames = tuple(frames)
        size = self._size(key, frames)
        if key in self._entries:
            self.bytes -= self._size(key, self._entries.pop(key))
        if size > self.max_bytes:  # larger than the whole cache: not kept
            return frames
        self._entries[key] = frames
        self.bytes += size
        while self.bytes > self.max_bytes:
            old, dropped = self._entries.popitem(last=False)
            self.bytes -= self._size(old, dropped)
        return frames

    async def fetch(self, key: str,
                    draw: Callable[[], Awaitable[Sequence[bytes]]]) -> tuple[bytes, ...]:
        """The frames under `key`, drawn by `draw()` (once, however many ask at a time)."""
        while True:
            frames = self.get(key)
            if frames is not None:
                self.hits += 1
                return frames
            pending = self._drawing.get(key)
            if pending is None:
                break
            # another agent is drawing this post; None means it failed: draw it here
            frames = await asyncio.shield(pending)
            if frames is not None:
                self.hits += 1
                return frames
        if self.directory is not None:
            frames = self.directory.read(key)
            if frames is not None:
                self.shared_hits += 1
                return self.put(key, frames)
        self.misses += 1
        pending = self._drawing[key] = asyncio.get_running_loop().create_future()
        frames = None
        try:
            frames = self.put(key, await draw())
            if self.directory is not None:
                self.directory.write(key, frames)
            return frames
        finally:
            del self._drawing[key]
            pending.set_result(frames)

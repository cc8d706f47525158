"""Records of the screenshot store: row metadata, search hits, stats, ids and filters."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence

from pydantic import Field

from valuespectrum.types import Frozen

TEXT_FIELDS = {"path": 1024, "platform": 64, "posted": 32, "link": 1024, "caption": 2048,
               "source": 128}
OUTPUT_FIELDS = list(TEXT_FIELDS)


class ScreenshotRecord(Frozen):
    """Metadata of one screenshot; `key` (defaults to `path`) decides its identity."""

    path: str
    platform: str = ""
    posted: str = Field(default="", description="ISO date (YYYY-MM-DD) the video was posted")
    link: str = ""
    caption: str = ""
    source: str = ""
    key: str | None = Field(default=None, description="identity; e.g. the image's sha256")

    @property
    def id(self) -> int:
        return screenshot_id(self.key or self.path)


class Hit(Frozen):
    """One search result; `distance` is the true (not squared) L2 distance."""

    id: int
    distance: float
    path: str
    platform: str = ""
    posted: str = ""
    link: str = ""
    caption: str = ""
    source: str = ""


class StoreStats(Frozen):
    """Counts per platform and source, and the range of post dates."""

    db: str
    collection: str
    embedder: str
    dim: int
    count: int
    platforms: dict[str, int]
    sources: dict[str, int]
    first_posted: str | None
    last_posted: str | None


def screenshot_id(key: str | bytes) -> int:
    """Stable positive 63-bit id of a screenshot key (content hash, path or link)."""
    data = key if isinstance(key, bytes) else key.encode("utf-8")
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big") >> 1


def collection_name(embedder_name: str) -> str:
    """Milvus collection name for an embedder spec (`clip:ViT-B-32/x` -> `shots_clip_ViT_B_32_x`)."""
    return "shots_" + re.sub(r"[^0-9A-Za-z_]", "_", embedder_name)


def _quote(value: str) -> str:
    return json.dumps(str(value))


def build_filter(platforms: Sequence[str] | None = None, since: str | None = None,
                 until: str | None = None) -> str:
    """Milvus boolean expression for optional platform and (inclusive) post-date filters."""
    parts = []
    if platforms:
        parts.append(f"platform in [{', '.join(_quote(p) for p in platforms)}]")
    if since:
        parts.append(f"posted >= {_quote(since)}")
    if until:
        parts.append(f"posted <= {_quote(until)}")
    return " and ".join(parts)

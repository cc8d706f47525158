"""``ocr:minilm``: a CPU viewer that reads the screenshot's pixels, the offline stand-in for a
VLM that has to see.

It never reads the text the environment took from the page (`ImagePart.alt_text`) nor the
corpus: it runs Tesseract on the screenshot, keeps what it read except the lines with an
``@handle`` (the creator's line: the creator's name is not the post's content, and the text
viewer ``embed:minilm`` leaves it out too), and answers by the ``embed:minilm`` rule on
that text. A screenshot with no readable
text is a post it knows nothing about: it says no.

The screenshot is read in grayscale, inverted (the feed's caption is light on dark;
Tesseract reads dark text on light best) and scaled 2x: on 52 Chromium screenshots of the
feed that read 0.977 of the visible text (a character-level match with the page's text,
none empty) against 0.933 (two empty) in plain grayscale (docs/models.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from valuespectrum.models.base import BackendUnavailable
from valuespectrum.models.baselines import (
    DEFAULT_THRESHOLD,
    NEUTRAL_PROFILE,
    AffinityViewer,
    EmbeddingViewer,
    answer_for,
)
from valuespectrum.types import Completion, GenerateConfig, Message, Question, Usage

#: The language Tesseract reads (Debian package tesseract-ocr-eng).
LANGUAGE = "eng"
INSTALL = ("sudo apt-get install -y tesseract-ocr tesseract-ocr-eng && "
           "pip install pytesseract  (scripts/setup.sh does both)")
_HANDLE = re.compile(r"(?:^|\s)@\S")


def tesseract_version() -> str:
    """Tesseract's version with the English model, e.g. ``5.3.0``.

    Raises:
        BackendUnavailable: pytesseract, the tesseract binary or its English data is missing.
    """
    try:
        import pytesseract
    except ImportError:
        raise BackendUnavailable(f"pytesseract is not installed: {INSTALL}") from None
    try:
        version = str(pytesseract.get_tesseract_version())
        langs = pytesseract.get_languages(config="")
    except (pytesseract.TesseractNotFoundError, OSError) as e:
        raise BackendUnavailable(f"the tesseract program is missing ({e}): {INSTALL}") from None
    if LANGUAGE not in langs:
        raise BackendUnavailable(f"tesseract {version} has no '{LANGUAGE}' data: {INSTALL}")
    return version


def read_screenshot(image: bytes) -> str:
    """Everything Tesseract reads on an encoded screenshot (PNG or JPEG), line by line."""
    import pytesseract
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(image)) as im:
        gray = ImageOps.grayscale(im)
    big = ImageOps.invert(gray).resize((gray.width * 2, gray.height * 2), Image.LANCZOS)
    return pytesseract.image_to_string(big, lang=LANGUAGE)


def post_text(read: str) -> str:
    """What the viewer judges: the lines read, as one line, without the lines that hold a
    word starting with ``@`` (the creator's line). The whole line goes: OCR splits handles
    ("@bold_ sketch"), and "sketch" alone would read as a post about drawing."""
    return " ".join(" ".join(line.split()) for line in read.splitlines()
                    if line.strip() and not _HANDLE.search(line))


class OcrViewer(AffinityViewer):
    """Tesseract OCR of the screenshot, then the ``embed:minilm`` rule on what it read.

    Args:
        name: The spec (``ocr:minilm``).
        threshold: The text rule's similarity threshold (default: ``embed:minilm``'s).
        embedder: The text embedder (default MiniLM).

    Attributes:
        ocr_seconds: Wall time spent reading screenshots (what this viewer adds per step).
        reads: Screenshots read (a repeated screenshot is read once).
    """

    def __init__(self, name: str = "ocr:minilm", *, threshold: float = DEFAULT_THRESHOLD,
                 embedder: Any = None) -> None:
        super().__init__(name, 0.5)
        self.version = tesseract_version()
        # one thread per tesseract process: a viewer actor reads several agents' screenshots
        # at once, and OpenMP threads would only fight over the same cores
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        self.text_rule = EmbeddingViewer(name, threshold=threshold, embedder=embedder)
        self._read: dict[str, str] = {}
        self.ocr_seconds = 0.0
        self.reads = 0

    async def read(self, image: bytes) -> str:
        """The post text read off `image` (memoised by content; read in a worker thread so
        the agents sharing this event loop keep going)."""
        key = hashlib.sha256(image).hexdigest()
        text = self._read.get(key)
        if text is None:
            t0 = time.perf_counter()
            text = post_text(await asyncio.to_thread(read_screenshot, image))
            self.ocr_seconds += time.perf_counter() - t0
            self.reads += 1
            if len(self._read) > 4096:  # bounded memo
                self._read.clear()
            self._read[key] = text
        return text

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Completion:
        t0 = time.perf_counter()
        self.calls += 1
        question = config.question or Question(
            kind="json" if config.json_schema else "yes_no",
            persona=" ".join(m.text_content() for m in messages if m.role == "system"))
        images = [p for m in messages if m.role == "user" for p in m.images() if p.png]
        # the pixels of the screenshot, never its alt_text; a question without an image
        # (caption_llm's text turn) is about its subject, which this viewer wrote itself
        post = await self.read(images[0].png) if images else question.subject.strip()
        profile = question.persona or NEUTRAL_PROFILE
        a = float(np.clip(self.text_rule.affinity(profile, post, [], config.seed), 0.0, 1.0))
        text = answer_for(question, config, a, a >= self.threshold, post)
        return Completion(text=text, model=self.name, usage=Usage(),
                          latency_s=time.perf_counter() - t0)

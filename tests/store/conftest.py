"""Fixtures for store tests: small random stores and cheap deterministic embedders."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pytest

from valuespectrum.embedders import NotSupported

PLATFORMS = ("tiktok", "youtube", "instagram")


def unit_rows(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


class HashTextEmbedder:
    """Text embedder whose vector is a seeded random unit vector per text (no model)."""

    name = "hash-text"

    def __init__(self, dim: int = 32) -> None:
        self.dim = dim

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        rows = [unit_rows(1, self.dim, int(hashlib.sha256(t.encode()).hexdigest()[:8], 16))[0]
                for t in texts]
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)

    def embed_images(self, images):
        raise NotSupported("text only")


class ColorImageEmbedder(HashTextEmbedder):
    """Image embedder: the normalised mean RGB colour, padded (tiny, deterministic)."""

    name = "color"

    def embed_images(self, images) -> np.ndarray:
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        for i, im in enumerate(images):
            out[i, :3] = np.asarray(im, dtype=np.float32).reshape(-1, 3).mean(0) + 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def hash_embedder() -> HashTextEmbedder:
    return HashTextEmbedder()


# --------------------------------------------------------------------------- Milvus server


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    """A real standalone Milvus server (PyPI `milvus`, a dev dependency), one per session."""
    from valuespectrum.store.milvus_server import (
        MilvusServerError,
        local_milvus_server,
        milvus_server_binary,
    )

    if milvus_server_binary() is None:
        pytest.skip("no milvus-server launcher: the `milvus` dev dependency is not installed")
    try:
        with local_milvus_server(tmp_path_factory.mktemp("milvus-server")) as uri:
            yield uri
    except MilvusServerError as e:
        pytest.fail(str(e))


@pytest.fixture(params=["lite", "server"])
def store_location(request, tmp_path):
    """Where a store test's store lives: a milvus-lite file, or the session's Milvus server
    (emptied first); the same tests run against both."""
    if request.param == "lite":
        return str(tmp_path / "s.db")
    uri = request.getfixturevalue("milvus_server")
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri)
    for name in client.list_collections():
        client.drop_collection(name)
    client.close()
    return uri

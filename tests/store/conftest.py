"""Fixtures for store tests: small random stores and cheap deterministic embedders."""

from __future__ import annotations

import hashlib
import os
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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    """A real standalone Milvus server (PyPI `milvus`), started once per session.

    It listens on all interfaces (no bind option), so it only runs on test machines; it is
    stopped through its wrapper (SIGINT), since a bare SIGTERM to the binary panics.
    """
    import shutil
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    exe = Path(sys.executable).with_name("milvus-server")
    if not exe.exists() and shutil.which("milvus-server") is None:
        pytest.skip("the `milvus` package (a standalone Milvus server) is not installed")
    data = tmp_path_factory.mktemp("milvus-server")
    port = _free_port()
    log = (data / "server.log").open("wb")
    proc = subprocess.Popen([str(exe if exe.exists() else "milvus-server"), "--data", str(data),
                             "--proxy-port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # the first start unpacks ~250 MB
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"milvus-server exited with {proc.returncode}: "
                            f"{(data / 'server.log').read_text()[-2000:]}")
            if _answers(uri):
                break
            if time.monotonic() > deadline:
                pytest.fail("milvus-server did not answer in 180 s")
            time.sleep(0.5)
        yield uri
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _answers(uri: str) -> bool:
    from pymilvus import MilvusClient

    try:
        client = MilvusClient(uri=uri, timeout=2)
        client.list_collections()
        client.close()
        return True
    except Exception:  # noqa: BLE001 - not up yet
        return False


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

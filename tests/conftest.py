"""Shared test settings: offline model hubs, quiet local Ray, marker-based skips."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _has_gpu() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def _appium_installed() -> bool:
    from valuespectrum.environments.appium_server import appium_dir

    return (appium_dir() / "node_modules" / ".bin" / "appium").is_file()


def pytest_collection_modifyitems(config, items):
    chromium = os.path.exists("/usr/bin/chromium")
    appium = _appium_installed()
    # opt-in: asking adb here would start its server, a daemon that outlives the tests
    device = os.environ.get("VSPEC_ANDROID_TESTS") == "1"
    gpu = _has_gpu() and shutil.which("vllm") is not None
    api = os.environ.get("VSPEC_RUN_API_TESTS") == "1"
    for item in items:
        if "browser" in item.keywords and not chromium:
            item.add_marker(pytest.mark.skip(reason="Debian chromium is not installed"))
        if "gpu" in item.keywords and not gpu:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU and vllm (GPU nodes only)"))
        if "api" in item.keywords and not api:
            item.add_marker(pytest.mark.skip(reason="real API calls: set VSPEC_RUN_API_TESTS=1 and keys"))
        if "appium" in item.keywords and not appium:
            item.add_marker(pytest.mark.skip(reason="Appium is not installed: run scripts/setup.sh "
                                                    "(it installs Appium into .appium/)"))
        if "android" in item.keywords and not device:
            item.add_marker(pytest.mark.skip(reason="needs an Android device or emulator: attach "
                                                    "one, then set VSPEC_ANDROID_TESTS=1"))


# animals make up a fifth of these categories, enough for the recommender tests
CATEGORIES = ("animals", "food", "people", "transportation", "plants", "buildings")


@pytest.fixture(scope="session")
def minilm():
    from valuespectrum.embedders import MiniLMEmbedder

    return MiniLMEmbedder()


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory, minilm) -> Path:
    """300 seeded openclipart images, built once per session (shared basetemp path)."""
    from valuespectrum.feed.sources import build_openclipart

    out = tmp_path_factory.getbasetemp() / "feed-corpus"
    if not (out / "corpus.json").exists():
        build_openclipart(out, limit=300, seed=0, categories=CATEGORIES, embedder=minilm)
    return out


@pytest.fixture(scope="session")
def corpus(corpus_dir):
    from valuespectrum.feed.corpus import Corpus

    return Corpus.load(corpus_dir)


def pytest_collection_finish(session):
    """Start the one shared local Ray before any test runs, if a selected test needs it.

    Early, because a process whose tests already used a milvus-lite store runs gRPC
    threads, and `start_ray` refuses to fork Ray's servers from such a process (see
    valuespectrum.cluster).
    """
    if any("ray_session" in getattr(item, "fixturenames", ()) for item in session.items):
        from valuespectrum.cluster import start_ray

        session.config._vspec_ray_started = start_ray(num_cpus=2, log_to_driver=False)


def pytest_sessionfinish(session):
    if getattr(session.config, "_vspec_ray_started", False):
        import ray

        from valuespectrum.models.shared import release_shared_actors

        release_shared_actors()
        ray.shutdown()


@pytest.fixture(scope="session")
def ray_session():
    """The local Ray every in-process test shares (started at collection, see above)."""
    import ray

    assert ray.is_initialized(), "Ray was not started at collection"
    return ray


@pytest.fixture(scope="module")
def feed_server(corpus):
    from valuespectrum.feed.platform import FeedPlatform
    from valuespectrum.feed.server import FeedServer

    with FeedServer(FeedPlatform(corpus)) as server:
        yield server

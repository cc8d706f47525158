"""Environment fixtures: the same small real corpus as tests/feed, a live server, a browser."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio

# animals make up a fifth of these categories, enough for the recommender tests
CATEGORIES = ("animals", "food", "people", "transportation", "plants", "buildings")


@pytest.fixture(scope="session")
def minilm():
    from valuespectrum.store.embedders import MiniLMEmbedder

    return MiniLMEmbedder()


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory, minilm) -> Path:
    """300 seeded openclipart images, built once per session (shared basetemp path)."""
    from valuespectrum.feed.corpus import build_openclipart

    out = tmp_path_factory.getbasetemp() / "feed-corpus"
    if not (out / "corpus.json").exists():
        build_openclipart(out, limit=300, seed=0, categories=CATEGORIES, embedder=minilm)
    return out


@pytest.fixture(scope="session")
def corpus(corpus_dir):
    from valuespectrum.feed.corpus import Corpus

    return Corpus.load(corpus_dir)


@pytest.fixture(scope="module")
def feed_server(corpus):
    from valuespectrum.feed.platform import FeedPlatform
    from valuespectrum.feed.server import FeedServer

    with FeedServer(FeedPlatform(corpus)) as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser_host():
    """One Chromium per test module; tests using it run on the module's event loop."""
    from valuespectrum.environments.playwright_env import BrowserHost

    host = await BrowserHost().start()
    yield host
    await host.close()

"""Fixtures for backend tests: a scripted OpenAI-compatible server on a real socket."""

from __future__ import annotations

import pytest
from openai_test_server import OpenAITestServer

from valuespectrum.types import Observation, VisibleText


@pytest.fixture
def openai_server():
    server = OpenAITestServer("Yes, I like it.").start()
    yield server
    server.stop()


@pytest.fixture
def make_obs():
    def make(caption: str, *tags: str, png: bytes | None = None) -> Observation:
        return Observation(screenshot_png=png or f"PNG:{caption}".encode(),
                           text=VisibleText(caption=caption, hashtags=tags))
    return make

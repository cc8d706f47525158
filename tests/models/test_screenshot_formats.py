"""Screenshot formats end to end: Chromium's own JPEG reaches the model and the run directory."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image
from vspec_helpers import sweep_spec

from valuespectrum.agents.actor import ActorOptions, ViewerHost
from valuespectrum.feed.server import FeedServer
from valuespectrum.sweep.spec import expand
from valuespectrum.trial import EndEvent, StepEvent

pytestmark = pytest.mark.browser


def platform(**options):
    return [{"style": "tiktok", "environment": "playwright", "options": options}]


async def run_one(trial, feed_url: str) -> list:
    host = ViewerHost(ActorOptions(feed_urls=(feed_url,)))
    try:
        return [event async for event in host.run_trial(trial)]
    finally:
        await host.shutdown()


async def test_jpeg_from_chromium_reaches_the_model_and_the_run_directory_unchanged(
        corpus_dir, tmp_path, openai_server):
    spec = sweep_spec(
        tmp_path / "jpeg.yaml", name="jpeg", personas=["pet_owner"], strategies=["simple"],
        models=[{"spec": "openai:test-model", "base_url": openai_server.url}],
        platforms=platform(screenshot="jpeg", jpeg_quality=70), trials=1, scrolls=3, window=1)
    (trial,) = expand(spec)
    with FeedServer.from_corpus_dir(corpus_dir) as server:
        events = await run_one(trial, server.url)
    assert isinstance(events[-1], EndEvent) and events[-1].status == "done", events[-1]
    stored = [e.jpeg for e in events if isinstance(e, StepEvent)]
    sent = [part["image_url"]["url"] for body in openai_server.requests
            for msg in body["messages"] if isinstance(msg["content"], list)
            for part in msg["content"] if part["type"] == "image_url"]
    assert len(stored) == len(sent) == 3
    for url, jpeg in zip(sent, stored, strict=True):
        prefix = "data:image/jpeg;base64,"
        assert url.startswith(prefix)
        assert base64.b64decode(url[len(prefix):]) == jpeg  # stored as sent: no re-encoding
        with Image.open(io.BytesIO(jpeg)) as im:
            assert (im.format, im.size) == ("JPEG", (390, 844))
            im.load()  # decodes completely


async def test_png_stays_the_default_and_is_sent_as_png(corpus_dir, tmp_path, openai_server):
    spec = sweep_spec(
        tmp_path / "png.yaml", name="png", personas=["pet_owner"], strategies=["simple"],
        models=[{"spec": "openai:test-model", "base_url": openai_server.url}],
        platforms=platform(), trials=1, scrolls=2, window=1)
    (trial,) = expand(spec)
    with FeedServer.from_corpus_dir(corpus_dir) as server:
        events = await run_one(trial, server.url)
    url = openai_server.requests[0]["messages"][1]["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    png = base64.b64decode(url.split(",", 1)[1])
    stored = next(e.jpeg for e in events if isinstance(e, StepEvent))
    assert png[:4] == b"\x89PNG" and stored[:3] == b"\xff\xd8\xff"  # re-encoded for storage


async def test_no_screenshot_for_a_text_reader(corpus_dir, tmp_path):
    spec = sweep_spec(
        tmp_path / "none.yaml", name="none", personas=["pet_owner"], strategies=["simple"],
        models=["embed:minilm"], platforms=platform(screenshot="none"), trials=1, scrolls=3,
        window=1, screenshots=False)
    (trial,) = expand(spec)
    with FeedServer.from_corpus_dir(corpus_dir) as server:
        events = await run_one(trial, server.url)
    steps = [e for e in events if isinstance(e, StepEvent)]
    assert events[-1].status == "done" and len(steps) == 3
    # the text viewer still read the caption: its decisions are valid answers
    assert all(e.jpeg is None and e.record.decision in (0, 1) for e in steps)

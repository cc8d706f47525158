"""Observation modes: one screenshot, k frames of an animated post, screenshot + text."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError
from vspec_helpers import ROOT

from valuespectrum.agents.viewer import ViewerAgent, step_record
from valuespectrum.environments.observation import ObservationMode, panzoom
from valuespectrum.environments.spec import EnvironmentSpec, build_environment
from valuespectrum.models.scripted import ScriptedBackend
from valuespectrum.personas import PersonaLibrary
from valuespectrum.strategies import make_strategy
from valuespectrum.types import ImagePart, Stay, TextPart

FRAMES = {"observation": "frames", "frames": 4, "frame_span_s": 3.0, "motion": "panzoom"}


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize("options, message", [
    ({"observation": "video"}, "unknown mode 'video'"),
    ({"observation": "frames", "frames": 1}, "frames mode takes 2-16 frames"),
    ({"frames": 3}, "3 frames need observation: frames"),
    ({"observation": "frames", "frame_span_s": 0}, "expected seconds > 0"),
    ({"motion": "spin"}, "unknown motion 'spin'"),
])
def test_bad_observation_options_are_rejected(options, message):
    with pytest.raises(ValidationError, match=message):
        EnvironmentSpec(kind="http", feed_url="http://x", options=options)


def test_frame_times_span_the_first_seconds_within_the_video():
    mode = ObservationMode.from_options({"observation": "frames", "frames": 4,
                                         "frame_span_s": 3.0})
    assert mode.times() == [0.0, 1.0, 2.0, 3.0]
    assert mode.times(duration_s=1.5) == [0.0, 0.5, 1.0, 1.5]
    assert ObservationMode().times() == [0.0]
    assert panzoom(0.0, "oc-x") == (1.0, 0.0, 0.0)  # at the start the post is still


async def _observe(kind, feed_server, options, session, host=None):
    spec = EnvironmentSpec(kind=kind, feed_url=feed_server.url, style="tiktok",
                           session_id=session, options=options)
    async with await build_environment(spec, host=host) as env:
        first = await env.reset(seed=3)
        again = await env.reset(seed=3)
        nxt = (await env.act(Stay(dwell_s=1.0))).observation
    return first, again, nxt


@pytest.mark.parametrize("kind", ["http", pytest.param("playwright", marks=pytest.mark.browser)])
async def test_frames_of_an_animated_post_are_deterministic_and_differ(kind, feed_server):
    first, again, nxt = await _observe(kind, feed_server, FRAMES, f"frames-{kind}")
    assert first.mode == "frames" and len(first.frames) == 4 and len(nxt.frames) == 4
    assert first.screenshot_png == first.frames[0]
    # the same post at the same virtual times gives the same pixels, reset after reset
    for a, b in zip(first.frames, again.frames, strict=True):
        assert np.abs(pixels(a) - pixels(b)).max() == 0
    # the post moves: every frame differs from the one before it
    for a, b in zip(first.frames, first.frames[1:], strict=False):
        assert np.abs(pixels(a) - pixels(b)).mean() > 0.5
    # the first frame is the paper's screenshot at video start
    still, _, _ = await _observe(kind, feed_server, {}, f"still-{kind}")
    assert still.mode == "screenshot" and still.frames == ()
    assert np.abs(pixels(still.screenshot_png) - pixels(first.frames[0])).max() == 0


async def test_without_motion_the_frames_of_a_still_post_are_the_same(feed_server):
    options = {"observation": "frames", "frames": 3}
    first, _, _ = await _observe("http", feed_server, options, "frames-still")
    assert len(set(first.frames)) == 1


@pytest.mark.parametrize("mode", ["screenshot", "frames", "screenshot_text"])
async def test_the_model_is_shown_the_mode_and_every_step_records_it(mode, feed_server, corpus):
    options = {"observation": mode, **({"frames": 3, "motion": "panzoom"}
                                        if mode == "frames" else {})}
    spec = EnvironmentSpec(kind="http", feed_url=feed_server.url, style="youtube",
                           session_id=f"mode-{mode}", options=options)
    backend = ScriptedBackend("Yes.")
    persona = PersonaLibrary(ROOT / "personas").get("pet_owner")
    async with await build_environment(spec) as env:
        agent = ViewerAgent(persona, backend, make_strategy("simple"), env)
        outcomes = [o async for o in agent.scroll(2, seed=0)]
    records = [step_record(o, trial_id="t", cell="c", persona="p", model="m",
                           platform="youtube", strategy="simple") for o in outcomes]
    user = [m for m in backend.requests[0][0] if m.role == "user"][0]
    images = [p for p in user.content if isinstance(p, ImagePart)]
    texts = " ".join(p.text for p in user.content if isinstance(p, TextPart))
    item = corpus.get(outcomes[0].observation.item_id)
    assert len(images) == (3 if mode == "frames" else 1)
    assert images[0].alt_text == outcomes[0].observation.text.as_text()
    assert all(i.alt_text == "" for i in images[1:])  # baselines read the text once
    assert ("Text on screen" in texts and item.caption in texts) == (mode == "screenshot_text")
    for r in records:
        assert r.observation_mode == mode and r.frames == (3 if mode == "frames" else 1)
        info = json.loads(r.environment_info)
        assert info["environment"] == "http" and info["date"]


def test_a_launched_vllm_must_take_every_frame(tmp_path):
    from vspec_helpers import sweep_spec

    from valuespectrum.config import ConfigError

    frames = {"style": "tiktok", "environment": "http",
              "options": {"observation": "frames", "frames": 4}}
    fields = dict(name="frames", personas=["pet_owner"], platforms=[frames], scrolls=4,
                  window=2)
    with pytest.raises(ConfigError, match=r"takes 1 image\(s\).*sends 4 frames.*max_images: 4"):
        sweep_spec(tmp_path / "a.yaml", models=["vllm:Qwen/Qwen2-VL-7B-Instruct"], **fields)
    ok = sweep_spec(tmp_path / "b.yaml", models=[{"spec": "vllm:Qwen/Qwen2-VL-7B-Instruct",
                                                  "vllm": {"max_images": 4}}], **fields)
    assert ok.platforms[0].options["frames"] == 4


def test_same_picture_tells_raster_noise_from_a_missing_image():
    """Two screenshots of one post a level or two apart on an edge are the same picture;
    the post without its image, or shifted, is not."""
    from valuespectrum.environments.observation import same_picture

    rng = np.random.default_rng(0)
    shot = rng.integers(0, 256, (120, 80, 3), dtype=np.uint8)

    def png(a: np.ndarray) -> bytes:
        out = io.BytesIO()
        Image.fromarray(a.astype(np.uint8)).save(out, "PNG")
        return out.getvalue()

    noisy = shot.astype(np.int16)
    noisy[40:56, 60:76] += rng.integers(-2, 3, (16, 16, 3))  # an icon's edge, re-rasterized
    blank = shot.copy()
    blank[10:90, 5:75] = 240  # the image area empty
    assert same_picture(png(shot), png(np.clip(noisy, 0, 255)))
    assert not same_picture(png(shot), png(blank))
    assert not same_picture(png(shot), png(np.roll(shot, 1, axis=0)))
    assert not same_picture(png(shot), png(shot[:100]))  # another size


@pytest.mark.parametrize("snap, needs_image, error", [
    ({"item_id": "a", "image_loaded": True}, True, None),
    ({"item_id": "a", "image_loaded": False}, False, None),  # a text reader needs no pixels
    ({"item_id": "a", "image_loaded": False}, True, "image of post a did not load"),
    ({"error": "TypeError: Failed to fetch"}, True, "lost the server"),
    ({"error": "unknown session 'x'"}, True, "feed page reports: unknown session"),
])
def test_a_feed_page_snapshot_is_checked_before_it_is_shown(snap, needs_image, error):
    from valuespectrum.environments.base import EnvError, EnvironmentCrashed, check_page

    if error is None:
        check_page(snap, needs_image)
        return
    crash = "feed page reports" not in error  # crashes restart the trial; errors end it
    with pytest.raises(EnvironmentCrashed if crash else EnvError, match=error) as got:
        check_page(snap, needs_image)
    assert isinstance(got.value, EnvironmentCrashed) == crash

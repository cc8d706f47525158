"""ocr:minilm reads the screenshot's pixels, never the page's text, and decides by the
embed:minilm rule; on real Chromium screenshots it reads what the page shows."""

from __future__ import annotations

import re

import pytest
from vspec_helpers import sweep_spec

from valuespectrum.config import ConfigError
from valuespectrum.environments.drawing import render_post
from valuespectrum.models import ModelSpec, build_backend
from valuespectrum.models.providers import PROVIDERS
from valuespectrum.personas import PersonaLibrary
from valuespectrum.strategies import make_strategy
from valuespectrum.types import Observation, VisibleText

DOG = {"item_id": "x", "creator": "@lazy_panda", "caption": "Golden retriever puppy",
       "hashtags": ["dog", "puppy"]}
TAX = {"item_id": "y", "creator": "@lazy_panda", "caption": "Quarterly tax form",
       "hashtags": ["office", "finance"]}


@pytest.fixture(scope="module")
def ocr():
    return build_backend("ocr:minilm")


@pytest.fixture(scope="module")
def pet_owner():
    return PersonaLibrary("personas").get("pet_owner")


def shown(post: dict, page_text: dict) -> Observation:
    """The pixels of `post` with the page text of `page_text`."""
    return Observation(screenshot_png=render_post(None, post),
                       text=VisibleText(caption=page_text["caption"],
                                        hashtags=tuple(page_text["hashtags"])))


async def test_it_decides_from_the_pixels_never_from_the_page_text(ocr, pet_owner):
    simple = make_strategy("simple")
    dog_pixels = await simple.decide(shown(DOG, TAX), pet_owner, ocr)
    tax_pixels = await simple.decide(shown(TAX, DOG), pet_owner, ocr)
    assert dog_pixels.yes is True and tax_pixels.yes is False
    # what it says it saw is what the pixels show, without the creator's @handle
    assert "Golden retriever puppy #dog #puppy" in dog_pixels.answers["interested"]
    assert "panda" not in dog_pixels.answers["interested"]
    blank = Observation(screenshot_png=render_post(None, {"item_id": "z"}),
                        text=VisibleText(caption="Golden retriever puppy"))
    assert (await simple.decide(blank, pet_owner, ocr)).yes is False  # nothing to read


def test_the_creators_line_is_left_out_even_when_ocr_splits_the_handle():
    """OCR reads "@bold_sketch" as "@bold_ sketch" now and then: dropping only the @word
    left "sketch", a post about drawing to an artist."""
    from valuespectrum.models.ocr import post_text

    assert post_text("@bold_ sketch\nStar 95pt46step\n\n#stars #shapes\n") == \
        "Star 95pt46step #stars #shapes"
    assert post_text("C) @lazy_chef\nCoffee") == "Coffee"  # an icon read before it
    assert post_text("@a\nralf@ark.in-berlin.de #penguin") == "ralf@ark.in-berlin.de #penguin"


async def test_caption_llm_decides_on_what_it_read(ocr, pet_owner):
    d = await make_strategy("caption_llm").decide(shown(DOG, TAX), pet_owner, ocr)
    assert d.yes is True and "Golden retriever" in " ".join(d.answers.values())


def test_it_is_a_pixel_reader_so_specs_refuse_it_without_screenshots(tmp_path):
    spec = ModelSpec.parse("ocr:minilm")
    assert spec.label == "ocr-minilm" and spec.is_baseline
    assert PROVIDERS["ocr"].reads_pixels(spec.target)
    with pytest.raises(ConfigError, match=r"ocr:bert.*expected 'ocr:minilm'"):
        ModelSpec.parse("ocr:bert")
    with pytest.raises(ConfigError, match=r"models.0: ocr:minilm looks at"):
        sweep_spec(tmp_path / "s.yaml", name="s", personas=["pet_owner"], models=["ocr:minilm"],
                   screenshots=False, platforms=[{"style": "tiktok", "environment": "http",
                                                  "options": {"screenshot": "none"}}])


@pytest.mark.browser
@pytest.mark.slow
async def test_on_real_chromium_screenshots_it_reads_the_post_and_agrees_with_the_text_viewer(
        feed_server, corpus, tmp_path):
    """A trial in the playwright environment with ocr:minilm: each step's reply names the
    text it read off the screenshot, which is the post's caption, and its decisions are the
    ones embed:minilm takes on the page's text of the same posts."""
    from valuespectrum.agents.actor import ActorOptions, ViewerHost
    from valuespectrum.sweep.spec import expand
    from valuespectrum.trial import EndEvent, StepEvent

    spec = sweep_spec(tmp_path / "ocr.yaml", name="ocr", personas=["pet_owner"],
                      models=["ocr:minilm"], strategies=["simple"], trials=1, scrolls=12,
                      window=1, platforms=[{"style": "tiktok", "environment": "playwright"}])
    (trial,) = expand(spec)
    host = ViewerHost(ActorOptions(feed_urls=(feed_server.url,)))
    try:
        events = [e async for e in host.run_trial(trial)]
    finally:
        await host.shutdown()
    assert isinstance(events[-1], EndEvent) and events[-1].status == "done", events[-1]
    steps = [e.record for e in events if isinstance(e, StepEvent)]
    assert len(steps) == 12
    text_viewer, simple = build_backend("embed:minilm"), make_strategy("simple")
    owner = trial.persona
    read, agree = 0, 0
    for rec in steps:
        item = corpus.get(rec.item_id)
        reply = rec.answers  # JSON of the raw answers: "Yes, this post (<what it read>) ..."
        words = re.findall(r"[a-z]{3,}", item.caption.lower())
        read += all(w in reply.lower() for w in words[:2])
        obs = Observation(screenshot_png=b"", image_format="none",
                          text=VisibleText(caption=item.caption, hashtags=item.hashtags))
        agree += (await simple.decide(obs, owner, text_viewer)).yes == bool(rec.decision)
    assert read >= 10, [r.answers for r in steps]
    assert agree >= 11

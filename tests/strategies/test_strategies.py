"""The paper's strategies: prompts sent, turns taken, answers recorded, verdicts read."""

from __future__ import annotations

import pytest

from valuespectrum.models import ScriptedBackend
from valuespectrum.personas import PersonaLibrary
from valuespectrum.strategies import load_prompts, make_strategy
from valuespectrum.types import ImagePart, Observation, VisibleText

VERSION = load_prompts()["version"]


@pytest.fixture
def owner():
    return PersonaLibrary("personas").get("pet_owner")


@pytest.fixture
def obs():
    return Observation(screenshot_png=b"\x89PNG-dog", item_id="oc-1",
                       text=VisibleText(caption="Puppy in the snow", hashtags=("dog", "winter")))


def user_images(request):
    return [p for m in request[0] if m.role == "user" for p in m.images()]


async def test_simple_sends_the_paper_prompt(owner, obs):
    backend = ScriptedBackend(["Yes, I love puppies."])
    d = await make_strategy("simple").decide(obs, owner, backend)
    messages, _ = backend.requests[0]
    assert messages[0].role == "system"
    assert messages[0].text_content() == (
        "You are a person who possesses certain traits, and the following statements best "
        "describe you: I have two dogs and a cat. I volunteer at the local animal shelter on "
        "weekends. I love watching videos of puppies and kittens. Taking care of others makes "
        "me happy.")
    assert "Determine whether you are interested in the content of the given picture" in \
        messages[1].text_content()
    image = user_images(backend.requests[0])[0]
    assert image == ImagePart(png=b"\x89PNG-dog", alt_text="Puppy in the snow #dog #winter")
    assert (d.yes, d.error, d.prompt_version, d.cached) == (True, None, VERSION, False)
    assert d.usage.output_tokens == 4


async def test_plain_asks_three_questions_without_persona(obs):
    backend = ScriptedBackend(["No.", "Nothing really.", "A puppy in the snow."])
    d = await make_strategy("plain").decide(obs, None, backend)
    assert backend.calls == 3
    system = backend.requests[0][0][0].text_content()
    assert system == "You are scrolling on video shorts and see this screenshot."
    asked = [r[0][-1].text_content() for r in backend.requests]
    assert asked[0].startswith("Is this content interesting?")
    assert asked[1] == "What is the thing that makes this picture interesting?"
    assert asked[2] == "Describe this image in English briefly."
    assert d.yes is False
    assert d.answers == {"interesting": "No.", "reason": "Nothing really.",
                         "description": "A puppy in the snow."}
    # the conversation carries the earlier turns and the image only once
    assert len(backend.requests[2][0]) == 6 and len(user_images(backend.requests[2])) == 1


async def test_unreadable_answer_is_invalid_never_no(obs, owner):
    backend = ScriptedBackend(["The picture shows snow.", "Snow is cold.", "why", "desc"])
    d = await make_strategy("plain").decide(obs, owner, backend)
    assert d.yes is None and d.error == "invalid"
    assert d.answers["interesting"] == "The picture shows snow."
    assert d.answers["interesting_retry"] == "Snow is cold."
    assert "Yes or No" in backend.requests[1][0][-1].text_content()
    assert d.answers["reason"] == "why"  # follow-ups are still recorded


async def test_isq_one_question_per_turn(obs, owner):
    backend = ScriptedBackend(["7", "7/10", "**7**", "Seven.", "Yes.", "No, not right now."])
    d = await make_strategy("isq", mode="turns").decide(obs, owner, backend)
    assert backend.calls == 6
    assert "how visually appealing is this screenshot to you based on your persona" in \
        backend.requests[0][0][-1].text_content()
    assert "click and start watching the video immediately" in \
        backend.requests[5][0][-1].text_content()
    assert len(user_images(backend.requests[5])) == 1
    assert (d.isq.visual_appeal, d.isq.value_expectation) == (7, 7)
    assert d.isq.preference_alignment and not d.isq.action_desire
    assert d.score == pytest.approx(38 / 60 * 100) and d.yes is True


async def test_isq_json_reply_when_supported(obs, owner):
    reply = ('{"visual_appeal": 5, "curiosity": "4", "emotional_engagement": 5, '
             '"value_expectation": 4, "preference_alignment": "no", "action_desire": true}')
    backend = ScriptedBackend([reply], supports_json_schema=True)
    d = await make_strategy("isq").decide(obs, owner, backend)
    assert backend.calls == 1
    assert backend.requests[0][1].json_schema["required"][-1] == "action_desire"
    assert d.score == pytest.approx(28 / 60 * 100) and d.yes is False
    assert d.isq.curiosity == 4 and d.isq.action_desire is True


async def test_isq_reads_replies_that_echo_the_scale(obs, owner):
    backend = ScriptedBackend([
        "On a scale of 1 to 10, I would rate this an 8.", "On a scale from 1-10: 7",
        "I'd give it a 9 because 3 things stand out.", "7.5/10", "6", "Interesting? Yes.",
        "(1) No. (2) I'd scroll on.",
    ])
    d = await make_strategy("isq", mode="turns").decide(obs, owner, backend)
    assert backend.calls == 7  # "7.5/10" is re-asked once with the scale reminder
    assert "exactly one integer" in backend.requests[4][0][-1].text_content()
    assert (d.isq.visual_appeal, d.isq.curiosity, d.isq.emotional_engagement,
            d.isq.value_expectation) == (8, 7, 9, 6)
    assert d.isq.preference_alignment is True and d.isq.action_desire is False
    assert d.score == pytest.approx(40 / 60 * 100) and d.yes is True


async def test_isq_json_whole_number_floats_are_valid(obs, owner):
    reply = ('{"visual_appeal": 8.0, "curiosity": "8", "emotional_engagement": 6.0, '
             '"value_expectation": 7, "preference_alignment": "yes", "action_desire": "no"}')
    backend = ScriptedBackend([reply], supports_json_schema=True)
    d = await make_strategy("isq").decide(obs, owner, backend)
    assert backend.calls == 1 and d.error is None
    assert (d.isq.visual_appeal, d.isq.curiosity, d.isq.emotional_engagement) == (8, 8, 6)
    assert d.score == pytest.approx(39 / 60 * 100) and d.yes is True


async def test_isq_bad_json_reasked_then_invalid(obs, owner):
    backend = ScriptedBackend(['{"visual_appeal": 12}', "sorry"], supports_json_schema=True)
    d = await make_strategy("isq", mode="json").decide(obs, owner, backend)
    assert backend.calls == 2 and d.yes is None and d.error == "invalid" and d.isq is None
    assert d.answers == {"json": '{"visual_appeal": 12}', "json_retry": "sorry"}


async def test_caption_llm_decides_from_text_only(obs, owner):
    vlm = ScriptedBackend(["A fluffy puppy playing in fresh snow."])
    llm = ScriptedBackend(["Yes - I adore puppies."])
    d = await make_strategy("caption_llm", text_backend=llm).decide(obs, owner, vlm)
    assert len(user_images(vlm.requests[0])) == 1
    assert user_images(llm.requests[0]) == [], "the text-only model must not see the image"
    assert "A fluffy puppy playing in fresh snow." in llm.requests[0][0][-1].text_content()
    assert d.yes is True and d.answers["description"].startswith("A fluffy puppy")


def test_make_strategy_errors():
    with pytest.raises(ValueError, match="unknown strategy 'isq2'.*plain, simple, isq, caption_llm"):
        make_strategy("isq2")
    with pytest.raises(ValueError, match="strategy 'simple'"):
        make_strategy("simple", mode="json")
    with pytest.raises(ValueError, match="^strategy isq: mode: Input should be 'json' or 'turns'$"):
        make_strategy("isq", mode="batch")


async def test_isq_format_is_a_setting_not_the_backends_choice(obs, owner):
    """The same JSON protocol for a backend with and without JSON-schema support."""
    reply = ('{"visual_appeal": 5, "curiosity": 4, "emotional_engagement": 5, '
             '"value_expectation": 4, "preference_alignment": "no", "action_desire": "yes"}')
    with_schema = ScriptedBackend([reply], supports_json_schema=True)
    without = ScriptedBackend([reply], supports_json_schema=False)
    a = await make_strategy("isq").decide(obs, owner, with_schema)
    b = await make_strategy("isq").decide(obs, owner, without)
    assert with_schema.calls == without.calls == 1
    assert [m.text_content() for m in with_schema.requests[0][0]] == \
        [m.text_content() for m in without.requests[0][0]]
    assert (a.yes, a.score, a.isq) == (b.yes, b.score, b.isq)


async def test_questions_travel_as_data(obs, owner):
    backend = ScriptedBackend(["Yes."])
    await make_strategy("simple").decide(obs, owner, backend)
    q = backend.requests[0][1].question
    assert q.kind == "yes_no" and q.persona == owner.profile_text()

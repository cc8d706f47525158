"""Table-driven tests of the answer parsers and the ISQ score on real-looking replies."""

from __future__ import annotations

import pytest

from valuespectrum.strategies import isq_score, parse_scale, parse_yes_no
from valuespectrum.strategies.isq import components_from_json
from valuespectrum.strategies.parsing import rating_value

YES_NO_ANSWERS = [
    ("Yes.", "yes"),
    ("No.", "no"),
    ("**No**", "no"),
    ("**Yes** - this is exactly my kind of content.", "yes"),
    ("yes, because I love dogs and this puppy is adorable", "yes"),
    ("No, I'm not really into cars.", "no"),
    ("YES", "yes"),
    ("no", "no"),
    ("Yes! As a pet owner, I would definitely watch this.", "yes"),
    ("Answer: Yes", "yes"),
    ("Final answer: no", "no"),
    ("(1) Yes. (2) The golden retriever puppy. (3) A dog on a lawn.", "yes"),
    ("```json\n{\"answer\": \"no\"}\n```", "no"),
    ("```\n{\"interested\": true}\n```", "yes"),
    ('{"decision": "yes", "reason": "cute cat"}', "yes"),
    ('{"is_interesting": false}', "no"),
    ('Sure! {"answer": "Yes"}', "yes"),
    ("One", "yes"),
    ("zero", "no"),
    ("1", "yes"),
    ("0", "no"),
    ("Definitely not.", "no"),
    ("Absolutely, this is right up my alley.", "yes"),
    ("Not really. Stock charts bore me.", "no"),
    ("Nope, not for me.", "no"),
    ("I am not interested in this content.", "no"),
    ("I don't find this interesting.", "no"),
    ("I don’t find this interesting.", "no"),
    ("I wouldn't want to watch this.", "no"),
    ("This content doesn't appeal to me at all.", "no"),
    ("I'm interested in this, it shows a rescue dog.", "yes"),
    ("This is interesting because it shows a kitten playing.", "yes"),
    ("I would love to watch this!", "yes"),
    ("As a volunteer at an animal shelter, yes, this speaks to me.", "yes"),
    ("There is no animal in this picture, so no.", "no"),
    ("> Yes", "yes"),
    ("'No'", "no"),
    ("Yes — the colors and the puppy make it engaging.", "yes"),
    # unreadable: must be None (re-asked, then invalid), never a silent "no"
    ("Hmm, hard to say.", None),
    ("The image shows a bar chart of quarterly revenue.", None),
    ("", None),
    ("   ", None),
    ('{"reason": "cute"}', None),
    ("Maybe.", None),
    ("Not sure, it depends on the video.", None),
    ("Boring.", "no"),
    ("Interesting!", "yes"),
    # review defects: list markers, echoed questions, both answers, no-words anywhere
    ("(1) No. (2) colors", "no"),
    ("Interesting? No.", "no"),
    ("Yes and no.", None),
    ("I find it boring", "no"),
    # list markers in both directions ("1" is a marker there, not a yes)
    ("1. No\n2. The colors are dull.\n3. A spreadsheet tutorial.", "no"),
    ("1) Yes\n2) The puppy's face\n3) A puppy in the snow", "yes"),
    ("(1) Yes (2) The neon lights (3) A city street at night", "yes"),
    ("(1) No - I don't care about golf. (2) The green. (3) A golfer putting.", "no"),
    # the reply echoes the question, then answers
    ("Is this content interesting? Yes, I love hiking.", "yes"),
    ("Would I watch it? Probably not.", "no"),
    ("Am I interested? Not really, it's a tax form.", "no"),
    ("Interesting?", None),  # a question back is no answer
    ("Yes! Who doesn't love puppies?", "yes"),
    ("Yes or no? No.", "no"),
    # both asserted -> None; "no" inside a phrase is not an answer
    ("Yes. No. Maybe.", None),
    ("Both yes and no - the dog is cute but I hate ads.", None),
    ("Yes, no doubt about it.", "yes"),
    ("Yes - there is no better feeling than a sunset.", "yes"),
    ("No. I'd say yes to dog videos, but not this one.", "no"),
    # negative and positive words anywhere, with negation
    ("I find this video boring and repetitive.", "no"),
    ("It's a bit dull for my taste.", "no"),
    ("Nah, looks tedious.", "no"),
    ("Honestly, this is not for me.", "no"),
    ("Interesting, but not for me.", "no"),
    ("Not boring at all, I'd watch it.", "yes"),
    ("Yes! Not boring at all.", "yes"),
    ("There's nothing boring here, I'm interested.", "yes"),
    ("Of course! Cooking videos are my favorite.", "yes"),
    ("Probably not.", "no"),
    # markdown, fences, JSON
    ("**Answer:** No — I don't follow celebrity news.", "no"),
    ("## Verdict\n\n**Yes**", "yes"),
    ("- **Yes**, the sunset is gorgeous.", "yes"),
    ("```\nNo\n```", "no"),
    ('```json\n{"interested": "no", "reason": "not my thing"}\n```', "no"),
    ('{"answer": 1}', "yes"),
    ('{"answer": "yes and no"}', None),
    ("Reply with Yes or No: No", "no"),
]


@pytest.mark.parametrize(("text", "expected"), YES_NO_ANSWERS)
def test_parse_yes_no(text, expected):
    assert parse_yes_no(text) == expected


def test_parse_yes_no_table_is_large_enough():
    assert len(YES_NO_ANSWERS) >= 80


SCALE_ANSWERS = [
    ("7", 7), ("7/10", 7), ("**8**", 8), ("Seven.", 7), ("Rating: 6 out of 10", 6),
    ("I would rate it a 3.", 3), ("10", 10), ("1 - not appealing at all", 1),
    ("11", None), ("0", None), ("8.5", None), ("very appealing", None), ("", None),
    # the ISQ prompts say "On a scale of 1 to 10": the scale's ends are not the rating
    ("On a scale of 1 to 10, I would rate this an 8.", 8),
    ("On a scale from 1-10: 7", 7),
    ("On a scale of 1 to 10 (1 = not at all, 10 = extremely), I'd say 4.", 4),
    ("On a scale of 1 to 10, 1 being the lowest, this is a 2.", 2),
    ("Out of 10, I'd give it 6.", 6),
    ("On a scale of 1 to 10.", None),
    # "N/10" and "N out of 10" win over other numbers
    ("6 out of 10 - the 3 cats are cute", 6),
    ("**Rating:** 9/10", 9),
    ("10/10 would watch", 10),
    ("1/10", 1),
    # a rating cue wins; else the opening number; else the only in-range number
    ("I'd give it a 7 because 3 things stand out.", 7),
    ("Visual appeal: 7. The 2 puppies are cute.", 7),
    ("I'd rate this one a seven.", 7),
    ("My rating would be 5.", 5),
    ("7. The image is bright and 2 dogs play.", 7),
    ("The video is 30 seconds long; 6.", 6),
    ("It's a 2 for me.", 2),
    ("```\n5\n```", 5),
    # ambiguous -> None (re-asked), never a guess
    ("Considering the 3 dogs and bright colors, 8.", None),
    ("7-8", None),
    ("I'd say around 5 or 6.", None),
    ("I'd rate it 7/10, maybe 8/10", None),
    # decimals: whole-number ones are integers, others are rejected
    ("8.0", 8), ("8.0/10", 8), ("7.5/10", None), ("I'd say 7.5.", None), ("7,5", None),
    ("100", None), ("70%", None),
]


@pytest.mark.parametrize(("text", "expected"), SCALE_ANSWERS)
def test_parse_scale(text, expected):
    assert parse_scale(text) == expected


def test_parse_scale_uses_the_given_range():
    assert parse_scale("On a scale of 0 to 5, I'd give it a 4.", low=0, high=5) == 4
    assert parse_scale("0", low=0, high=5) == 0
    assert parse_scale("4/5", low=0, high=5) == 4
    assert parse_scale("7", low=0, high=5) is None


@pytest.mark.parametrize(("value", "expected"), [
    (8, 8), (8.0, 8), ("8", 8), ("8.0", 8), ("8/10", 8), ("eight", 8), (1, 1), (10, 10),
    (7.5, None), ("7.5", None), (True, None), (False, None), (0, None), (11, None),
    (10.0000001, None), (float("nan"), None), (None, None), ([8], None), ("high", None),
])
def test_rating_value(value, expected):
    assert rating_value(value) == expected


ISQ_JSON = ('{{"visual_appeal": {va}, "curiosity": 7, "emotional_engagement": 6, '
            '"value_expectation": 5, "preference_alignment": {pa}, "action_desire": "no"}}')


@pytest.mark.parametrize(("va", "expected"), [
    ("8.0", 8), ("8", 8), ('"8"', 8), ('"8.0"', 8), ('"8/10"', 8),
    ("7.5", None), ("true", None), ("11", None), ("null", None), ('"high"', None),
])
def test_components_from_json_ratings(va, expected):
    components = components_from_json(ISQ_JSON.format(va=va, pa='"yes"'))
    if expected is None:
        assert components is None
    else:
        assert components.visual_appeal == expected
        assert (components.curiosity, components.value_expectation) == (7, 5)
        assert components.preference_alignment is True and components.action_desire is False


@pytest.mark.parametrize(("pa", "expected"), [
    ('"Yes"', True), ("1", True), ("1.0", True), ("false", False), ('"Nope"', False),
    ('"yes and no"', None), ('"maybe"', None),
])
def test_components_from_json_yes_no(pa, expected):
    components = components_from_json(ISQ_JSON.format(va=8, pa=pa))
    if expected is None:
        assert components is None
    else:
        assert components.preference_alignment is expected


@pytest.mark.parametrize(("args", "score", "yes"), [
    ((10, 10, 10, 10, True, True), 100.0, True),
    ((1, 1, 1, 1, False, False), 4 / 60 * 100, False),
    ((7, 7, 7, 7, True, True), 80.0, True),
    ((10, 10, 10, 10, False, False), 40 / 60 * 100, True),   # 66.7 > 60: ratings alone can win
    ((7, 7, 6, 6, True, False), 60.0, False),                # exactly 60 is not > 60
    ((7, 7, 7, 6, True, False), 37 / 60 * 100, True),
    ((8, 6, 5, 7, 1, 0), 36 / 60 * 100, False),
    ((2, 3, 2, 3, 0, 1), 20 / 60 * 100, False),
    ((9, 9, 8, 9, 1, 1), 55 / 60 * 100, True),
])
def test_isq_score_and_threshold(args, score, yes):
    s = isq_score(*args)
    assert s == pytest.approx(score)
    assert (s > 60) is yes


@pytest.mark.parametrize("bad", [(0, 5, 5, 5, 1, 1), (5, 11, 5, 5, 1, 1), (5, 5, 5, 5, 2, 1),
                                 (5.5, 5, 5, 5, 1, 1), (True, 5, 5, 5, 1, 1)])
def test_isq_score_rejects_out_of_range(bad):
    with pytest.raises(ValueError, match="isq_score"):
        isq_score(*bad)

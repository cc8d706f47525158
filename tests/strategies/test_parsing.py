"""Table-driven tests of the answer parsers and the ISQ score on real-looking replies."""

from __future__ import annotations

import pytest

from valuespectrum.strategies import isq_score, parse_scale, parse_yes_no

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
]


@pytest.mark.parametrize(("text", "expected"), YES_NO_ANSWERS)
def test_parse_yes_no(text, expected):
    assert parse_yes_no(text) == expected


def test_parse_yes_no_table_is_large_enough():
    assert len(YES_NO_ANSWERS) >= 30


@pytest.mark.parametrize(("text", "expected"), [
    ("7", 7), ("7/10", 7), ("**8**", 8), ("Seven.", 7), ("Rating: 6 out of 10", 6),
    ("I would rate it a 3.", 3), ("10", 10), ("1 - not appealing at all", 1),
    ("11", None), ("0", None), ("8.5", None), ("very appealing", None), ("", None),
])
def test_parse_scale(text, expected):
    assert parse_scale(text) == expected


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

"""Model replies, fuzzed through every strategy: random text, huge replies, JSON with wrong
types. Each decision is either read (yes/no, backed by the answer) or recorded as invalid
(`yes=None`, `error="invalid"`): never a crash, and never a silent "no"."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from valuespectrum.models import ScriptedBackend
from valuespectrum.personas import PersonaLibrary
from valuespectrum.strategies import make_strategy, parse_yes_no
from valuespectrum.strategies.isq import SCALES, YES_NO
from valuespectrum.types import Observation, VisibleText

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
STRATEGIES = {
    "plain": {}, "simple": {}, "isq-json": {"mode": "json"}, "isq-turns": {"mode": "turns"},
    "caption_llm": {},
}
OWNER = PersonaLibrary("personas").get("pet_owner")
OBS = Observation(screenshot_png=b"\x89PNG-dog", item_id="oc-1",
                  text=VisibleText(caption="Puppy in the snow", hashtags=("dog",)))

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-20, 20), st.floats(), st.text(max_size=12),
              st.sampled_from(["yes", "no", "7", "7/10", "11", "Yes!", "nope", "8.0", "7.5"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6)
isq_objects = st.fixed_dictionaries({}, optional={k: json_values for k in (*SCALES, *YES_NO)})


def _fenced(text: str) -> str:
    return f"```json\n{text}\n```"


replies = st.one_of(
    st.text(max_size=200),
    st.sampled_from(["Yes.", "No.", "**No**", "Yes and no.", "", " ", "1", "0", "Not sure.",
                     "Interesting? No.", "I'd rate it a 7.", "7-8", "N/A", "{", "}{", "null"]),
    json_values.map(json.dumps),
    isq_objects.map(json.dumps),
    isq_objects.map(lambda o: _fenced(json.dumps(o))),
    st.tuples(st.sampled_from(["Yes. ", "No. ", "7 ", "{\"answer\": \"no\"} ", "(1) "]),
              st.integers(10_000, 60_000)).map(lambda t: t[0] + ("blah " * (t[1] // 5))),
    st.integers(20_000, 100_000).map(lambda n: "{" * n + "}" * n),
    st.integers(5_000, 50_000).map(lambda n: "1 to 10, " * n),
)


def verdict_is_backed(name: str, d) -> None:
    """A yes/no decision is what the recorded answer says; anything else is invalid."""
    assert d.yes in (True, False, None)
    if d.yes is None:
        assert d.error == "invalid"
        return
    assert d.error is None
    if name.startswith("isq"):
        assert d.isq is not None and d.score is not None
        assert (d.score > 60) == d.yes
        return
    key = "interesting" if name == "plain" else "interested"
    last = d.answers.get(f"{key}_retry", d.answers[key])
    assert parse_yes_no(last) == ("yes" if d.yes else "no"), (last[:200], d.yes)


@pytest.mark.parametrize("name", list(STRATEGIES))
@FUZZ
@given(script=st.lists(replies, min_size=1, max_size=8))
def test_any_reply_is_read_or_invalid_never_a_crash_or_a_silent_no(name, script):
    strategy = make_strategy(name.split("-")[0], **STRATEGIES[name])
    backend = ScriptedBackend(script)
    t0 = time.perf_counter()
    d = asyncio.run(strategy.decide(OBS, OWNER, backend))
    assert time.perf_counter() - t0 < 5, f"reading replies took {time.perf_counter() - t0:.1f}s"
    verdict_is_backed(name, d)


@pytest.mark.parametrize("reply", ["", "   ", "{}", "null", "[]", '{"answer": 3}',
                                   '{"visual_appeal": "high"}', "Maybe."])
@pytest.mark.parametrize("name", list(STRATEGIES))
def test_unreadable_replies_are_recorded_as_invalid(name, reply):
    strategy = make_strategy(name.split("-")[0], **STRATEGIES[name])
    d = asyncio.run(strategy.decide(OBS, OWNER, ScriptedBackend([reply])))
    assert d.yes is None and d.error == "invalid"

"""Reading model answers: yes/no, 1-10 scales, JSON objects, and the ISQ score."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

YesNo = Literal["yes", "no"]

_YES = {"yes", "y", "yeah", "yep", "yup", "sure", "absolutely", "definitely", "certainly",
        "true", "1", "one", "interested", "interesting", "affirmative", "correct", "of course"}
_NO = {"no", "n", "nope", "nah", "not", "false", "0", "zero", "never", "negative",
       "uninterested", "boring", "none"}
_ANSWER_KEYS = ("answer", "decision", "interested", "interesting", "is_interesting",
                "is_interested", "result", "response", "verdict", "choice", "yes_no")
_WORD_NUMBERS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten".split())}
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_LEAD = re.compile(
    r"^(?:(?:final\s+)?answer|response|decision|verdict|result|reply|a|\(?1\)?[.:)]?)\s*[:\-=]\s*",
    re.I)
_NEGATED_INTEREST = re.compile(
    r"(\b(not|never|no|hardly|little|lack(?:s|ing)?)\b|n't\b)(?:\s+\w+){0,3}?\s+"
    r"(interest\w*|appeal\w*|engag\w*|watch\w*|like|enjoy\w*|want|care)\b", re.I)
_POSITIVE_INTEREST = re.compile(
    r"\b(i(?:'m| am)|i would|i'd|this is|it is|it's|is|i)\b(?:\s+\w+){0,2}?\s+"
    r"(interest(?:ed|ing)|(?:love|like|want|enjoy)\w*\s+(?:to\s+)?(?:watch|see|this))", re.I)


def _strip_markup(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'")
    text = re.sub(r"[*_`#>\"“”]|(?<!\w)'|'(?!\w)", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def parse_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in `text` (bare, in a code fence, or amid prose), else None."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for cand in candidates:
        cand = cand.strip()
        start = cand.find("{")
        while start != -1:
            depth = 0
            for i in range(start, len(cand)):
                if cand[i] == "{":
                    depth += 1
                elif cand[i] == "}":
                    depth -= 1
                    if depth == 0:
                        try:
                            obj = json.loads(cand[start:i + 1])
                        except json.JSONDecodeError:
                            break
                        if isinstance(obj, dict):
                            return obj
                        break
            start = cand.find("{", start + 1)
    return None


def _yes_no_value(value: Any) -> YesNo | None:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return "yes" if value == 1 else "no" if value == 0 else None
    if isinstance(value, str):
        return parse_yes_no(value)
    return None


def parse_yes_no(text: str | None) -> YesNo | None:
    """Read a yes/no answer; None when the answer does not say (never a silent "no").

    Handles "Yes.", "**No**", "yes, because...", "Answer: no", JSON (also in code fences),
    "1"/"0" and "one"/"zero", and sentences such as "I am not interested in this."
    """
    if text is None:
        return None
    raw = text.strip()
    if not raw:
        return None
    if "{" in raw:
        obj = parse_json_object(raw)
        if obj is not None:
            lowered = {str(k).lower(): v for k, v in obj.items()}
            for key in (*_ANSWER_KEYS, *lowered):
                if key in lowered:
                    verdict = _yes_no_value(lowered[key])
                    if verdict is not None:
                        return verdict
            return None
    fenced = _FENCE.search(raw)
    if fenced:
        raw = fenced.group(1)
    clean = _strip_markup(raw)
    clean = _LEAD.sub("", clean)
    words = re.findall(r"[a-z0-9']+", clean.lower())
    if not words:
        return None
    first = words[0]
    if first == "not" and len(words) > 1 and words[1] in ("sure", "certain"):  # hedging
        return None
    if len(words) > 1 and words[1] == "not" and first in _YES:  # "Definitely not."
        return "no"
    if first in _NO:
        return "no"
    if first in _YES:
        return "yes"
    if _NEGATED_INTEREST.search(clean):
        return "no"
    if _POSITIVE_INTEREST.search(clean):
        return "yes"
    tokens = set(words)
    said_yes = "yes" in tokens
    said_no = bool(re.search(r"\bno\b\s*(?:[.,!;:]|$)", clean.lower()))
    if said_yes != said_no:
        return "yes" if said_yes else "no"
    return None


def parse_scale(text: str | None, low: int = 1, high: int = 10) -> int | None:
    """An integer rating in [low, high] from "7", "7/10", "**8**", "Seven.", "Rating: 6"."""
    if text is None:
        return None
    clean = _strip_markup(text).lower()
    m = re.search(r"(?<![\d.])(\d{1,2})(?:\s*(?:/|out of)\s*10)?(?!\d|\.\d)", clean)
    value: int | None = int(m.group(1)) if m else None
    if value is None:
        w = re.search(r"\b(" + "|".join(_WORD_NUMBERS) + r")\b", clean)
        value = _WORD_NUMBERS[w.group(1)] if w else None
    if value is None or not low <= value <= high:
        return None
    return value


def isq_score(va: int, cs: int, ee: int, ve: int, pa: bool | int, ad: bool | int) -> float:
    """The paper's ISQ score S% = (va + cs + ee + ve + 10*pa + 10*ad) / 60 * 100.

    Args:
        va, cs, ee, ve: Visual appeal, curiosity stimulation, emotional engagement and value
            expectation, each an integer 1-10.
        pa, ad: Preference alignment and action desire (yes = 1 / True, no = 0 / False).

    Returns:
        The score in [6.67, 100]; the decision is "yes" iff it is > 60.

    Raises:
        ValueError: a rating outside 1-10 or a yes/no outside {0, 1}.
    """
    for label, v in (("va", va), ("cs", cs), ("ee", ee), ("ve", ve)):
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 10:
            raise ValueError(f"isq_score: {label} must be an integer from 1 to 10, got {v!r}")
    for label, v in (("pa", pa), ("ad", ad)):
        if v not in (0, 1):  # True/False compare equal to 1/0
            raise ValueError(f"isq_score: {label} must be yes (1) or no (0), got {v!r}")
    return (va + cs + ee + ve + 10 * int(pa) + 10 * int(ad)) / 60 * 100

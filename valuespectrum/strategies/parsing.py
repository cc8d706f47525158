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
# First words that answer outright, so text before a "?" starting with one is not an echo.
_STRONG = {"yes", "y", "yeah", "yep", "yup", "sure", "absolutely", "definitely", "certainly",
           "affirmative", "correct", "true", "of course", "no", "n", "nope", "nah", "never",
           "negative", "false", "not"}
_WEAK_YES = {"interesting", "interested"}  # a first word that later text can overrule
_HEDGES = {"probably", "likely", "honestly", "really", "maybe"}
_NO_SENTIMENT = {"boring", "dull", "tedious", "uninteresting", "uninterested", "unappealing"}
_NEGATIVE_SENTIMENT = re.compile(
    r"\b(?:boring|dull|tedious|uninterest\w*|unappealing|not for me|not my (?:thing|type|style)"
    r"|not my cup of tea)\b")
_ADVERB_NOT = re.compile(  # "Definitely not.", not "Yes! Not boring."
    r"\W*(\w+)\s+not\b(?!\s+(?:" + "|".join(_NO_SENTIMENT) + r")\b)")
_NEGATED_BEFORE = re.compile(r"(?:\b(?:not|never|nothing|hardly|no)|n't)\s+(?:\w+\s+)?$")
_LINE_MARKER = re.compile(r"(?m)^[ \t]*(?:\(\d{1,2}\)|\d{1,2}[.)])[ \t]+(?=\S)")
_PAREN_MARKER = re.compile(r"\(\d{1,2}\)\s*(?=\S)")
_PAREN_LEAD = re.compile(r"^\s*\(\d{1,2}\)\s+(?=\S)")
_ECHOED_CHOICE = re.compile(r"\b(?:yes\s*(?:/|\bor\b)\s*no|no\s*(?:/|\bor\b)\s*yes)\b", re.I)
_NUM = r"(?<![\d.,])(\d{1,3}(?:\.\d+)?)(?![\d]|[.,]\d)"
_CUE = re.compile(
    r"\b(?:rat(?:e|ed|ing)|scor(?:e|ed|ing)|giv(?:e|en|ing)|gave|say|answer|assign\w*|put)\b"
    r"(?:\s+(?:it|this|that|my|me|would|will|is|as|at|of|be|a|an|about|around|roughly|solid"
    r"|strong|high|low|maybe|probably|definitely|likely|just|only|this\s+[a-z]+"
    r"|that\s+[a-z]+|the\s+[a-z]+))*\s*[:=-]?\s*" + _NUM)
_LABEL = re.compile(r"^[^\w]*[a-z][a-z \-]{0,40}[:=]\s*" + _NUM)
_SPELLED = re.compile(
    r"\b(?<!this )(?<!that )(?<!the )(?<!which )(?<!no )(?<!any )(?<!each )(?<!every )("
    + "|".join(_WORD_NUMBERS) + r")\b")

# "yes" / "no" used as an answer: followed by punctuation, the end, or and/or/but
# ("Yes and no."), not inside a phrase ("no doubt", "no animal").
_ANSWER_YES, _ANSWER_NO = (
    re.compile(rf"\b{w}\b(?=\s*(?:[.,!;:)\]—–-]|$)|\s+(?:and|or|but)\b)") for w in ("yes", "no"))


def _strip_markup(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'")
    text = re.sub(r"[*_`#>\"“”]|(?<!\w)'|'(?!\w)", " ", text)
    return re.sub(r"\s+", " ", text).strip()


#: JSON object starts tried per reply: a reply of thousands of braces is junk, and trying
#: each start would make reading it quadratic.
MAX_JSON_STARTS = 200


def parse_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in `text` (bare, in a code fence, or amid prose), else None."""
    decoder = json.JSONDecoder()
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for cand in candidates:
        cand = cand.strip()
        start = cand.find("{")
        tries = 0
        while start != -1 and tries < MAX_JSON_STARTS:
            tries += 1
            try:
                obj, _end = decoder.raw_decode(cand, start)
            except (ValueError, RecursionError):
                obj = None
            if isinstance(obj, dict):
                return obj
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


def _strip_list_markers(text: str) -> str:
    """Drop enumeration markers: "(1)" anywhere, "1." / "1)" at the start of a line.

    A marker is only dropped when text follows it, so a bare "1" (or "1.") stays an answer.
    """
    text = _LINE_MARKER.sub("", text)
    return _PAREN_MARKER.sub(" ", text)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _read_yes_no(clean: str) -> YesNo | None:
    """The verdict of one marker-free, markup-free reply (see parse_yes_no)."""
    clean = _LEAD.sub("", clean).strip()
    words = _words(clean)
    if not words:
        return None
    if "?" in clean:
        head, tail = clean.split("?", 1)
        head_words = _words(head)
        if not head_words or not {head_words[0], " ".join(head_words[:2])} & _STRONG:
            # The reply opens by echoing a question ("Interesting? No."): the answer is what
            # follows it. A reply that is only a question answers nothing.
            tail = tail.strip(" \t\n!?.,:;-")
            return _read_yes_no(tail) if tail else None
    lowered = clean.lower()
    if _ANSWER_YES.search(lowered) and _ANSWER_NO.search(lowered):
        return None  # "Yes and no.", "Yes. No." - both asserted
    first = words[0]
    second = words[1] if len(words) > 1 else ""
    if first == "not" and second in ("sure", "certain"):  # hedging
        return None
    if first == "not" and second in _NO_SENTIMENT:  # "Not boring at all"
        return "yes"
    adverb_not = _ADVERB_NOT.match(lowered)
    if adverb_not and adverb_not.group(1) in (_YES - _WEAK_YES) | _HEDGES:
        return "no"  # "Definitely not.", "Probably not."
    if f"{first} {second}" in _YES:  # "Of course"
        return "yes"
    if first in _NO:
        return "no"
    if first in _YES and first not in _WEAK_YES:
        return "yes"
    if _NEGATED_INTEREST.search(clean):
        return "no"
    if any(not _NEGATED_BEFORE.search(lowered[:m.start()])
           for m in _NEGATIVE_SENTIMENT.finditer(lowered)):
        return "no"  # "I find it boring"; also "Interesting, but not for me."
    if first in _WEAK_YES or _POSITIVE_INTEREST.search(clean):
        return "yes"
    said_yes = "yes" in words
    said_no = bool(re.search(r"\bno\b\s*(?:[.,!;:]|$)", lowered))
    if said_yes != said_no:
        return "yes" if said_yes else "no"
    return None


def parse_yes_no(text: str | None) -> YesNo | None:
    """Read a yes/no answer; None when the answer does not say (never a silent "no").

    Handles "Yes.", "**No**", "yes, because...", "Answer: no", JSON (also in code fences),
    "1"/"0" and "one"/"zero", and sentences such as "I am not interested in this." or
    "I find it boring."

    Rules, in order:

    - List markers are not answers: "(1)" anywhere and "1." / "1)" at the start of a line
      are dropped when text follows them, so "(1) No. (2) colors" reads "no" while a bare
      "1" still reads "yes". Echoed instructions ("Yes or No", "yes/no") are dropped too.
    - A reply that opens with a question rather than with yes/no ("Interesting? No.",
      "Would I watch it? Yes!") is read from the text after the question mark; a reply
      that is only a question is None.
    - A reply that asserts both "yes" and "no" as answers ("Yes and no.", "Yes. No.") is
      None; "no" inside a phrase ("Yes, no doubt") is not an answer.
    - Otherwise the first word decides, then negated or positive interest ("I don't find
      this interesting", "I would love to watch this") and negative words anywhere
      ("boring", "dull", "not for me"; not when negated: "nothing boring").
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
    clean = _strip_markup(_strip_list_markers(raw))
    clean = _ECHOED_CHOICE.sub(" ", clean)
    return _read_yes_no(clean)


def _whole(number: str, low: int, high: int) -> int | None:
    """A number string as an int in [low, high]; None for other decimals or out of range."""
    value = float(number)
    if not value.is_integer() or not low <= value <= high:
        return None
    return int(value)


def _one_value(numbers: list[str]) -> str | None:
    """The number when all of `numbers` agree (as values), None when none or they differ."""
    values = {float(n) for n in numbers}
    return numbers[0] if len(values) == 1 else None


def parse_scale(text: str | None, low: int = 1, high: int = 10) -> int | None:
    """An integer rating in [low, high] from a reply, else None (never a guess).

    Reads "7", "7/10", "**8**", "Seven.", "Rating: 6", "I would rate it a 3.", and replies
    that echo the question ("On a scale of 1 to 10, I would rate this an 8." -> 8).

    Rules, in order:

    1. Scale phrases are removed first: "1 to 10", "1-10", "from 1 to 10", "between 1 and
       10", "(1 = lowest, 10 = highest)", "with 10 being the highest", and a bare "out of
       10" / "/10" (after step 3), so the scale's ends are never read as the rating.
    2. A range given as the rating ("7-8", "7 or 8") is ambiguous: None.
    3. A number written as "N/10" or "N out of 10" wins.
    4. Else a number after a rating cue: "rate it a 7", "I'd give it an 8", "I'd say 6",
       "Rating: 5", "Visual appeal: 7" ("I'd give it a 7 because 3 things..." -> 7).
    5. Else a number opening the reply ("7 - the 3 puppies are cute" -> 7).
    6. Else the only number in [low, high]. Several different in-range numbers with no cue
       ("Considering the 3 dogs, 8.") are ambiguous: None, so the caller re-asks for one
       integer rather than recording a possibly wrong rating.

    Several different numbers at the deciding step (two "N/10", two cues) give None.
    Spelled numbers ("seven") are read when the reply has no digits. Decimals: a
    whole-number decimal ("8.0") is that integer; any other decimal ("7.5", "7.5/10",
    "8.5") is rejected (None) - the questionnaire asks for an integer, and rounding would
    invent an answer the model did not give. Values outside [low, high] give None.
    """
    if text is None:
        return None
    clean = _PAREN_LEAD.sub("", _strip_markup(text).lower())
    lo, hi = re.escape(str(low)), re.escape(str(high))
    clean = re.sub(
        rf"(?:\bon\s+a\s+scale\s+)?(?:\b(?:of|from)\s+)?(?<![\d.])\b{lo}\s*(?:-|–|—|to|through)"
        rf"\s*{hi}\b(?![.,]\d)|\bbetween\s+{lo}\s+and\s+{hi}\b", " ", clean)
    clean = re.sub(
        rf"(?:[(,;]|\bwith\b|\bwhere\b)\s*(?:{lo}|{hi})\s*(?:=|being|is|means)\s+(?:the\s+)?"
        r"(?:most|least|high\w*|low\w*|best|worst|max\w*|min\w*|not|very|extremely|"
        r"completely|totally|absolutely|perfect|terrible)\b", " ", clean)
    if not re.search(r"\d", clean):
        clean = _SPELLED.sub(lambda m: str(_WORD_NUMBERS[m.group(1)]), clean)
    for a, b in re.findall(rf"{_NUM}\s*(?:-|–|—|\bto\b|\bor\b)\s*{_NUM}", clean):
        if float(a) != float(b):
            return None
    explicit = re.findall(rf"{_NUM}\s*(?:/|\bout\s+of\b)\s*{hi}\b(?![.,]?\d)", clean)
    if explicit:
        chosen = _one_value(explicit)
        return _whole(chosen, low, high) if chosen else None
    clean = re.sub(rf"(?:/|\bout\s+of\b)\s*{hi}\b(?![.,]?\d)", " ", clean)
    cued = [m.group(1) for m in _CUE.finditer(clean)] + [m.group(1) for m in _LABEL.finditer(clean)]
    if cued:
        chosen = _one_value(cued)
        return _whole(chosen, low, high) if chosen else None
    lead = re.match(rf"[^\w]*{_NUM}", clean)
    if lead:
        return _whole(lead.group(1), low, high)
    in_range = [n for n in re.findall(_NUM, clean) if low <= float(n) <= high]
    chosen = _one_value(in_range)
    return _whole(chosen, low, high) if chosen else None


def rating_value(value: Any, low: int = 1, high: int = 10) -> int | None:
    """A rating from a JSON value: an int, a whole-number float (8.0) or a string read by
    parse_scale ("8", "8/10"); None for booleans, other decimals (7.5), out-of-range values
    and anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if low <= value <= high else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and low <= value <= high else None
    if isinstance(value, str):
        return parse_scale(value, low, high)
    return None


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

"""The Inductive Scoring Questionnaire strategy (paper section 5)."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field

from valuespectrum.models.base import Backend
from valuespectrum.personas import Persona
from valuespectrum.strategies.base import (
    Conversation,
    StrategyParams,
    finish,
    load_prompts,
    observation_parts,
    persona_prompt,
    persona_text,
    record_raw,
)
from valuespectrum.strategies.parsing import (
    isq_score,
    parse_json_object,
    parse_scale,
    parse_yes_no,
    rating_value,
)
from valuespectrum.types import Decision, GenerateConfig, ISQComponents, Observation

SCALES = ("visual_appeal", "curiosity", "emotional_engagement", "value_expectation")
YES_NO = ("preference_alignment", "action_desire")
THRESHOLD = 60.0


def isq_json_schema() -> dict[str, Any]:
    """JSON schema of the one-reply form of the questionnaire."""
    props: dict[str, Any] = {k: {"type": "integer", "minimum": 1, "maximum": 10} for k in SCALES}
    props.update({k: {"type": "string", "enum": ["yes", "no"]} for k in YES_NO})
    return {"type": "object", "properties": props, "required": [*SCALES, *YES_NO],
            "additionalProperties": False}


def components_from_json(text: str) -> ISQComponents | None:
    """The six answers from a JSON reply, else None.

    Ratings may be integers, whole-number floats (8.0) or strings ("8", "8/10"); other
    decimals (7.5), booleans and values outside 1-10 make the reply unreadable (None), as
    does a yes/no item that parse_yes_no cannot read.
    """
    obj = parse_json_object(text)
    if obj is None:
        return None
    obj = {str(k).lower(): v for k, v in obj.items()}
    values: dict[str, Any] = {}
    for key in SCALES:
        rating = rating_value(obj.get(key))
        if rating is None:
            return None
        values[key] = rating
    for key in YES_NO:
        v = obj.get(key)
        if isinstance(v, bool):
            values[key] = v
        elif v in (0, 1):
            values[key] = bool(v)
        else:
            yn = parse_yes_no(str(v)) if v is not None else None
            if yn is None:
                return None
            values[key] = yn == "yes"
    return ISQComponents(**values)


class ISQParams(StrategyParams):
    """The ISQ strategy's parameters: how the questionnaire is asked (`ISQStrategy`)."""

    mode: Literal["json", "turns"] = Field(
        "json", alias="isq_format",
        description="json (one JSON reply) or turns (one question per turn)")


class ISQStrategy:
    """Persona prompt, then the six ISQ items; yes iff S% > 60.

    Visual appeal, curiosity stimulation, emotional engagement and value expectation are
    rated 1-10; preference alignment and action desire are yes/no. The answers come in one
    JSON reply (``json``: the schema is enforced where the endpoint supports JSON schemas and
    asked for in the prompt everywhere) or one question per turn (``turns``). The format is
    a setting, never chosen per backend, so models are compared on one protocol.

    Args:
        mode: ``json`` (default) or ``turns``.
        config: Generation parameters.
        prompts: A prompt dict (default: the packaged prompt file).
    """

    name = "isq"

    def __init__(self, *, mode: Literal["json", "turns"] = "json",
                 config: GenerateConfig | None = None,
                 prompts: dict[str, Any] | None = None) -> None:
        if mode not in ("json", "turns"):
            raise ValueError(f"isq mode must be json or turns, not {mode!r}")
        self.mode = mode
        self.prompts = prompts or load_prompts()
        self.config = config or GenerateConfig()

    async def decide(self, obs: Observation, persona: Persona | None, backend: Backend) -> Decision:
        t0 = time.perf_counter()
        system = persona_prompt(persona, self.prompts) if persona else self.prompts["plain"]["context"]
        chat = Conversation(backend, system, self.config, persona_text(persona))
        if self.mode == "json":
            components, answers = await self._ask_json(chat, obs)
        else:
            components, answers = await self._ask_turns(chat, obs)
        if components is None:
            return finish([chat], t0, self.prompts["version"], yes=None, answers=answers,
                          error="invalid")
        score = isq_score(components.visual_appeal, components.curiosity,
                          components.emotional_engagement, components.value_expectation,
                          components.preference_alignment, components.action_desire)
        return finish([chat], t0, self.prompts["version"], yes=score > THRESHOLD, isq=components,
                      score=score, answers=answers)

    async def _ask_json(self, chat: Conversation, obs: Observation
                        ) -> tuple[ISQComponents | None, dict[str, str]]:
        p = self.prompts["isq"]
        questions = "\n".join(f"{i}. {q}" for i, q in enumerate(p["items"].values(), 1))
        text = f"{p['intro']}\n{questions}\n{' '.join(p['json_request'].split())}"
        components, raw = await chat.ask_parsed(
            [*observation_parts(obs), text], components_from_json,
            self.prompts["reminders"]["json"], "json", json_schema=isq_json_schema(),
        )
        answers: dict[str, str] = {}
        record_raw(answers, "json", raw)
        return components, answers

    async def _ask_turns(self, chat: Conversation, obs: Observation
                         ) -> tuple[ISQComponents | None, dict[str, str]]:
        p = self.prompts["isq"]
        reminders = self.prompts["reminders"]
        answers: dict[str, str] = {}
        values: dict[str, Any] = {}
        for i, (key, question) in enumerate(p["items"].items()):
            is_scale = key in SCALES
            text = f"{question} {p['scale_format'] if is_scale else p['yes_no_format']}"
            parts = [*observation_parts(obs), f"{p['intro']}\n{text}"] if i == 0 else [text]
            value, raw = await chat.ask_parsed(
                parts, parse_scale if is_scale else parse_yes_no,
                reminders["scale"] if is_scale else reminders["yes_no"],
                "scale" if is_scale else "yes_no",
            )
            record_raw(answers, key, raw)
            if value is None:
                return None, answers
            values[key] = value if is_scale else value == "yes"
        return ISQComponents(**values), answers

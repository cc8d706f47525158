"""The paper's plain and Simple strategies, and the captioning + LLM comparison."""

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
from valuespectrum.strategies.parsing import parse_yes_no
from valuespectrum.types import Decision, GenerateConfig, Observation, TextPart


def _verdict(answer: str | None) -> dict[str, Any]:
    if answer is None:
        return {"yes": None, "error": "invalid"}
    return {"yes": answer == "yes"}


class PlainParams(StrategyParams):
    """The plain strategy's parameters (a sweep's default: the decision question only)."""

    followups: bool = Field(False, description="also ask questions (2) and (3), recorded")


class SimpleParams(StrategyParams):
    """The Simple strategy takes no parameters."""


class CaptionLLMParams(StrategyParams):
    """The caption + LLM strategy's parameters (`CaptionLLMStrategy`)."""

    question: Literal["simple", "plain", "own"] = Field(
        "simple", alias="caption_question",
        description="the decider's question wording: simple, plain or own")


class PlainStrategy:
    """Value-Spectrum preference retrieval (section 4.1): the model's own taste.

    Context "You are scrolling on video shorts and see this screenshot", then (1) Is this
    content interesting? (2) What is the thing that makes this picture interesting?
    (3) Describe this image in English briefly. (1) is the decision; (2), (3) are recorded.

    Args:
        followups: Ask (2) and (3) as well (set False to save calls).
        config: Generation parameters.
        prompts: A prompt dict (default: the packaged prompt file).
    """

    name = "plain"

    def __init__(self, *, followups: bool = True, config: GenerateConfig | None = None,
                 prompts: dict[str, Any] | None = None) -> None:
        self.prompts = prompts or load_prompts()
        self.followups = followups
        self.config = config or GenerateConfig()

    async def decide(self, obs: Observation, persona: Persona | None, backend: Backend) -> Decision:
        t0 = time.perf_counter()
        p = self.prompts["plain"]
        system = p["context"]
        if persona is not None:
            system = f"{persona_prompt(persona, self.prompts)}\n{system}"
        chat = Conversation(backend, system, self.config, persona_text(persona))
        answer, raw = await chat.ask_parsed(
            [*observation_parts(obs), f"{p['interesting']} {p['answer_format']}"],
            parse_yes_no, self.prompts["reminders"]["yes_no"], "yes_no",
        )
        answers: dict[str, str] = {}
        record_raw(answers, "interesting", raw)
        if self.followups:
            answers["reason"] = await chat.ask([p["reason"]], "describe")
            answers["description"] = await chat.ask([p["description"]], "describe")
        return finish([chat], t0, self.prompts["version"], answers=answers, **_verdict(answer))


class SimpleStrategy:
    """The paper's Simple strategy (section 5): persona prompt, then one yes/no question."""

    name = "simple"

    def __init__(self, *, config: GenerateConfig | None = None,
                 prompts: dict[str, Any] | None = None) -> None:
        self.prompts = prompts or load_prompts()
        self.config = config or GenerateConfig()

    async def decide(self, obs: Observation, persona: Persona | None, backend: Backend) -> Decision:
        t0 = time.perf_counter()
        p = self.prompts["simple"]
        system = persona_prompt(persona, self.prompts) if persona else self.prompts["plain"]["context"]
        chat = Conversation(backend, system, self.config, persona_text(persona))
        answer, raw = await chat.ask_parsed(
            [*observation_parts(obs), f"{p['question']} {p['answer_format']}"],
            parse_yes_no, self.prompts["reminders"]["yes_no"], "yes_no",
        )
        answers: dict[str, str] = {}
        record_raw(answers, "interested", raw)
        return finish([chat], t0, self.prompts["version"], answers=answers, **_verdict(answer))


class CaptionLLMStrategy:
    """Captioning + LLM (the paper's LLM-vs-VLM comparison): a VLM describes the screenshot,
    then a text-only model decides from the description alone.

    Args:
        text_backend: The text-only decider; None: the same backend, without the image.
        question: The decider's question, worded as the arm it is compared with asks it:
            ``simple`` (the Simple strategy's question, default), ``plain`` ("Is this
            content interesting?", the benchmark's VLM arm), or ``own`` (the caption
            prompts' own wording, "... the content described"), so that the two arms
            differ only in who sees the image.
        config: Generation parameters for both steps.
        prompts: A prompt dict (default: the packaged prompt file).
    """

    name = "caption_llm"

    def __init__(self, text_backend: Backend | None = None, *,
                 question: Literal["simple", "plain", "own"] = "simple",
                 config: GenerateConfig | None = None,
                 prompts: dict[str, Any] | None = None) -> None:
        if question not in ("simple", "plain", "own"):
            raise ValueError(f"caption_llm question must be simple, plain or own, not {question!r}")
        self.text_backend = text_backend
        self.question = question
        self.prompts = prompts or load_prompts()
        self.config = config or GenerateConfig()

    def _question(self, persona: Persona | None) -> tuple[str, str]:
        """(system text, question) for the decider, worded as `self.question` says."""
        p = self.prompts["caption_llm"]
        if self.question == "plain":
            plain = self.prompts["plain"]
            system = p["plain_context"]
            if persona is not None:
                system = f"{persona_prompt(persona, self.prompts)}\n{system}"
            return system, f"{plain['interesting']} {plain['answer_format']}"
        system = persona_prompt(persona, self.prompts) if persona else p["plain_context"]
        wording = self.prompts["simple"]["question"] if self.question == "simple" else p["question"]
        return system, f"{wording} {self.prompts['simple']['answer_format']}"

    async def decide(self, obs: Observation, persona: Persona | None, backend: Backend) -> Decision:
        t0 = time.perf_counter()
        p = self.prompts["caption_llm"]
        captioner = Conversation(backend, "", self.config)
        description = await captioner.ask([*observation_parts(obs), p["describe"]], "describe")
        system, question = self._question(persona)
        decider = Conversation(self.text_backend or backend, system, self.config,
                               persona_text(persona))
        answer, raw = await decider.ask_parsed(
            [TextPart(text=p["description_intro"]), TextPart(text=description.strip()),
             TextPart(text=question)],
            parse_yes_no, self.prompts["reminders"]["yes_no"], "yes_no",
            subject=description.strip(),
        )
        answers = {"description": description}
        record_raw(answers, "interested", raw)
        return finish([captioner, decider], t0, self.prompts["version"], answers=answers,
                      **_verdict(answer))

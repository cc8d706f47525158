"""The `Strategy` protocol and what the paper's strategies share: prompts, persona text,
and a conversation helper that re-asks once when an answer cannot be read."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

import yaml
from pydantic import ConfigDict

from valuespectrum.config import ConfigError, read_yaml
from valuespectrum.models.base import Backend
from valuespectrum.personas import Persona
from valuespectrum.types import (
    Completion,
    Decision,
    Frozen,
    GenerateConfig,
    ImagePart,
    Message,
    Observation,
    Part,
    Question,
    TextPart,
    Usage,
)

T = TypeVar("T")
QuestionKind = Literal["yes_no", "scale", "describe", "json"]


@runtime_checkable
class Strategy(Protocol):
    """Turns one observation into a stay/skip decision by questioning a backend."""

    name: str

    async def decide(self, obs: Observation, persona: Persona | None, backend: Backend) -> Decision:
        """Ask `backend` about `obs` as `persona` (None: the model's own preference)."""
        ...


class StrategyParams(Frozen):
    """Base of a strategy's parameter model: the settings a sweep chooses and records.

    Each field is a keyword argument of the strategy's constructor. A sweep spec sets them in
    one flat `strategy_options` block that all its strategies share, where a field goes by
    its `alias` when it has one (isq's ``mode`` is ``isq_format`` there, so the block says
    which strategy an option belongs to); the registry derives that block's model from these
    (`strategies.registry.StrategyOptions`). Runtime objects (a backend, the prompt set, the
    generation config) are no parameters: they are not recorded with a trial.
    """

    # errors name a parameter by its name (``mode``), as a trial stores it
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True,
                              validate_by_alias=True, loc_by_alias=False)


def load_prompts(path: str | Path | None = None) -> dict[str, Any]:
    """A prompt set: the packaged ``data/prompts.yaml``, or a user file with the same keys.

    Raises:
        ConfigError: the file is missing, not YAML, has no `version`, or lacks a prompt the
            strategies send.
    """
    if path is None:
        text = resources.files("valuespectrum.data").joinpath("prompts.yaml").read_text("utf-8")
        prompts, where = yaml.safe_load(text), "packaged prompts.yaml"
    else:
        prompts, _ = read_yaml(path)
        where = str(path)
    if not isinstance(prompts, dict) or not prompts.get("version"):
        raise ConfigError(f"{where}: a prompt file needs a 'version' (bump it on any change)")
    default = yaml.safe_load(
        resources.files("valuespectrum.data").joinpath("prompts.yaml").read_text("utf-8"))
    missing = [f"{section}.{key}" for section, body in default.items() if isinstance(body, dict)
               for key in body if not isinstance(prompts.get(section), dict)
               or key not in prompts[section]]
    missing += [k for k, v in default.items() if isinstance(v, str) and k not in prompts]
    if missing:
        raise ConfigError(f"{where}: missing prompts: {', '.join(missing)}")
    return prompts


def persona_prompt(persona: Persona, prompts: dict[str, Any]) -> str:
    """The paper's persona prompt with the persona's trait statements filled in."""
    traits = " ".join(t.strip() for t in persona.traits).rstrip(". ")
    return " ".join(prompts["persona"].format(traits=traits).split())


def screenshot_part(obs: Observation) -> ImagePart:
    """The screenshot as an image; the on-screen text rides along for text-only baselines."""
    return ImagePart(png=obs.screenshot_png, alt_text=obs.text.as_text(),
                     media_type=obs.media_type)  # type: ignore[arg-type]


def observation_parts(obs: Observation) -> list[Part]:
    """What the model is shown of a post, by the observation's mode.

    ``screenshot``: the start screenshot. ``frames``: every frame as its own image, in video
    order (the on-screen text rides on the first only, so text-only baselines read it
    once). ``screenshot_text``: the screenshot, then the on-screen text as text.
    """
    if obs.mode == "frames" and len(obs.frames) > 1:
        return [ImagePart(png=png, alt_text=obs.text.as_text() if i == 0 else "",
                          media_type=obs.media_type)  # type: ignore[arg-type]
                for i, png in enumerate(obs.frames)]
    parts: list[Part] = [screenshot_part(obs)]
    if obs.mode == "screenshot_text":
        shown = "\n".join(line for line in (
            f"Creator: {obs.text.creator}" if obs.text.creator else "",
            f"Caption: {obs.text.caption}" if obs.text.caption else "",
            "Hashtags: " + " ".join(f"#{h}" for h in obs.text.hashtags)
            if obs.text.hashtags else "") if line)
        parts.append(TextPart(text=f"Text on screen:\n{shown or '(none)'}"))
    return parts


def persona_text(persona: Persona | None) -> str:
    """The persona as data for `Question.persona` (profile text; "" for none)."""
    return persona.profile_text() if persona is not None else ""


class Conversation:
    """A growing chat with one backend that tallies usage, latency and cache hits.

    Args:
        backend: The model questioned.
        system: System message text (persona / context).
        config: Generation parameters for every turn.
        persona: Profile text of the persona asked about, sent as data with each question.
    """
    def __init__(self, backend: Backend, system: str, config: GenerateConfig,
                 persona: str = "") -> None:
        self.backend = backend
        self.config = config
        self.persona = persona
        self.messages: list[Message] = [Message.text("system", system)] if system else []
        self.completions: list[Completion] = []

    def _config(self, kind: QuestionKind, subject: str, json_schema: dict | None) -> GenerateConfig:
        update: dict[str, Any] = {"question": Question(kind=kind, persona=self.persona,
                                                       subject=subject)}
        if json_schema is not None:
            update["json_schema"] = json_schema
        return self.config.model_copy(update=update)

    async def ask(self, parts: Sequence[Part | str], kind: QuestionKind, *, subject: str = "",
                  json_schema: dict | None = None) -> str:
        """Send one user turn asking for an answer of `kind`; returns the reply text."""
        content = tuple(TextPart(text=p) if isinstance(p, str) else p for p in parts)
        self.messages.append(Message(role="user", content=content))
        completion = await self.backend.generate(self.messages,
                                                 self._config(kind, subject, json_schema))
        self.completions.append(completion)
        self.messages.append(Message.text("assistant", completion.text))
        return completion.text

    async def ask_parsed(self, parts: Sequence[Part | str], parse: Callable[[str], T | None],
                         reminder: str, kind: QuestionKind, *, subject: str = "",
                         json_schema: dict | None = None) -> tuple[T | None, list[str]]:
        """Ask, and re-ask once with `reminder` when `parse` cannot read the reply.

        Returns:
            The parsed value (None if both replies were unreadable) and the raw replies.
        """
        raw = [await self.ask(parts, kind, subject=subject, json_schema=json_schema)]
        value = parse(raw[0])
        if value is None:
            raw.append(await self.ask([reminder], kind, subject=subject, json_schema=json_schema))
            value = parse(raw[-1])
        return value, raw

    def usage(self) -> Usage:
        total = Usage()
        for c in self.completions:
            total = total + c.usage
        return total

    def all_cached(self) -> bool:
        return bool(self.completions) and all(c.cached for c in self.completions)


def record_raw(answers: dict[str, str], key: str, raw: list[str]) -> None:
    """Store a reply and, when it was re-asked, the retry under ``<key>_retry``."""
    answers[key] = raw[0]
    if len(raw) > 1:
        answers[f"{key}_retry"] = raw[1]


def finish(chats: Sequence[Conversation], t0: float, version: str, **fields: Any) -> Decision:
    """A Decision with usage, latency and cache flags summed over the chats used."""
    usage = Usage()
    for chat in chats:
        usage = usage + chat.usage()
    cached = all(c.all_cached() for c in chats if c.completions) and any(c.completions for c in chats)
    return Decision(usage=usage, latency_s=time.perf_counter() - t0, cached=cached,
                    prompt_version=version, **fields)

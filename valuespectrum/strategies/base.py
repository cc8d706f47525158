"""The `Strategy` protocol and what the paper's strategies share: prompts, persona text,
and a conversation helper that re-asks once when an answer cannot be read."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import yaml

from valuespectrum.models.base import Backend
from valuespectrum.personas import Persona
from valuespectrum.types import (
    Completion,
    Decision,
    GenerateConfig,
    ImagePart,
    Message,
    Observation,
    Part,
    TextPart,
    Usage,
)

T = TypeVar("T")


@runtime_checkable
class Strategy(Protocol):
    """Turns one observation into a stay/skip decision by questioning a backend."""

    name: str

    async def decide(self, obs: Observation, persona: Persona | None, backend: Backend) -> Decision:
        """Ask `backend` about `obs` as `persona` (None: the model's own preference)."""
        ...


def load_prompts(path: str | Path | None = None) -> dict[str, Any]:
    """The versioned prompt file (default: the packaged ``data/prompts.yaml``)."""
    if path is None:
        text = resources.files("valuespectrum.data").joinpath("prompts.yaml").read_text("utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    prompts = yaml.safe_load(text)
    if not isinstance(prompts, dict) or not prompts.get("version"):
        raise ValueError(f"{path or 'prompts.yaml'}: a prompt file needs a 'version'")
    return prompts


def persona_prompt(persona: Persona, prompts: dict[str, Any]) -> str:
    """The paper's persona prompt with the persona's trait statements filled in."""
    traits = " ".join(t.strip() for t in persona.traits).rstrip(". ")
    return " ".join(prompts["persona"].format(traits=traits).split())


def screenshot_part(obs: Observation) -> ImagePart:
    """The screenshot as an image; the on-screen text rides along for text-only baselines."""
    return ImagePart(png=obs.screenshot_png, alt_text=obs.text.as_text())


class Conversation:
    """A growing chat with one backend that tallies usage, latency and cache hits.

    Args:
        backend: The model questioned.
        system: System message text (persona / context).
        config: Generation parameters for every turn.
    """

    def __init__(self, backend: Backend, system: str, config: GenerateConfig) -> None:
        self.backend = backend
        self.config = config
        self.messages: list[Message] = [Message.text("system", system)] if system else []
        self.completions: list[Completion] = []

    async def ask(self, parts: Sequence[Part | str], config: GenerateConfig | None = None) -> str:
        """Send one user turn; returns the reply text (also appended to the chat)."""
        content = tuple(TextPart(text=p) if isinstance(p, str) else p for p in parts)
        self.messages.append(Message(role="user", content=content))
        completion = await self.backend.generate(self.messages, config or self.config)
        self.completions.append(completion)
        self.messages.append(Message.text("assistant", completion.text))
        return completion.text

    async def ask_parsed(self, parts: Sequence[Part | str], parse: Callable[[str], T | None],
                         reminder: str, config: GenerateConfig | None = None
                         ) -> tuple[T | None, list[str]]:
        """Ask, and re-ask once with `reminder` when `parse` cannot read the reply.

        Returns:
            The parsed value (None if both replies were unreadable) and the raw replies.
        """
        raw = [await self.ask(parts, config)]
        value = parse(raw[0])
        if value is None:
            raw.append(await self.ask([reminder], config))
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

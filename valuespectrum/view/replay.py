"""The exact prompt of a recorded step, rebuilt by replaying its replies through its strategy.

A step records the model's raw replies (`answers`, in the order they were given) and the
prompt set's version; its trial records its strategy as ``{name, params}`` (trials.parquet's
`strategy_params`; a run from before that, its spec.yaml's `strategy_options`), the run its
prompt file and persona in spec.yaml and the prompt set's digest in plan.json. Running the
same strategy against a backend that gives back the recorded replies, one per call, makes it
send exactly what it sent then (the re-asks after an unreadable reply included). The screenshot is not stored
with the prompt and is shown as a placeholder; the digest check says whether the prompt file
on disk is still the one the run used.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from valuespectrum.config import ConfigError
from valuespectrum.personas import Persona
from valuespectrum.runs import fingerprint
from valuespectrum.strategies import StrategyOptions, build_strategy, load_prompts
from valuespectrum.types import Completion, GenerateConfig, ImagePart, Message, Observation, Usage


@dataclass
class Turn:
    """One message of a rebuilt conversation."""
    role: str
    text: str
    image: bool = False
    asked_as: str = ""  # the question as data (what CPU viewers answer from)


@dataclass(frozen=True)
class ReplayContext:
    """What a recorded row was asked with, beyond its replies (its run source says).

    Attributes:
        strategy: The strategy's name.
        params: Its parameters, as its trial stored them (`trial_strategy_params`);
            missing ones take the registered model's defaults (`strategies.build_strategy`).
        persona: The persona the viewer played, or None (the benchmark asks without one).
    """

    strategy: str
    params: dict[str, Any] = field(default_factory=dict)
    persona: Persona | None = None


def trial_strategy_params(stored: dict[str, Any] | None, spec: dict[str, Any],
                          row: dict[str, Any]) -> dict[str, Any]:
    """The parameters the strategy of a sweep step's trial ran with.

    `stored` is what its trial record holds (`TrialRecord.strategy_params`: the JSON text of
    trials.parquet and the trials journal, parsed once by the record). A run from before they
    were recorded, or a trial still running, has none: they are then taken from the spec's
    `strategy_options` as the sweep derived them (its plan fingerprints that block), with the
    ISQ format the step records.
    """
    if stored is not None:
        return stored
    options = dict(spec.get("strategy_options") or {})
    if row.get("isq_format"):
        options["isq_format"] = row["isq_format"]
    return StrategyOptions.model_validate(options).params_for(
        row.get("strategy") or "").model_dump(mode="json")


@dataclass
class Replay:
    """A rebuilt conversation (or two, for caption + LLM) and how far it can be trusted."""

    conversations: list[list[Turn]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (ok | warn, text)
    error: str | None = None


class ReplayBackend:
    """A backend that answers with recorded replies in order and keeps what it was sent."""

    name = "replay"
    supports_json_schema = True

    def __init__(self, replies: Sequence[str]) -> None:
        self.replies = list(replies)
        self.calls: list[tuple[list[Message], GenerateConfig, str]] = []

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Completion:
        i = len(self.calls)
        reply = self.replies[i] if i < len(self.replies) else ""
        self.calls.append((list(messages), config, reply))
        return Completion(text=reply, model=self.name, usage=Usage())

    async def aclose(self) -> None:
        return None


def _conversations(calls: list[tuple[list[Message], GenerateConfig, str]]) -> list[list[Turn]]:
    """Group calls into conversations: a call that extends the previous one continues it."""
    chats: list[list[Message]] = []
    asked: list[list[str]] = []
    for messages, config, reply in calls:
        full = [*messages, Message.text("assistant", reply)]
        kind = config.question.kind if config.question else ""
        if chats and chats[-1] == messages[:len(chats[-1])]:
            chats[-1] = full
            asked[-1].append(kind)
        else:
            chats.append(full)
            asked.append([kind])
    out = []
    for chat, kinds in zip(chats, asked, strict=True):
        turns, k = [], iter(kinds)
        for m in chat:
            image = any(isinstance(p, ImagePart) for p in m.content)
            turns.append(Turn(role=m.role, text=m.text_content(), image=image,
                              asked_as=next(k, "") if m.role == "user" else ""))
        out.append(turns)
    return out


class Replayer:
    """Rebuilds the prompts of one run's steps (the prompt set is read and checked once).

    Args:
        spec: The run's saved spec.
        plan_context: plan.json's context (holds the prompt set's version and digest).
        context_of: What a row was asked with (its run source's `replay_context`); raises
            ValueError, with the reason, when the run's files cannot say.
    """

    def __init__(self, spec: dict[str, Any], plan_context: dict[str, Any],
                 context_of: Callable[[dict[str, Any]], ReplayContext]) -> None:
        self.spec, self.context_of = spec, context_of
        self.prompts: dict[str, Any] | None = None
        self.notes: list[tuple[str, str]] = []
        self.error: str | None = None
        try:
            self.prompts = load_prompts(spec.get("prompts") or None)
        except ConfigError as e:
            self.error = f"the run's prompt set cannot be read: {e}"
            return
        source = spec.get("prompts") or "the packaged prompts.yaml"
        ran = (plan_context or {}).get("prompts") or {}
        digest = fingerprint(self.prompts)
        if ran.get("digest") and digest != ran["digest"]:
            self.notes.append(("warn", f"{source} changed since the run (digest {digest}, the "
                                       f"run used {ran['digest']}): the text below may differ "
                                       "from what was sent"))
        elif ran.get("digest"):
            self.notes.append(("ok", f"prompt set {source}, version {self.prompts['version']}: "
                                     "the digest matches the run's"))

    async def replay(self, row: dict[str, Any]) -> Replay:
        """Rebuild what the strategy of `row` sent."""
        out = Replay(notes=list(self.notes), error=self.error)
        if self.prompts is None:
            return out
        prompts = self.prompts
        if row.get("prompt_version") and row["prompt_version"] != prompts.get("version"):
            out.notes.append(("warn", f"this step was asked with prompt version "
                                      f"{row['prompt_version']}, the prompt set on disk is "
                                      f"{prompts.get('version')}"))
        try:
            context = self.context_of(row)
        except ValueError as e:
            out.error = str(e)
            return out
        try:
            replies = list(json.loads(row.get("answers") or "{}").values())
        except json.JSONDecodeError:
            replies = []
        backend = ReplayBackend([str(r) for r in replies])
        try:
            strategy = build_strategy(context.strategy, context.params, prompts=prompts)
            obs = Observation(screenshot_png=b"",
                              item_id=row.get("item_id") or row.get("image_id"))
            await strategy.decide(obs, context.persona, backend)
        except Exception as e:  # noqa: BLE001 - a replay that fails is reported, not raised
            out.error = f"the strategy could not be replayed: {type(e).__name__}: {e}"
            return out
        if len(backend.calls) != len(replies):
            out.notes.append(("warn", f"{len(replies)} replies recorded, {len(backend.calls)} "
                                      "questions replayed: replies and questions may not "
                                      "line up"))
        out.conversations = _conversations(backend.calls)
        return out

"""What crosses between the sweep driver and its viewer actors: trial specs and trial events.

`TrialSpec` is a frozen, picklable recipe (persona, model, platform, strategy with its
parameters, scrolls, seed, prompt set): an actor builds everything live from it. While a
trial runs, the actor streams typed events back; the driver, the only writer of the run
directory, journals them.

    StepEvent     one scroll: its record and the screenshot (JPEG bytes; bytes travel,
                  never paths, so actors on other nodes write into the one run directory)
    RestartEvent  the environment crashed and was rebuilt; the attempt starts over
    EndEvent      the trial ended: done, failed, budget, ... (`fatal` stops the whole run)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from valuespectrum.environments.spec import validate_kind, validate_options
from valuespectrum.feed.recommenders import STYLES, validate_style
from valuespectrum.models.spec import ModelSpec
from valuespectrum.names import SAFE_NAME_PATTERN
from valuespectrum.personas import Persona
from valuespectrum.runs import journal_line
from valuespectrum.strategies.registry import strategy_params, validate_strategy
from valuespectrum.types import Frozen, StepRecord

TrialStatus = Literal["done", "failed", "timeout", "budget", "interrupted"]


class PlatformSpec(Frozen):
    """Where a viewer scrolls: a local feed style, reached through an environment kind.

    Attributes:
        style: A feed style of the recommender registry (tiktok, youtube, ...).
        environment: An environment kind of the environment registry (playwright, http...).
        options: Kind-specific environment options (validated by the environment registry).
        name: The platform's label in trial ids, tables and contrasts (default: its style).
            Two platforms of one style that differ in their environment or its options
            (an observation mode, a screenshot format) are two arms with two names.
    """

    style: str
    environment: str = "playwright"
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    name: str | None = Field(default=None, pattern=SAFE_NAME_PATTERN)

    @field_validator("style")
    @classmethod
    def _known_style(cls, v: str) -> str:
        return validate_style(v)

    @field_validator("environment")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        return validate_kind(v)

    @model_validator(mode="after")
    def _known_options(self) -> PlatformSpec:
        validate_options(self.environment, self.options, self.style)
        return self

    @model_validator(mode="after")
    def _name_is_no_other_style(self) -> PlatformSpec:
        if self.name is not None and self.name != self.style and self.name in STYLES:
            raise ValueError(f"name: {self.name!r} is the name of another feed style; a "
                             f"{self.style} platform named so would read as that feed")
        return self

    @property
    def label(self) -> str:
        """The platform's one name in every table, trial id and journal."""
        return self.name or self.style

    def matches(self, other: PlatformSpec) -> bool:
        """Same environment kind and options: the two differ only in their feed."""
        return (self.environment, self.options) == (other.environment, other.options)


class TrialSpec(Frozen):
    """One trial: everything an actor needs to run it, and nothing live (picklable).

    Its strategy is ``{name, params}``: `strategy` (the registered name, the cell's label)
    and `strategy_params`, the parameters that strategy takes, checked by its registered
    model with defaults filled (the sweep's `strategy_options` give them, see
    `sweep.spec.expand`); the actor builds it from these (`strategies.strategy_for_trial`).
    """

    trial_id: str
    cell: str
    index: int
    persona: Persona
    model: ModelSpec
    platform: PlatformSpec
    strategy: str
    scrolls: int
    seed: int
    screenshots: bool = True
    prompts: dict[str, Any] = Field(default_factory=dict, repr=False,
                                    description="the prompt set (empty: the packaged one)")
    strategy_params: dict[str, Any] = Field(default_factory=dict, validate_default=True,
                                            description="the strategy's parameters (its "
                                            "registered model's fields, defaults filled)")

    @field_validator("strategy")
    @classmethod
    def _registered_strategy(cls, v: str) -> str:
        return validate_strategy(v)

    @field_validator("strategy_params")
    @classmethod
    def _its_parameters(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if "strategy" not in info.data:  # an unknown strategy: its own error says so
            return v
        return strategy_params(info.data["strategy"], v).model_dump(mode="json")


def derive_seed(base: int, key: str) -> int:
    """A stable 32-bit seed from the experiment seed and a key (see `trial_seed_key`)."""
    h = hashlib.sha256(f"{base}:{key}".encode()).digest()
    return int.from_bytes(h[:4], "little")


#: The rule `trial_seed_key` follows, recorded in each sweep's plan.
TRIAL_SEEDS = "spec seed + persona + trial index (shared by every arm)"


def trial_seed_key(persona: str, index: int) -> str:
    """What a trial's seed derives from: its persona and its index, nothing else.

    Trial i of a persona gets the same seed in every model, platform and strategy of a
    sweep, so two arms compared differ in the one thing compared, not in their random
    draws: the learning feed and its frozen twin serve the same first posts and draw the
    same exploration coins, and two models meet the same opening feed (common random
    numbers). Within a cell the trials' seeds differ (independent replicates), and so do
    different personas' (groups pooled over personas stay independent draws).
    """
    return f"{persona}#{index:03d}"


#: The fields of a cell, in the order of its key.
CELL_FIELDS = ("persona", "model", "platform", "strategy")


class CellColumns(BaseModel):
    """A cell of the design: persona x model x platform x strategy (persona ``*``: pooled).

    Tables and summary.json carry a cell as these four columns; `key`
    (``persona|model|platform|strategy``) only names it (URLs, the viewer's index, display).
    No reader splits a key: summaries written before the columns existed are read by
    `engine.reader.cell_from_key`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    persona: str
    model: str
    platform: str
    strategy: str

    @property
    def key(self) -> str:
        """``persona|model|platform|strategy``: the cell's name in URLs and tables."""
        return "|".join(getattr(self, f) for f in CELL_FIELDS)

    @property
    def pooled(self) -> bool:
        return self.persona == "*"

    def differs_from(self, other: CellColumns) -> list[str]:
        """The fields in which the two cells differ, in key order."""
        return [f for f in CELL_FIELDS if getattr(self, f) != getattr(other, f)]


def cell_key(persona: str, model: str, platform: str, strategy: str) -> str:
    return CellColumns(persona=persona, model=model, platform=platform, strategy=strategy).key


# --------------------------------------------------------------------------- events


class StepEvent(NamedTuple):
    """One scroll of a trial, as the actor recorded it: its journal line, encoded by the
    actor, and the few fields the driver's live view reads.

    The driver appends `line` to the trial's journal as it is (no pydantic object crosses
    Ray, and nothing is encoded on the driver, whose CPU per step caps a whole cluster:
    docs/scale.md); `record` parses it back for whoever needs the whole record.
    Build it with `StepEvent.of`. A named tuple: it unpickles in a third of a frozen
    dataclass's time (~0.6 against ~1.7 us here), on the driver, once per step.
    """

    #: the `StepRecord` as its journal line (`runs.journal_line`, newline-terminated)
    line: bytes
    step: int
    decision: int | None
    cost_usd: float
    #: where the run directory stores `jpeg` (None with it)
    screenshot_path: str | None = None
    jpeg: bytes | None = None

    @classmethod
    def of(cls, record: StepRecord, jpeg: bytes | None = None) -> StepEvent:
        return cls(journal_line(record.model_dump(mode="json")), record.step, record.decision,
                   record.cost_usd, record.screenshot_path, jpeg)

    @property
    def record(self) -> StepRecord:
        """The whole record, parsed from `line`."""
        return StepRecord.model_validate_json(self.line)


@dataclass(frozen=True)
class RestartEvent:
    """The environment crashed; the trial restarts from its seed (attempt `attempt`)."""

    attempt: int
    error: str


@dataclass(frozen=True)
class EndEvent:
    """The trial ended; `fatal` errors (dead endpoint, budget, bad settings) stop the run."""

    status: TrialStatus
    restarts: int = 0
    error: str | None = None
    fatal: bool = False
    node_id: str = ""


TrialEvent = StepEvent | RestartEvent | EndEvent

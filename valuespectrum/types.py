"""Shared domain types: the contract every subpackage imports.

Everything here is a small, frozen, picklable pydantic model so that specs and records can
cross process boundaries (Ray) while live handles (browsers, clients, weights) never do.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    """Base for immutable value objects; unknown fields are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SchwartzValue(StrEnum):
    """The ten basic human values of Schwartz's theory, in the paper's order."""

    SELF_DIRECTION = "self_direction"
    UNIVERSALISM = "universalism"
    BENEVOLENCE = "benevolence"
    STIMULATION = "stimulation"
    POWER = "power"
    ACHIEVEMENT = "achievement"
    HEDONISM = "hedonism"
    CONFORMITY = "conformity"
    TRADITION = "tradition"
    SECURITY = "security"

    @property
    def label(self) -> str:
        """Human-readable name as printed in the paper ("Self-direction")."""
        return self.value.replace("_", "-").capitalize()


# --------------------------------------------------------------------------- feed items


class FeedItem(Frozen):
    """One short video of a feed: a still image standing for the video, plus metadata."""

    item_id: str
    image_path: str = Field(description="path relative to the corpus root")
    caption: str
    hashtags: tuple[str, ...] = ()
    creator: str
    category: str
    duration_s: float = Field(gt=0)
    posted: str = Field(description="ISO date the post was published")
    popularity: float = Field(ge=0.0, le=1.0)
    value_tags: tuple[SchwartzValue, ...] = ()
    source: str = "openclipart"

    @property
    def text(self) -> str:
        """Caption plus hashtags: the text a viewer can read on the post."""
        tags = " ".join(f"#{h}" for h in self.hashtags)
        return f"{self.caption} {tags}".strip()


# --------------------------------------------------------------------------- environments


class VisibleText(Frozen):
    """Text shown on screen with the post (what a VLM could read off the screenshot)."""

    caption: str = ""
    creator: str = ""
    hashtags: tuple[str, ...] = ()

    def as_text(self) -> str:
        tags = " ".join(f"#{h}" for h in self.hashtags)
        return " ".join(p for p in (self.caption, tags) if p).strip()


class Observation(Frozen):
    """What a viewer sees at the start of a video, and what the feed knows of the post.

    `screenshot_png` is always the screenshot at the video's start; in the ``frames``
    observation mode `frames` holds every frame shown to the model, that one first. Both
    hold images encoded as `image_format` says (PNG unless the environment's `screenshot`
    option asks for JPEG from the browser; empty bytes when it asks for none).
    `ground_truth` is the post's labels for the record, never part of what a model is shown
    (strategies read the images, `text` and `mode` only).
    """

    screenshot_png: bytes = Field(repr=False)
    image_format: Literal["png", "jpeg", "none"] = Field(
        default="png", description="encoding of screenshot_png and frames: png | jpeg | none")
    text: VisibleText = VisibleText()
    url: str = ""
    item_id: str | None = None
    duration_s: float | None = Field(default=None, description="video length when known")
    t_s: float = Field(default=0.0, description="feed clock (virtual seconds) at capture")
    step: int = 0
    mode: str = Field(default="screenshot",
                      description="observation mode: screenshot | frames | screenshot_text")
    frames: tuple[bytes, ...] = Field(default=(), repr=False,
                                      description="frames (frames mode), the first at 0 s")
    link: str = Field(default="", description="the post's own link (identity in a collection)")
    posted: str = Field(default="", description="ISO date the post was published, when shown")
    meta: dict[str, str] = Field(
        default_factory=dict,
        description="environment facts: browser/app version, device, region, account, date")
    ground_truth: FeedItem | None = Field(
        default=None, repr=False,
        description="the post as the feed's corpus records it (category and folder, hashtags, "
        "value tags, caption): set by the built-in feed's environments, None on real "
        "platforms. The agent records it with the step; no strategy shows it to a model")

    @property
    def media_type(self) -> str:
        """The screenshot's media type ("" when no screenshot was taken)."""
        return {"png": "image/png", "jpeg": "image/jpeg"}.get(self.image_format, "")


class Stay(Frozen):
    """Watch the current video for `dwell_s` (virtual) seconds, then scroll on."""

    kind: Literal["stay"] = "stay"
    dwell_s: float = Field(ge=0)


class Skip(Frozen):
    """Scroll to the next video at once."""

    kind: Literal["skip"] = "skip"


Action = Annotated[Stay | Skip, Field(discriminator="kind")]


class StepResult(Frozen):
    """Outcome of one action: the watch event that the feed saw and the next observation."""

    observation: Observation
    watched_s: float
    watch_ratio: float = Field(ge=0.0, le=1.0)
    item_id: str | None = None


# --------------------------------------------------------------------------- models


class TextPart(Frozen):
    type: Literal["text"] = "text"
    text: str


class ImagePart(Frozen):
    """An image sent as an image, never pasted into text.

    `alt_text` carries the text the environment read off the screen with the post. API VLMs
    never receive it (they read the pixels); text-only CPU baselines use it instead of OCR.
    """

    type: Literal["image"] = "image"
    png: bytes = Field(repr=False, description="the encoded image (PNG unless media_type says)")
    alt_text: str = ""
    media_type: Literal["image/png", "image/jpeg", ""] = Field(
        default="image/png", description='"" when no image was taken (text-only viewers)')

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.png).hexdigest()


Part = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class Message(Frozen):
    role: Literal["system", "user", "assistant"]
    content: tuple[Part, ...]

    @classmethod
    def text(cls, role: Literal["system", "user", "assistant"], text: str) -> Message:
        return cls(role=role, content=(TextPart(text=text),))

    def text_content(self) -> str:
        return "\n".join(p.text for p in self.content if isinstance(p, TextPart))

    def images(self) -> list[ImagePart]:
        return [p for p in self.content if isinstance(p, ImagePart)]


class Question(Frozen):
    """What a strategy asks, as data rather than wording.

    Model APIs never see it (they read the prompt). CPU baselines, which cannot read
    prompts, answer from it, so editing a prompt's wording cannot change a control.

    Attributes:
        kind: The answer asked for: ``yes_no``, a 1-10 ``scale``, a free-text ``describe``,
            or a ``json`` object (the schema is `GenerateConfig.json_schema`).
        persona: The persona's profile text ("" when the model answers for itself).
        subject: The text the question is about when no image is sent (a caption).
    """

    kind: Literal["yes_no", "scale", "describe", "json"]
    persona: str = ""
    subject: str = ""


class GenerateConfig(Frozen):
    """Generation parameters; part of the cache key."""

    temperature: float = 0.0
    max_tokens: int = 256
    seed: int | None = None
    json_schema: dict[str, Any] | None = Field(
        default=None, description="ask for a JSON reply matching this schema when supported"
    )
    timeout_s: float | None = Field(
        default=None, description="seconds to wait for a reply; None: the model's own "
        "(`ModelSpec.timeout_s`, 60 s by default)")
    question: Question | None = Field(
        default=None, description="the question as data, for CPU baselines")


class Usage(Frozen):
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
        )


class Completion(Frozen):
    text: str
    model: str
    usage: Usage = Usage()
    latency_s: float = 0.0
    cached: bool = False


# --------------------------------------------------------------------------- decisions


class ISQComponents(Frozen):
    """Answers to the Inductive Scoring Questionnaire (paper section 5)."""

    visual_appeal: int = Field(ge=1, le=10)
    curiosity: int = Field(ge=1, le=10)
    emotional_engagement: int = Field(ge=1, le=10)
    value_expectation: int = Field(ge=1, le=10)
    preference_alignment: bool
    action_desire: bool


class Decision(Frozen):
    """A strategy's verdict on one observation. `yes=None` means the answer was invalid."""

    yes: bool | None
    answers: dict[str, str] = {}
    isq: ISQComponents | None = None
    score: float | None = None
    usage: Usage = Usage()
    latency_s: float = 0.0
    cached: bool = False
    prompt_version: str = ""
    error: str | None = None


# --------------------------------------------------------------------------- records


def screenshot_path(trial_id: str, step: int) -> str:
    """Where a run directory stores the screenshot of a trial's step (relative to it)."""
    return f"screens/{trial_id}/{step:04d}.jpg"


class StepRecord(Frozen):
    """One scroll of one trial, as written to `steps.parquet` (one row per scroll).

    The agent builds it complete where the step happens (`agents.viewer.step_record`): the
    post's category and value tags come from the observation's `ground_truth`, and
    `value_match` / `relevant` from the persona's values and labels; no later stage adds to it.
    """

    trial_id: str
    cell: str
    persona: str
    model: str
    platform: str
    strategy: str
    step: int
    item_id: str | None = None
    category: str | None = None
    value_tags: tuple[str, ...] = ()
    value_match: bool | None = Field(
        default=None, description="the post carries one of the persona's values"
    )
    relevant: bool | None = Field(
        default=None, description="the post is relevant to the persona by its labels "
        "(personas.is_relevant); None: the persona has no labels or the post is unknown")
    decision: int | None = Field(default=None, description="1 yes, 0 no, None invalid")
    score: float | None = None
    isq_visual_appeal: int | None = None
    isq_curiosity: int | None = None
    isq_emotional_engagement: int | None = None
    isq_value_expectation: int | None = None
    isq_preference_alignment: bool | None = None
    isq_action_desire: bool | None = None
    answers: str = Field(default="{}", description="raw answers as JSON")
    prompt_version: str = ""
    isq_format: str | None = Field(default=None, description="json | turns (isq steps)")
    action: Literal["stay", "skip"] = "skip"
    dwell_s: float = 0.0
    watched_s: float = 0.0
    watch_ratio: float = 0.0
    latency_s: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cached: bool = False
    error: str | None = None
    screenshot_path: str | None = Field(
        default=None, description="the stored screenshot, relative to the run directory "
        "(`screenshot_path(trial_id, step)`); None when none was stored")
    url: str = ""
    t_s: float = 0.0
    observation_mode: str = Field(default="screenshot",
                                  description="screenshot | frames | screenshot_text")
    frames: int = Field(default=1, description="images the model was shown")
    environment_info: str = Field(
        default="{}", description="JSON: browser/app version, device, region, account, date")

"""CPU viewers that answer the same strategies as real VLMs, as controls.

- ``embed:minilm`` (default, offline): yes when the post's visible text
  (`ImagePart.alt_text`) is about one of the persona's interests: its MiniLM cosine
  similarity with one of them reaches an absolute threshold, calibrated on the relevance
  labels of half the personas (docs/models.md).
- ``embed:minilm-percentile`` (a control): MiniLM similarity to the whole profile as a
  percentile against packaged reference posts; every persona says yes to about the top
  `top_fraction` (default 28%) of posts, whatever they show (the default until issue 23).
- ``ocr:minilm`` (`valuespectrum.models.ocr`): reads the screenshot's pixels with
  Tesseract, then decides by the ``embed:minilm`` rule.
- ``embed:clip:<arch>/<pretrained>``: open_clip image-vs-persona similarity (weights must
  load).
- ``random:<p>``: yes with probability p, seeded by the content and the request's seed.
- ``always:yes`` / ``always:no``.

All are deterministic (same input, same output). They cannot read prompts, so they answer
the strategy's question *as data* (`GenerateConfig.question`: its kind, the persona, the
subject), never by matching the prompt's wording: editing a prompt cannot change a control.
A JSON question fills the schema (1-10 integers from the affinity, yes/no fields
thresholded); a yes/no question gets "Yes, ..."/"No, ..."; a scale a number; a describe
question the post's own words.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np

from valuespectrum.config import ConfigError
from valuespectrum.embedders import (
    EmbedderUnavailable,
    MiniLMEmbedder,
    OpenClipEmbedder,
    parse_embedder,
)
from valuespectrum.models.base import BackendUnavailable
from valuespectrum.models.spec import ModelSpec
from valuespectrum.types import (
    Completion,
    GenerateConfig,
    ImagePart,
    Message,
    Question,
    Usage,
)

DEFAULT_TOP_FRACTION = 0.28
#: The `embed:minilm` threshold rule, calibrated on the relevance labels of the calibration
#: half of the personas (benchmarks/calibrate_embed_baseline.py; docs/models.md gives the
#: commits): a post's largest cosine similarity with one of the persona's interests.
DEFAULT_THRESHOLD = 0.35
PROFILE_DESIGN = "interests"
#: Similarity above (below) the threshold that maps to affinity 1 (0): the 1-10 ratings.
AFFINITY_SPAN = 0.25
#: The profile of "the model's own taste" (strategies without a persona).
NEUTRAL_PROFILE = "A typical viewer scrolling short videos for entertaining, appealing content."


#: How `Persona.profile_text()` introduces the interests (after description and traits).
INTERESTS_PREFIX = "Interests: "


def profile_statements(profile: str, *, interests_only: bool = False) -> list[str]:
    """The statements of a profile text, one by one: its sentences (description, traits)
    and each interest of its ``Interests: a, b, c`` tail.

    A viewer is sent the profile as one text (`Question.persona`); comparing a post with
    each statement asks "is this post about one of the things this person says?".

    Args:
        profile: A profile text (`Persona.profile_text()`, or any text).
        interests_only: Only the interests (the whole profile when it lists none).
    """
    head, sep, tail = profile.rpartition(INTERESTS_PREFIX)
    if not sep:
        head, tail = profile, ""
    interests = [x.strip() for x in tail.split(",") if x.strip()]
    if interests_only:
        return interests or [profile.strip()]
    sentences = [x.strip() for x in re.split(r"(?<=[.!?])\s+", head) if x.strip()]
    return sentences + interests or [profile.strip()]


def request_view(messages: Sequence[Message], config: GenerateConfig
                 ) -> tuple[Question, str, list[ImagePart]]:
    """(question, post text, images) of a request, as a viewer that cannot read prompts.

    The question comes from `config.question` (a strategy always sends one; without it the
    request is read as a yes/no question about the system text's persona). The post is the
    on-screen text of the images, else the question's subject (a caption).
    """
    question = config.question
    if question is None:
        system = " ".join(m.text_content() for m in messages if m.role == "system")
        question = Question(kind="json" if config.json_schema else "yes_no", persona=system)
    images = [p for m in messages if m.role == "user" for p in m.images()]
    post = " ".join(i.alt_text for i in images if i.alt_text) or question.subject
    return question, post.strip(), images


def content_seed(*parts: str | bytes) -> int:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode())
        h.update(b"\x00")
    return int.from_bytes(h.digest()[:8], "little")


class AffinityViewer:
    """Base of the baselines: an affinity in [0, 1] and a threshold make every answer.

    Subclasses implement `affinity(profile, post, images)`.
    """

    supports_json_schema = True

    def __init__(self, name: str, threshold: float) -> None:
        self.name = name
        self.threshold = threshold
        self.calls = 0

    def affinity(self, profile: str, post: str, images: list[ImagePart],
                 seed: int | None = None) -> float:
        raise NotImplementedError

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Completion:
        t0 = time.perf_counter()
        self.calls += 1
        question, post, images = request_view(messages, config)
        profile = question.persona or NEUTRAL_PROFILE
        a = float(np.clip(self.affinity(profile, post, images, config.seed), 0.0, 1.0))
        text = answer_for(question, config, a, a >= self.threshold, post)
        return Completion(text=text, model=self.name, usage=Usage(),
                          latency_s=time.perf_counter() - t0)

    async def aclose(self) -> None:
        return None


def _scale(a: float) -> int:
    return int(min(10, max(1, round(1 + 9 * a))))


def _describe(post: str) -> str:
    """What a text-only viewer can say it sees: the post's own words."""
    return post or "A short video post."


def answer_for(question: Question, config: GenerateConfig, a: float, yes: bool, post: str) -> str:
    """The reply of a viewer with affinity `a` (and verdict `yes`) to `question`."""
    if question.kind == "json" and config.json_schema:
        props = config.json_schema.get("properties", {})
        out: dict[str, Any] = {}
        for key, prop in props.items():
            kind = prop.get("type")
            if kind == "integer" or kind == "number":
                lo, hi = prop.get("minimum", 1), prop.get("maximum", 10)
                out[key] = int(round(lo + (hi - lo) * a))
            elif kind == "boolean":
                out[key] = yes
            elif set(prop.get("enum", ())) >= {"yes", "no"}:
                out[key] = "yes" if yes else "no"
            else:
                out[key] = _describe(post)
        return json.dumps(out)
    if question.kind == "scale":
        return str(_scale(a))
    if question.kind == "describe":
        return _describe(post)
    topic = f" ({post[:80]})" if post else ""
    return (f"Yes, this post{topic} is the kind of content I enjoy." if yes
            else f"No, this post{topic} does not interest me.")


class EmbeddingViewer(AffinityViewer):
    """MiniLM similarity between the post's visible text and the persona.

    Two rules (`rule`):

    - ``threshold`` (``embed:minilm``, the default viewer): yes when the post's largest
      cosine similarity with any of the persona's interests (each embedded on its own;
      the whole profile when it lists none) reaches `threshold`, an absolute value
      calibrated on the relevance labels of half the personas
      (`benchmarks/calibrate_embed_baseline.py`, docs/models.md). Without a persona (the
      plain strategy's neutral profile) there are no labels to calibrate against, and it
      answers by the percentile rule.
    - ``percentile`` (``embed:minilm-percentile``, a control): the similarity to the whole
      profile as a percentile against packaged reference posts; yes to about the top
      `top_fraction` (default 28%) of posts, whatever the persona.

    Affinities (the 1-10 ratings of scale and ISQ questions) map the rule's threshold to
    0.5, so a rating and a yes/no answer agree.

    Args:
        rule: ``threshold`` or ``percentile``.
        threshold: Cosine similarity at which the threshold rule says yes.
        top_fraction: Share of typical posts the percentile rule says yes to.
        embedder: An `Embedder` (default MiniLM, offline).
    """

    def __init__(self, name: str = "embed:minilm", *, rule: str = "threshold",
                 threshold: float = DEFAULT_THRESHOLD,
                 top_fraction: float = DEFAULT_TOP_FRACTION, embedder: Any = None) -> None:
        if rule not in ("threshold", "percentile"):
            raise ConfigError(f"{name}: unknown rule {rule!r} (threshold or percentile)")
        if not 0.0 < top_fraction < 1.0:
            raise ConfigError(f"{name}: top_fraction must be between 0 and 1, got {top_fraction}")
        if not -1.0 <= threshold <= 1.0:
            raise ConfigError(f"{name}: threshold is a cosine similarity in [-1, 1], "
                              f"got {threshold}")
        super().__init__(name, 0.5)
        if embedder is None:
            try:
                embedder = MiniLMEmbedder()
            except EmbedderUnavailable as e:
                raise BackendUnavailable(f"{name}: {e}") from e
        self.rule = rule
        self.similarity_threshold = threshold
        self.top_fraction = top_fraction
        self.embedder = embedder
        self._reference: np.ndarray | None = None
        self._vectors: dict[str, np.ndarray] = {}
        self._profiles: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._interests: dict[str, np.ndarray] = {}

    def _vector(self, text: str) -> np.ndarray:
        vec = self._vectors.get(text)
        if vec is None:
            if len(self._vectors) > 4096:  # bounded memo: a feed shows few distinct posts
                self._vectors.clear()
            vec = self._vectors[text] = self.embedder.embed_texts([text])[0]
        return vec

    def _profile(self, profile: str) -> tuple[np.ndarray, np.ndarray]:
        """(profile vector, sorted similarities of the reference items to it)."""
        if profile not in self._profiles:
            if self._reference is None:
                self._reference = self.embedder.embed_texts(reference_texts())
            vec = self.embedder.embed_texts([profile])[0]
            self._profiles[profile] = (vec, np.sort(self._reference @ vec))
        return self._profiles[profile]

    def _interest_vectors(self, profile: str) -> np.ndarray:
        if profile not in self._interests:
            texts = profile_statements(profile, interests_only=True)
            self._interests[profile] = self.embedder.embed_texts(texts)
        return self._interests[profile]

    def similarity(self, profile: str, post: str) -> float:
        """The threshold rule's similarity: the post's best cosine with an interest."""
        return float((self._interest_vectors(profile) @ self._vector(post)).max())

    def _percentile(self, profile: str, post: str) -> float:
        vec, ref = self._profile(profile)
        sim = float(self._vector(post) @ vec)
        return float(np.searchsorted(ref, sim, side="right")) / len(ref)

    def affinity(self, profile: str, post: str, images: list[ImagePart],
                 seed: int | None = None) -> float:
        if not post:
            return 0.0
        if self.rule == "threshold" and profile != NEUTRAL_PROFILE:
            gap = self.similarity(profile, post) - self.similarity_threshold
            return 0.5 + gap / (2 * AFFINITY_SPAN)
        # percentile p: yes iff p >= 1 - top_fraction, mapped so that the cut lands on 0.5
        p, cut = self._percentile(profile, post), 1.0 - self.top_fraction
        return 0.5 * p / cut if p < cut else 0.5 + 0.5 * (p - cut) / self.top_fraction


class ClipViewer(AffinityViewer):
    """open_clip image-vs-persona similarity, mapped linearly from [low, high] to [0, 1].

    Uncalibrated on this machine (no pretrained weights offline): tune ``low``/``high``/
    ``threshold`` in the spec's params for your weights.
    """

    def __init__(self, name: str, arch: str, pretrained: str | None, *, low: float = 0.15,
                 high: float = 0.35, threshold: float = 0.5) -> None:
        super().__init__(name, threshold)

        try:
            self.embedder = OpenClipEmbedder(arch, pretrained)
        except EmbedderUnavailable as e:
            raise BackendUnavailable(
                f"{name}: open_clip weights cannot be loaded here ({e}); they need the model "
                "hub or a local cache. Use embed:minilm offline."
            ) from e
        self.low, self.high = low, high
        self._profiles: dict[str, np.ndarray] = {}

    def affinity(self, profile: str, post: str, images: list[ImagePart],
                 seed: int | None = None) -> float:
        if not images:
            return 0.0
        if profile not in self._profiles:
            self._profiles[profile] = self.embedder.embed_texts([profile])[0]
        img = self.embedder.embed_images([images[0].png])[0]
        return (float(img @ self._profiles[profile]) - self.low) / (self.high - self.low)


class RandomViewer(AffinityViewer):
    """Says yes with probability `p`, the same way every time for the same content."""

    def __init__(self, name: str, p: float) -> None:
        super().__init__(name, 1.0 - p)

    def affinity(self, profile: str, post: str, images: list[ImagePart],
                 seed: int | None = None) -> float:
        # The request's seed (a trial's seed in sweeps) makes trials independent replicates;
        # without it the same content always gets the same answer.
        extra = () if seed is None else (str(seed),)
        rng_seed = content_seed(profile, post, *(i.sha256 for i in images), *extra)
        # yes iff u < p  <=>  1 - u >= 1 - p = threshold
        return 1.0 - float(np.random.default_rng(rng_seed).random())


class ConstantViewer(AffinityViewer):
    """Always yes (affinity 1) or always no (affinity 0)."""

    def __init__(self, name: str, yes: bool) -> None:
        super().__init__(name, 0.5)
        self.value = 1.0 if yes else 0.0

    def affinity(self, profile: str, post: str, images: list[ImagePart],
                 seed: int | None = None) -> float:
        return self.value


def reference_texts() -> list[str]:
    """Packaged visible texts of typical feed items (openclipart titles and keywords)."""
    text = resources.files("valuespectrum.data").joinpath("baseline_reference.txt").read_text("utf-8")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


#: The target of the percentile control (``embed:minilm-percentile``).
PERCENTILE_TARGET = "minilm-percentile"


def _number(spec: ModelSpec, params: dict[str, Any], key: str, default: float) -> float:
    value = params.pop(key, default)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{spec.spec}: params.{key}: expected a number, got {value!r}") from None


def viewer_rule(spec: ModelSpec) -> str | None:
    """The decision rule of a CPU viewer whose rule changed under the same spec string, for
    a run's plan: a run recorded under another rule is then not resumed with this one."""
    if spec.provider == "embed" and spec.target == "minilm":
        threshold = spec.params.get("threshold", DEFAULT_THRESHOLD)
        return f"minilm threshold {threshold} on the best {PROFILE_DESIGN} similarity"
    return None


def make_baseline(spec: ModelSpec) -> AffinityViewer:
    """Build the CPU viewer named by a spec (``embed:``, ``random:``, ``always:``)."""
    params = dict(spec.params)
    if spec.provider == "embed":
        kind, arch, pretrained = (("minilm", None, None) if spec.target == PERCENTILE_TARGET
                                  else parse_embedder(spec.target))
        if spec.target == PERCENTILE_TARGET:
            viewer: AffinityViewer = EmbeddingViewer(
                spec.spec, rule="percentile",
                top_fraction=_number(spec, params, "top_fraction", DEFAULT_TOP_FRACTION))
        elif kind == "minilm":  # ModelSpec refuses the percentile rule's top_fraction here
            viewer = EmbeddingViewer(
                spec.spec, threshold=_number(spec, params, "threshold", DEFAULT_THRESHOLD))
        else:
            viewer = ClipViewer(spec.spec, arch or "", pretrained,
                                **{k: float(params.pop(k)) for k in ("low", "high", "threshold")
                                   if k in params})
    elif spec.provider == "random":
        viewer = RandomViewer(spec.spec, float(spec.target))
    elif spec.provider == "always":
        viewer = ConstantViewer(spec.spec, spec.target == "yes")
    else:  # pragma: no cover - the registry only routes baseline prefixes here
        raise ValueError(f"{spec.spec}: not a CPU viewer")
    if params:
        raise ConfigError(f"{spec.spec}: unknown params {sorted(params)}")
    return viewer

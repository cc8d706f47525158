"""The provider registry: the one table that spec validation, the backend factory, cost
accounting and the sweep's control detection all read.

A provider is the prefix of a model spec (``openai:gpt-4o``). Each entry says what kind of
model it is, how its target is validated, where an OpenAI-compatible provider lives and
which variable holds its key, and which factory builds it (SDKs are imported lazily).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from valuespectrum.models.base import Backend
    from valuespectrum.models.spec import ModelSpec

Kind = Literal["api", "served", "viewer", "control", "double"]


@dataclass(frozen=True)
class Provider:
    """One model provider.

    Attributes:
        name: The spec prefix.
        kind: ``api`` (a paid endpoint), ``served`` (vLLM on a GPU node), ``viewer`` (a CPU
            viewer that looks at content, e.g. ``embed:``), ``control`` (a viewer that does
            not look: ``random:``, ``always:``), ``double`` (the scripted test double).
        factory: Builds the bare backend from a spec (imports its SDK lazily).
        check_target: Raises ValueError when the part after the prefix is malformed.
        base_url: Default endpoint of an OpenAI-compatible provider.
        key_env: Default variable holding that endpoint's API key.
        json_schema: Whether the endpoint honours ``response_format=json_schema``.
        reads_pixels: Whether a model of this provider looks at the screenshot, given the
            target (False: it reads only the on-screen text, so the environment may skip
            the screenshot with ``screenshot: none``).
    """

    name: str
    kind: Kind
    factory: Callable[[ModelSpec], Backend]
    check_target: Callable[[str], None] | None = None
    base_url: str | None = None
    key_env: str | None = None
    json_schema: bool = False
    reads_pixels: Callable[[str], bool] = lambda target: True

    @property
    def local(self) -> bool:
        """No network, no cost, nothing to retry (CPU viewers, controls, test double)."""
        return self.kind in ("viewer", "control", "double")


def _openai(spec: ModelSpec) -> Backend:
    from valuespectrum.models.openai_backend import OpenAIBackend

    p = PROVIDERS[spec.provider]
    json_ok = spec.json_schema if spec.json_schema is not None else p.json_schema
    return OpenAIBackend(spec.target, base_url=spec.base_url or p.base_url,
                         api_key_env=spec.key_env(), params=spec.params,
                         supports_json_schema=json_ok, name=spec.spec, timeout_s=spec.timeout_s)


def _vllm(spec: ModelSpec) -> Backend:
    from valuespectrum.models.vllm import VllmBackend

    return VllmBackend(spec)


def _baseline(spec: ModelSpec) -> Backend:
    from valuespectrum.models.baselines import make_baseline

    return make_baseline(spec)


def _ocr(spec: ModelSpec) -> Backend:
    from valuespectrum.models.baselines import DEFAULT_THRESHOLD
    from valuespectrum.models.ocr import OcrViewer

    # ModelSpec has checked the params (threshold only)
    return OcrViewer(spec.spec, threshold=float(spec.params.get("threshold", DEFAULT_THRESHOLD)))


def _check_ocr(target: str) -> None:
    if target != "minilm":
        raise ValueError("expected 'ocr:minilm' (Tesseract OCR, then the embed:minilm rule)")


def _scripted(spec: ModelSpec) -> Backend:
    from valuespectrum.config import ConfigError
    from valuespectrum.models.scripted import ScriptedBackend

    params = dict(spec.params)
    replies = params.pop("replies", spec.target)
    latency = float(params.pop("latency_s", 0.0))
    if params:
        raise ConfigError(f"{spec.spec}: unknown params {sorted(params)} (expected replies, latency_s)")
    # a run's double keeps no request history: each request holds a screenshot, and
    # thousands of agents would keep gigabytes of them
    return ScriptedBackend(replies, latency_s=latency, name=spec.spec,
                           supports_json_schema=bool(spec.json_schema), keep_requests=0)


def _check_embed(target: str) -> None:
    from valuespectrum.embedders import validate_embedder

    if target == "minilm-percentile":  # the percentile control reads MiniLM too
        return
    try:
        validate_embedder(target)
    except ValueError:
        raise ValueError(f"unknown CPU viewer {target!r}: expected 'minilm', "
                         "'minilm-percentile' or 'clip:<arch>[/<pretrained>]'") from None


def _check_random(target: str) -> None:
    try:
        p = float(target)
    except ValueError:
        p = -1.0
    if not 0.0 <= p <= 1.0:
        raise ValueError("random:<p> needs a probability between 0 and 1")


def _check_always(target: str) -> None:
    if target not in ("yes", "no"):
        raise ValueError("expected 'always:yes' or 'always:no'")


PROVIDERS: MappingProxyType[str, Provider] = MappingProxyType({p.name: p for p in (
    Provider("openai", "api", _openai, base_url=None, key_env="OPENAI_API_KEY",
             json_schema=True),
    Provider("anthropic", "api", _openai, base_url="https://api.anthropic.com/v1/",
             key_env="ANTHROPIC_API_KEY"),
    Provider("gemini", "api", _openai,
             base_url="https://generativelanguage.googleapis.com/v1beta/openai/",
             key_env="GEMINI_API_KEY", json_schema=True),
    Provider("dashscope", "api", _openai,
             base_url="https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
             key_env="DASHSCOPE_API_KEY"),
    Provider("vllm", "served", _vllm, json_schema=True),
    Provider("embed", "viewer", _baseline, check_target=_check_embed,
             reads_pixels=lambda target: target.startswith("clip")),  # minilm reads text
    # reads the screenshot's pixels (Tesseract), never the page's text
    Provider("ocr", "viewer", _ocr, check_target=_check_ocr, reads_pixels=lambda target: True),
    Provider("random", "control", _baseline, check_target=_check_random,
             reads_pixels=lambda target: False),
    Provider("always", "control", _baseline, check_target=_check_always,
             reads_pixels=lambda target: False),
    # the double replays scripted replies; it never decodes the image it is sent
    Provider("scripted", "double", _scripted, reads_pixels=lambda target: False),
)})

OPENAI_API_URL = "https://api.openai.com/v1"


def provider(name: str) -> Provider:
    """The registered provider `name`; ValueError naming the known ones."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise ValueError(f"unknown provider {name!r}; expected one of "
                         f"{', '.join(PROVIDERS)}") from None

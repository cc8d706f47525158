"""The provider registry: the one table that spec validation, the backend factory, cost
accounting and the sweep's control detection all read.

A provider is the prefix of a model spec (``openai:gpt-4o``). Each entry says what kind of
model it is, how its target is validated, where an OpenAI-compatible provider lives and
which variable holds its key. The factory that builds each provider's backend lives in
`valuespectrum.models.registry` (``FACTORIES``), beside `build_backend`: the backends import
`ModelSpec`, which reads this table, so this module imports no backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from valuespectrum.embedders import validate_embedder

Kind = Literal["api", "served", "viewer", "control", "double"]


@dataclass(frozen=True)
class Provider:
    """One model provider.

    Attributes:
        name: The spec prefix.
        kind: ``api`` (a paid endpoint), ``served`` (vLLM on a GPU node), ``viewer`` (a CPU
            viewer that looks at content, e.g. ``embed:``), ``control`` (a viewer that does
            not look: ``random:``, ``always:``), ``double`` (the scripted test double).
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
    check_target: Callable[[str], None] | None = None
    base_url: str | None = None
    key_env: str | None = None
    json_schema: bool = False
    reads_pixels: Callable[[str], bool] = lambda target: True

    @property
    def local(self) -> bool:
        """No network, no cost, nothing to retry (CPU viewers, controls, test double)."""
        return self.kind in ("viewer", "control", "double")


def _check_ocr(target: str) -> None:
    if target != "minilm":
        raise ValueError("expected 'ocr:minilm' (Tesseract OCR, then the embed:minilm rule)")


def _check_embed(target: str) -> None:
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
    Provider("openai", "api", base_url=None, key_env="OPENAI_API_KEY",
             json_schema=True),
    Provider("anthropic", "api", base_url="https://api.anthropic.com/v1/",
             key_env="ANTHROPIC_API_KEY"),
    Provider("gemini", "api",
             base_url="https://generativelanguage.googleapis.com/v1beta/openai/",
             key_env="GEMINI_API_KEY", json_schema=True),
    Provider("dashscope", "api",
             base_url="https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
             key_env="DASHSCOPE_API_KEY"),
    Provider("vllm", "served", json_schema=True),
    Provider("embed", "viewer", check_target=_check_embed,
             reads_pixels=lambda target: target.startswith("clip")),  # minilm reads text
    # reads the screenshot's pixels (Tesseract), never the page's text
    Provider("ocr", "viewer", check_target=_check_ocr, reads_pixels=lambda target: True),
    Provider("random", "control", check_target=_check_random,
             reads_pixels=lambda target: False),
    Provider("always", "control", check_target=_check_always,
             reads_pixels=lambda target: False),
    # the double replays scripted replies; it never decodes the image it is sent
    Provider("scripted", "double", reads_pixels=lambda target: False),
)})

OPENAI_API_URL = "https://api.openai.com/v1"


def provider(name: str) -> Provider:
    """The registered provider `name`; ValueError naming the known ones."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise ValueError(f"unknown provider {name!r}; expected one of "
                         f"{', '.join(PROVIDERS)}") from None

"""`ModelSpec`: a frozen, picklable recipe for a model backend.

A spec travels to Ray actors as data; each actor builds its own live backend from it with
`valuespectrum.models.build_backend`. Written as a string (``openai:gpt-4o``) or, in YAML, as
a mapping with the optional fields below.
"""

from __future__ import annotations

import re
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import Field, field_validator, model_validator

from valuespectrum.config import ConfigError, validate
from valuespectrum.types import Frozen

PROVIDERS = ("openai", "anthropic", "gemini", "dashscope", "vllm", "embed", "clip", "random",
             "always", "scripted")
BASELINE_PROVIDERS = ("embed", "clip", "random", "always")

# OpenAI-compatible endpoints reached through the openai client: prefix -> (base_url, key env).
OPENAI_COMPATIBLE = MappingProxyType({
    "openai": (None, "OPENAI_API_KEY"),
    "anthropic": ("https://api.anthropic.com/v1/", "ANTHROPIC_API_KEY"),
    "gemini": ("https://generativelanguage.googleapis.com/v1beta/openai/", "GEMINI_API_KEY"),
    "dashscope": ("https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "DASHSCOPE_API_KEY"),
})


class Price(Frozen):
    """USD per one million tokens."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


class VllmOptions(Frozen):
    """How a `vllm:` backend launches its server (ignored when `base_url` attaches to one)."""

    num_gpus: float = Field(default=1.0, ge=0, description="GPUs the owning Ray actor asks for")
    max_model_len: int = Field(default=8192, ge=256)
    max_images: int = Field(default=1, ge=1, description="--limit-mm-per-prompt image count")
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    extra_args: tuple[str, ...] = ()
    command: tuple[str, ...] | None = Field(
        default=None,
        description="replaces `vllm serve {model} ...`; placeholders {model} {host} {port}",
    )
    port: int | None = Field(default=None, ge=1, le=65535, description="default: a free port")
    startup_timeout_s: float = Field(default=1200.0, gt=0)


class ModelSpec(Frozen):
    """Which model answers, where, and how calls to it are wrapped.

    Attributes:
        spec: ``provider:target``: ``openai:gpt-4o``, ``vllm:Qwen/Qwen2-VL-7B-Instruct``,
            ``embed:minilm``, ``clip:ViT-B-32/laion2b_s34b_b79k``, ``random:0.5``,
            ``always:yes``, ``scripted:<reply>``; also ``anthropic:``, ``gemini:``,
            ``dashscope:`` for those providers' OpenAI-compatible endpoints.
        name: Optional short label for tables (default derived from `spec`).
        base_url: OpenAI-compatible endpoint; for ``vllm:`` it attaches to a running server.
        api_key_env: Name of the environment variable holding the key (never the key).
        price: Per-1M-token prices; default from ``valuespectrum/data/prices.yaml``.
        rate_limit_rpm: Requests per minute for this endpoint, across all Ray actors.
        max_concurrency: Requests in flight at once from one process.
        retries: Extra attempts on 429/5xx/timeouts (0 disables retrying).
        backoff_s: First backoff delay; doubles per attempt, plus jitter.
        backoff_max_s: Cap of one backoff delay (also caps a server's ``Retry-After``).
        cache: Persistent response cache; default on for paid/served models, off for baselines.
        json_schema: Whether the endpoint honours JSON-schema replies (default: provider's).
        params: Extra request parameters (API models) or baseline options (``threshold``...).
        vllm: Launch options for ``vllm:`` specs.
    """

    spec: str
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.\-]+$")
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    price: Price | None = None
    rate_limit_rpm: float | None = Field(default=None, gt=0)
    max_concurrency: int | None = Field(default=None, ge=1)
    retries: int = Field(default=4, ge=0, le=20)
    backoff_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    cache: bool | None = None
    json_schema: bool | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    vllm: VllmOptions | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return {"spec": data} if isinstance(data, str) else data

    @field_validator("spec")
    @classmethod
    def _check_spec(cls, v: str) -> str:
        provider, sep, target = v.partition(":")
        if not sep or not target.strip():
            raise ValueError(f"{v!r}: expected 'provider:model', e.g. 'openai:gpt-4o' or 'embed:minilm'")
        if provider not in PROVIDERS:
            raise ValueError(f"{v!r}: unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}")
        if provider == "random":
            try:
                p = float(target)
            except ValueError:
                p = -1.0
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{v!r}: random:<p> needs a probability between 0 and 1")
        if provider == "always" and target not in ("yes", "no"):
            raise ValueError(f"{v!r}: expected 'always:yes' or 'always:no'")
        if provider == "embed" and target != "minilm":
            raise ValueError(f"{v!r}: the only text embedder is 'embed:minilm'")
        if provider == "clip" and not re.fullmatch(r"[\w.\-]+(/[\w.\-]+)?", target):
            raise ValueError(f"{v!r}: expected 'clip:<arch>/<pretrained>', e.g. clip:ViT-B-32/laion2b_s34b_b79k")
        return v

    @classmethod
    def parse(cls, value: str | dict[str, Any] | ModelSpec, source: str = "model spec") -> ModelSpec:
        """Build a spec from a string, a YAML mapping or a spec.

        Raises:
            ConfigError: naming the field and what was expected.
        """
        if isinstance(value, ModelSpec):
            return value
        if not isinstance(value, str | dict):
            raise ConfigError(f"{source}: expected a string like 'openai:gpt-4o' or a mapping, "
                              f"got {type(value).__name__}")
        return validate(cls, value, source)

    @property
    def provider(self) -> str:
        return self.spec.partition(":")[0]

    @property
    def target(self) -> str:
        """The part after the prefix: model id, baseline argument or scripted reply."""
        return self.spec.partition(":")[2]

    @property
    def label(self) -> str:
        """A short name for tables and trial ids (``gpt-4o``, ``Qwen2-VL-7B-Instruct``)."""
        if self.name:
            return self.name
        if self.provider in BASELINE_PROVIDERS or self.provider == "scripted":
            return re.sub(r"[^A-Za-z0-9_.\-]+", "-", f"{self.provider}-{self.target}")[:40].strip("-")
        return re.sub(r"[^A-Za-z0-9_.\-]+", "-", self.target.rsplit("/", 1)[-1])

    @property
    def is_baseline(self) -> bool:
        """CPU baselines and test doubles: no network, no cost, nothing to retry."""
        return self.provider in BASELINE_PROVIDERS or self.provider == "scripted"

    @property
    def endpoint(self) -> str:
        """Identity of the server answering (rate-limit and cache key), never a secret."""
        if self.base_url:
            return self.base_url.rstrip("/")
        if self.provider in OPENAI_COMPATIBLE:
            return (OPENAI_COMPATIBLE[self.provider][0] or "https://api.openai.com/v1").rstrip("/")
        return f"{self.provider}:local"

    def key_env(self) -> str | None:
        """The environment variable holding this endpoint's API key, if any."""
        if self.api_key_env:
            return self.api_key_env
        if self.provider in OPENAI_COMPATIBLE and not self.base_url:
            return OPENAI_COMPATIBLE[self.provider][1]
        return None

    def resolved_price(self) -> Price | None:
        """The explicit price, else the packaged table's; zero for free providers.

        Returns None when the model is not in the table (cost then cannot be counted).
        """
        if self.price is not None:
            return self.price
        table = yaml.safe_load(
            resources.files("valuespectrum.data").joinpath("prices.yaml").read_text("utf-8")
        )
        if self.provider in table.get("free_providers", ()):
            return Price(input_per_mtok=0.0, output_per_mtok=0.0)
        model = self.target.rsplit("/", 1)[-1].lower()
        best = max((k for k in table["models"] if model.startswith(k.lower())), key=len, default=None)
        return Price(**table["models"][best]) if best else None

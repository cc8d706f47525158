"""`ModelSpec`: a frozen, picklable recipe for a model backend.

A spec travels to Ray actors as data; each actor builds its own live backend from it with
`valuespectrum.models.build_backend`. Written as a string (``openai:gpt-4o``) or, in YAML, as
a mapping with the optional fields below.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml
from pydantic import Field, field_validator, model_validator

from valuespectrum.config import ConfigError, validate
from valuespectrum.models.providers import OPENAI_API_URL, PROVIDERS, provider
from valuespectrum.names import SAFE_NAME_PATTERN, safe_name
from valuespectrum.types import Frozen

#: Where and how a model is reached, not what answers: these may change between a run and
#: its resumption (a changed endpoint URL or rate limit leaves the recorded answers valid).
OPERATIONAL_FIELDS = ("base_url", "api_key_env", "price", "rate_limit_rpm", "max_concurrency",
                      "timeout_s", "retries", "backoff_s", "backoff_max_s", "cache", "vllm")


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
    replicas: int = Field(
        default=1, ge=1, strict=True,
        description="servers of this model, each asking for `num_gpus`; requests are spread "
                    "across them (valuespectrum/models/replicas.py)",
    )

    @model_validator(mode="after")
    def _one_port_per_server(self) -> VllmOptions:
        if self.replicas > 1 and self.port is not None:
            # replicas may share a node, where a fixed port can be bound only once
            raise ValueError("port fixes one server's port; leave it unset with replicas > 1")
        return self


class ModelSpec(Frozen):
    """Which model answers, where, and how calls to it are wrapped.

    Attributes:
        spec: ``provider:target``: ``openai:gpt-4o``, ``vllm:Qwen/Qwen2-VL-7B-Instruct``,
            ``embed:minilm`` (or ``embed:clip:ViT-B-32/laion2b_s34b_b79k``: the target is an
            embedder in the one embedder grammar), ``random:0.5``, ``always:yes``,
            ``scripted:<reply>``; also ``anthropic:``, ``gemini:``, ``dashscope:`` for those
            providers' OpenAI-compatible endpoints. The providers are the registry in
            `valuespectrum.models.providers`.
        name: Optional short label for tables (default derived from `spec`).
        base_url: OpenAI-compatible endpoint; for ``vllm:`` it attaches to a running server.
        api_key_env: Name of the environment variable holding the key (never the key).
        price: Per-1M-token prices; default from ``valuespectrum/data/prices.yaml``.
        rate_limit_rpm: Requests per minute for this endpoint, across all Ray actors.
        max_concurrency: Requests in flight at once from one process.
        timeout_s: Seconds one request may wait for its reply; past it the request is
            abandoned and retried like a 5xx (API and served models; a call's own
            `GenerateConfig.timeout_s` overrides it).
        retries: Extra attempts on 429/5xx/timeouts (0 disables retrying).
        backoff_s: First backoff delay; doubles per attempt, plus jitter.
        backoff_max_s: Cap of one backoff delay (also caps a server's ``Retry-After``).
        cache: Persistent response cache; default on for paid/served models, off for baselines.
        json_schema: Whether the endpoint honours JSON-schema replies (default: provider's).
        params: Extra request parameters (API models) or baseline options (``threshold``...).
        vllm: Launch options for ``vllm:`` specs.
    """

    spec: str
    name: str | None = Field(default=None, pattern=SAFE_NAME_PATTERN)
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    price: Price | None = None
    rate_limit_rpm: float | None = Field(default=None, gt=0)
    max_concurrency: int | None = Field(default=None, ge=1)
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
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

    @model_validator(mode="after")
    def _replicas_need_a_launch(self) -> ModelSpec:
        if self.vllm is not None and self.vllm.replicas > 1 and self.base_url:
            raise ValueError("vllm.replicas: base_url attaches to one running server; "
                             "replicas > 1 launches its own servers (leave base_url out)")
        return self

    @model_validator(mode="after")
    def _viewer_params(self) -> ModelSpec:
        """A CPU viewer's options are checked when the spec is read, not when a trial
        starts: a spec written for the percentile rule gets told where it went."""
        if self.provider == "embed" and self.target == "minilm" and "top_fraction" in self.params:
            raise ValueError(
                "params.top_fraction: a parameter of the percentile rule, now the control "
                "'embed:minilm-percentile'; 'embed:minilm' says yes above an absolute similarity "
                "(params: {threshold: ...}, docs/models.md)")
        allowed = {"embed:minilm": {"threshold"}, "embed:minilm-percentile": {"top_fraction"},
                   "ocr:minilm": {"threshold"}}.get(self.spec)
        if allowed is not None and set(self.params) - allowed:
            raise ValueError(f"params: {self.spec} takes {', '.join(sorted(allowed))}; unknown "
                             f"{', '.join(sorted(set(self.params) - allowed))}")
        return self

    @field_validator("spec")
    @classmethod
    def _check_spec(cls, v: str) -> str:
        name, sep, target = v.partition(":")
        if not sep or not target.strip():
            raise ValueError(f"{v!r}: expected 'provider:model', e.g. 'openai:gpt-4o' or 'embed:minilm'")
        try:
            p = provider(name)
            if p.check_target is not None:
                p.check_target(target)
        except ValueError as e:
            raise ValueError(f"{v!r}: {e}") from None
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
    def kind(self) -> str:
        """The provider's kind: api, served, viewer, control or double."""
        return PROVIDERS[self.provider].kind

    @property
    def label(self) -> str:
        """The model's one name in every table, trial id and journal (``gpt-4o``).

        Its `name` when given; else the model id's last path part for API and served models
        (``Qwen2-VL-7B-Instruct``), ``provider-target`` for CPU viewers and controls
        (``embed-minilm``, ``random-0.5``).
        """
        if self.name:
            return self.name
        if self.is_baseline:
            return safe_name(f"{self.provider}-{self.target}")[:40].strip("-")
        return safe_name(self.target.rsplit("/", 1)[-1])

    @property
    def is_baseline(self) -> bool:
        """CPU viewers, controls and test doubles: no network, no cost, nothing to retry."""
        return PROVIDERS[self.provider].local

    @property
    def endpoint(self) -> str:
        """Identity of the server answering (rate-limit and cache key), never a secret."""
        if self.base_url:
            return self.base_url.rstrip("/")
        p = PROVIDERS[self.provider]
        if p.kind == "api":
            return (p.base_url or OPENAI_API_URL).rstrip("/")
        return f"{self.provider}:local"

    def key_env(self) -> str | None:
        """The environment variable holding this endpoint's API key, if any."""
        if self.api_key_env:
            return self.api_key_env
        p = PROVIDERS[self.provider]
        return p.key_env if p.kind == "api" and not self.base_url else None

    def resolved_price(self) -> Price | None:
        """The explicit price, else the packaged table's; zero for free providers.

        Returns None when the model is not in the table (cost then cannot be counted).
        """
        if self.price is not None:
            return self.price
        table = yaml.safe_load(
            resources.files("valuespectrum.data").joinpath("prices.yaml").read_text("utf-8")
        )
        if self.kind != "api":  # served on your own GPUs, CPU viewers, doubles
            return Price(input_per_mtok=0.0, output_per_mtok=0.0)
        model = self.target.rsplit("/", 1)[-1].lower()
        best = max((k for k in table["models"] if model.startswith(k.lower())), key=len, default=None)
        return Price(**table["models"][best]) if best else None

"""`SpectrumSpec`: the YAML recipe of a Value-Spectrum benchmark run (paper section 4).

Example (see `experiments/spectrum.yaml` for the paper's setup)::

    kind: spectrum
    name: spectrum-demo
    store: ${VSPEC_HOME}/store/screenshots.db     # an input: relative to this file's folder
    embedder: minilm
    ingest: {corpus: ${VSPEC_HOME}/corpus/openclipart}
    models: [embed:minilm, "random:0.5"]
    top_k: 5
    output: runs/{name}                           # an output: relative to the current dir
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from valuespectrum.config import ConfigError, read_yaml, validate
from valuespectrum.embedders import validate_embedder
from valuespectrum.models.spec import ModelSpec
from valuespectrum.names import SAFE_NAME_PATTERN
from valuespectrum.specs import (
    check_output_template,
    check_unique_labels,
    resolve_input,
    resolve_output,
)
from valuespectrum.strategies import load_prompts
from valuespectrum.types import Frozen

_DATE = r"^\d{4}-\d{2}-\d{2}$"

#: Fields that may change between a run and its resumption (they do not change results).
RESUMABLE_FIELDS = frozenset({"description", "budget_usd", "cache_dir", "output", "concurrency",
                              "parallel", "ingest", "store"})


class SpectrumFilters(Frozen):
    """Which screenshots retrieval may return."""

    platforms: tuple[str, ...] | None = Field(default=None, min_length=1)
    since: str | None = Field(default=None, pattern=_DATE, description="YYYY-MM-DD, inclusive")
    until: str | None = Field(default=None, pattern=_DATE, description="YYYY-MM-DD, inclusive")


class IngestSource(Frozen):
    """Screenshots to add to the store before retrieval (skipped when already stored).

    All are inputs: relative paths resolve against the spec file's folder.
    """

    corpus: str | None = None
    folder: str | None = None
    csv: str | None = None
    run: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> IngestSource:
        given = [n for n in ("corpus", "folder", "run") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of corpus, folder (with csv) or run")
        if self.folder is not None and self.csv is None:
            raise ValueError("folder needs csv")
        return self

    def resolved(self, base: Path) -> dict[str, str]:
        return {k: str(resolve_input(v, base)) for k, v in self.model_dump().items()
                if v is not None}


class CaptionPair(Frozen):
    """Figure 9 arm: `vlm` describes each image, the text-only `llm` decides."""

    vlm: ModelSpec
    llm: ModelSpec

    @field_validator("vlm", "llm", mode="before")
    @classmethod
    def _spec(cls, v: Any) -> Any:
        return ModelSpec.parse(v) if isinstance(v, str | dict) else v


class SpectrumSpec(Frozen):
    """A Value-Spectrum run: which store, which models, how many images per keyword.

    Attributes:
        kind: Always ``spectrum`` (a spec without `kind` is a sweep).
        name: Run name (budget ledger, report title, the ``{name}`` of `output`).
        store: The screenshot store: a Milvus-lite `.db` path (an input) or a server URI.
        embedder: Store embedder, in the embedder grammar: ``minilm`` or ``clip:ARCH[/PRE]``.
        ingest: Optional screenshots to ingest first (idempotent).
        models: The VLMs under test (model spec strings or mappings).
        top_k: Images per keyword (the paper: 5).
        filters: Optional platform / post-date restrictions of retrieval.
        values: Optional values-and-keywords YAML replacing the packaged one (an input).
        keyword_template: Text embedded for a keyword, e.g. "a photo of {keyword}".
        abundance_radius: L2 radius of Figure 2 (the paper: 1.5).
        followups: Ask the plain strategy's questions 2 and 3 as well.
        caption_llm: Figure 9 pairs (VLM captioner + text-only LLM); the LLM is asked the
            plain arm's question, so the two arms differ only in who sees the image.
        prompts: Prompt file (an input; default: the packaged one).
        budget_usd: Spending cap shared by all models of the run.
        cache_dir: Persistent response cache (an output; null: no cache).
        output: The run directory (``{name}`` is replaced).
        seed: Sent with every model request (APIs that take a seed, random viewers).
        concurrency: Decisions in flight per model.
        parallel: ``ray`` (one task per model, store in a `StoreActor`) or ``local``.
        max_image_px: Longest side of the images sent to models (downscaled, PNG).
    """

    kind: Literal["spectrum"] = "spectrum"
    name: str = Field(default="spectrum", pattern=SAFE_NAME_PATTERN)
    description: str = ""
    store: str = "${VSPEC_HOME}/store/screenshots.db"
    embedder: str = "minilm"
    ingest: IngestSource | None = None
    models: tuple[ModelSpec, ...] = Field(min_length=1)
    top_k: int = Field(default=5, ge=1, le=100)
    filters: SpectrumFilters = SpectrumFilters()
    values: str | None = None
    keyword_template: str = "{keyword}"
    abundance_radius: float = Field(default=1.5, gt=0, le=1e6)
    followups: bool = True
    caption_llm: tuple[CaptionPair, ...] = ()
    prompts: str | None = None
    budget_usd: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    cache_dir: str | None = "${VSPEC_HOME}/cache"
    output: str = "runs/{name}"
    seed: int = 0
    concurrency: int = Field(default=4, ge=1, le=256)
    parallel: Literal["ray", "local"] = "ray"
    max_image_px: int = Field(default=768, ge=64, le=8192)

    _base: Path = PrivateAttr(default_factory=Path.cwd)

    @field_validator("models", mode="before")
    @classmethod
    def _models(cls, v: Any) -> Any:
        if isinstance(v, list | tuple):
            return tuple(ModelSpec.parse(m, "models") if isinstance(m, str | dict) else m
                         for m in v)
        return v

    @field_validator("embedder")
    @classmethod
    def _embedder(cls, v: str) -> str:
        return validate_embedder(v)

    @field_validator("keyword_template")
    @classmethod
    def _template(cls, v: str) -> str:
        if "{keyword}" not in v:
            raise ValueError("must contain {keyword}")
        return v

    @field_validator("output")
    @classmethod
    def _output_template(cls, v: str) -> str:
        return check_output_template(v)

    @model_validator(mode="after")
    def _unique_labels(self) -> SpectrumSpec:
        check_unique_labels(self.models)
        return self

    # ------------------------------------------------------------------ resolved views
    def output_dir(self) -> Path:
        return resolve_output(self.output.format(name=self.name))

    def cache_path(self) -> Path | None:
        return resolve_output(self.cache_dir) if self.cache_dir else None

    def store_uri(self) -> str:
        """A server URI as given; a Milvus-lite file resolved against the spec's folder."""
        if "://" in self.store:
            return self.store
        return str(resolve_input(self.store, self._base))

    def values_path(self) -> Path | None:
        return resolve_input(self.values, self._base) if self.values else None

    def ingest_source(self) -> dict[str, str] | None:
        return self.ingest.resolved(self._base) if self.ingest else None

    def prompt_set(self) -> dict[str, Any]:
        return load_prompts(resolve_input(self.prompts, self._base) if self.prompts else None)

    def saved(self) -> dict[str, Any]:
        """The resolved spec as data (absolute inputs), as saved in RUN_DIR/spec.yaml."""
        data = self.model_dump(mode="json")
        data["store"] = self.store_uri()
        if self.values:
            data["values"] = str(self.values_path())
        if self.ingest:
            data["ingest"] = self.ingest_source()
        if self.prompts:
            data["prompts"] = str(resolve_input(self.prompts, self._base))
        return data


def load_spectrum_spec(path: str | Path) -> SpectrumSpec:
    """Load and validate a spectrum spec; inputs resolve against the file's folder.

    Raises:
        ConfigError: naming the file, line and field of every problem.
    """
    path = Path(path)
    data, lines = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of spectrum settings")
    spec = validate(SpectrumSpec, data, str(path), lines)
    spec._base = path.parent.resolve()
    return spec

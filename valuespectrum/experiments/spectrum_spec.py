"""`SpectrumSpec`: the YAML recipe of a Value-Spectrum benchmark run (paper section 4).

Example (see `experiments/spectrum.yaml` for the paper's setup)::

    kind: spectrum
    name: spectrum-demo
    store: .vspec/store/screenshots.db
    embedder: minilm
    ingest: {corpus: .vspec/corpus/openclipart}
    models: [embed:minilm, "random:0.5"]
    top_k: 5
    output_dir: runs/spectrum-demo
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from valuespectrum.config import ConfigError, read_yaml, validate
from valuespectrum.models.spec import ModelSpec
from valuespectrum.types import Frozen

_DATE = r"^\d{4}-\d{2}-\d{2}$"


class SpectrumFilters(Frozen):
    """Which screenshots retrieval may return."""

    platforms: tuple[str, ...] | None = Field(default=None, min_length=1)
    since: str | None = Field(default=None, pattern=_DATE, description="YYYY-MM-DD, inclusive")
    until: str | None = Field(default=None, pattern=_DATE, description="YYYY-MM-DD, inclusive")


class IngestSource(Frozen):
    """Screenshots to add to the store before retrieval (skipped when already stored)."""

    corpus: Path | None = None
    folder: Path | None = None
    csv: Path | None = None
    run: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> IngestSource:
        given = [n for n in ("corpus", "folder", "run") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of corpus, folder (with csv) or run")
        if self.folder is not None and self.csv is None:
            raise ValueError("folder needs csv")
        return self


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
        kind: Always ``spectrum`` (tells `vspec report` what kind of run this is).
        name: Run name (budget ledger name, report title).
        store: Path of the Milvus-lite `.db`.
        embedder: Store embedder: ``minilm`` (captions) or ``clip:ARCH[/PRETRAINED]``.
        ingest: Optional screenshots to ingest first (idempotent).
        models: The VLMs under test (model spec strings or mappings).
        top_k: Images per keyword (the paper: 5).
        filters: Optional platform / post-date restrictions of retrieval.
        values: Optional values-and-keywords YAML replacing the packaged one.
        keyword_template: Text embedded for a keyword, e.g. "a photo of {keyword}".
        abundance_radius: L2 radius of Figure 2 (the paper: 1.5).
        followups: Ask the plain strategy's questions 2 and 3 as well.
        caption_llm: Figure 9 pairs (VLM captioner + text-only LLM).
        budget_usd: Spending cap shared by all models of the run.
        cache_dir: Persistent response cache (None: no cache).
        output_dir: The run directory.
        seed: Recorded with the run; generation uses temperature 0.
        concurrency: Decisions in flight per model.
        parallel: ``ray`` (one task per model) or ``local`` (one process, asyncio).
        max_image_px: Longest side of the images sent to models (downscaled, PNG).
    """

    kind: Literal["spectrum"] = "spectrum"
    name: str = Field(default="spectrum", pattern=r"^[A-Za-z0-9_.\-]+$")
    store: Path
    embedder: str = "minilm"
    ingest: IngestSource | None = None
    models: tuple[ModelSpec, ...] = Field(min_length=1)
    top_k: int = Field(default=5, ge=1, le=100)
    filters: SpectrumFilters = SpectrumFilters()
    values: Path | None = None
    keyword_template: str = "{keyword}"
    abundance_radius: float = Field(default=1.5, gt=0)
    followups: bool = True
    caption_llm: tuple[CaptionPair, ...] = ()
    budget_usd: float | None = Field(default=None, ge=0)
    cache_dir: Path | None = None
    output_dir: Path
    seed: int = 0
    concurrency: int = Field(default=4, ge=1, le=256)
    parallel: Literal["ray", "local"] = "ray"
    max_image_px: int = Field(default=768, ge=64)

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
        if v != "minilm" and not re.fullmatch(r"clip:[\w.\-]+(/[\w.\-]+)?", v):
            raise ValueError("expected 'minilm' or 'clip:<arch>[/<pretrained>]'")
        return v

    @field_validator("keyword_template")
    @classmethod
    def _template(cls, v: str) -> str:
        if "{keyword}" not in v:
            raise ValueError("must contain {keyword}")
        return v

    @model_validator(mode="after")
    def _unique_labels(self) -> SpectrumSpec:
        labels = [arm_label(m) for m in self.models]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ValueError(f"models: duplicate labels {dupes}; give each a distinct 'name'")
        return self


def arm_label(spec: ModelSpec) -> str:
    """Column label of a model in tables: its `name`, else its spec string."""
    return spec.name or spec.spec


def _resolve(path: Path | None, base: Path) -> Path | None:
    if path is None:
        return None
    path = Path(str(path)).expanduser()
    return path if path.is_absolute() else (base / path)


def load_spectrum_spec(path: str | Path, base: str | Path | None = None) -> SpectrumSpec:
    """Load and validate a spectrum spec; relative paths resolve against `base` (the cwd).

    Raises:
        ConfigError: naming the file, line and field of every problem.
    """
    data, lines = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of spectrum settings")
    spec = validate(SpectrumSpec, data, str(path), lines)
    base = Path(base) if base is not None else Path.cwd()
    updates: dict[str, Any] = {k: _resolve(getattr(spec, k), base)
                               for k in ("store", "values", "cache_dir", "output_dir")}
    if spec.ingest is not None:
        updates["ingest"] = spec.ingest.model_copy(update={
            k: _resolve(getattr(spec.ingest, k), base) for k in ("corpus", "folder", "csv", "run")})
    return spec.model_copy(update=updates)

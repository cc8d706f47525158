"""Experiment specs (YAML under `experiments/`) and their expansion into trials."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from valuespectrum.config import ConfigError, read_yaml, validate
from valuespectrum.feed.recommenders import validate_style
from valuespectrum.models.spec import ModelSpec
from valuespectrum.personas import Persona, PersonaLibrary
from valuespectrum.types import Frozen

STRATEGIES = ("plain", "simple", "isq", "caption_llm")


class PlatformSpec(Frozen):
    """Where a viewer scrolls: a local feed style, reached through an environment kind."""

    style: str = Field(description="tiktok | youtube | instagram | random (local feed)")
    environment: Literal["playwright", "http"] = "playwright"

    @field_validator("style")
    @classmethod
    def _known_style(cls, v: str) -> str:
        return validate_style(v)

    @property
    def label(self) -> str:
        return self.style



class ExperimentSpec(Frozen):
    """A persona sweep: the grid personas x models x platforms x strategies, N trials per cell."""

    name: str = Field(pattern=r"^[A-Za-z0-9_\-.]+$")
    description: str = ""
    personas: list[str] = Field(min_length=1, description="persona names or globs")
    persona_dir: str = "personas"
    models: list[ModelSpec] = Field(min_length=1)
    platforms: list[PlatformSpec] = Field(min_length=1)
    strategies: list[str] = Field(default=["simple"], min_length=1)
    environment: Literal["playwright", "http"] = Field(
        default="playwright", description="default environment kind for platforms given as strings"
    )
    trials: int = Field(default=10, ge=1, description="trials per cell")
    scrolls: int = Field(default=100, ge=1)
    window: int = Field(default=50, ge=1)
    seed: int = 0
    concurrency: int = Field(default=4, ge=1, description="viewer agents running at once")
    agents_per_actor: int = Field(default=8, ge=1, description="agents sharing one browser")
    output: str = "runs/{name}"
    budget_usd: float | None = Field(default=None, gt=0)
    corpus: str | None = Field(default=None, description="corpus directory (default corpus if unset)")
    screenshots: bool = True
    trial_timeout_s: float = Field(default=1800, gt=0)
    max_restarts: int = Field(default=2, ge=0, description="environment rebuilds per trial")

    @model_validator(mode="before")
    @classmethod
    def _platform_strings(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("platforms"), list):
            env = data.get("environment", "playwright")
            data = dict(data)
            data["platforms"] = [
                {"style": p, "environment": env} if isinstance(p, str) else p
                for p in data["platforms"]
            ]
        return data

    @field_validator("models", mode="before")
    @classmethod
    def _parse_models(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [ModelSpec.parse(m) if isinstance(m, str | dict) else m for m in v]
        return v

    @field_validator("strategies")
    @classmethod
    def _known_strategies(cls, v: list[str]) -> list[str]:
        for s in v:
            if s not in STRATEGIES:
                raise ValueError(f"unknown strategy {s!r}; expected one of {', '.join(STRATEGIES)}")
        return v

    @field_validator("output")
    @classmethod
    def _output_template(cls, v: str) -> str:
        try:
            v.format(name="x")
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(
                f"output {v!r}: only the placeholder {{name}} is supported ({e!r})"
            ) from None
        return v

    @model_validator(mode="after")
    def _windows_do_not_overlap(self) -> ExperimentSpec:
        if 2 * self.window > self.scrolls:
            raise ValueError(
                f"window ({self.window}) must be at most half of scrolls ({self.scrolls}): "
                "I_avg compares the first and the last window, which must not overlap"
            )
        return self

    def output_dir(self) -> Path:
        return Path(self.output.format(name=self.name))


class TrialSpec(Frozen):
    """One trial: everything an actor needs to run it, and nothing live (picklable)."""

    trial_id: str
    cell: str
    index: int
    persona: Persona
    model: ModelSpec
    platform: PlatformSpec
    strategy: str
    scrolls: int
    window: int
    seed: int
    screenshots: bool = True


OPERATIONAL_MODEL_FIELDS = {"base_url", "api_key_env", "price", "rate_limit_rpm", "max_concurrency",
                            "retries", "backoff_s", "backoff_max_s", "cache", "vllm"}


def trial_fingerprint(trial: TrialSpec) -> str:
    """What a trial's recorded steps depend on (not the window or the screenshot flag).

    A rerun may only resume trials whose fingerprint is unchanged: an edited persona,
    model spec, scroll count or seed makes earlier records belong to another experiment.
    Where and how a model is reached (endpoint URL, key variable, limits, retries, cache,
    price, vLLM launch options) may change: the same model answers.
    """
    data = trial.model_dump(mode="json", exclude={
        "window": True, "screenshots": True, "model": OPERATIONAL_MODEL_FIELDS})
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "-", text).strip("-")


def derive_seed(base: int, trial_id: str) -> int:
    """A stable 32-bit seed from the experiment seed and the trial id."""
    h = hashlib.sha256(f"{base}:{trial_id}".encode()).digest()
    return int.from_bytes(h[:4], "little")


def cell_key(persona: str, model: str, platform: str, strategy: str) -> str:
    return f"{persona}|{model}|{platform}|{strategy}"


def expand(spec: ExperimentSpec, personas: list[Persona]) -> list[TrialSpec]:
    """The grid as trials with stable ids and derived seeds, in a fixed order."""
    trials = []
    for persona in personas:
        for model in spec.models:
            for platform in spec.platforms:
                for strategy in spec.strategies:
                    cell = cell_key(persona.name, model.label, platform.label, strategy)
                    for i in range(spec.trials):
                        tid = _slug(f"{persona.name}.{model.label}.{platform.label}.{strategy}.{i:03d}")
                        trials.append(
                            TrialSpec(
                                trial_id=tid, cell=cell, index=i, persona=persona, model=model,
                                platform=platform, strategy=strategy, scrolls=spec.scrolls,
                                window=spec.window, seed=derive_seed(spec.seed, tid),
                                screenshots=spec.screenshots,
                            )
                        )
    ids = [t.trial_id for t in trials]
    if len(set(ids)) != len(ids):
        raise ConfigError("two grid cells produce the same trial id; give models distinct labels")
    return trials


def load_experiment(path: str | Path) -> tuple[ExperimentSpec, list[Persona]]:
    """Load a spec file and resolve its personas (relative to the current directory)."""
    data, lines = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of experiment fields")
    spec = validate(ExperimentSpec, data, str(path), lines)
    try:
        personas = PersonaLibrary(spec.persona_dir).select(spec.personas)
    except ConfigError as e:
        raise ConfigError(f"{path}: personas: {e}") from None
    return spec, personas

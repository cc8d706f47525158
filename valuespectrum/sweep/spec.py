"""Sweep specs (YAML, ``kind: sweep``), their resolution, expansion into trials, and plan.

Example::

    kind: sweep
    name: demo
    personas: [pet_owner]            # names or globs in persona_dir, or inline mappings
    persona_dir: ../personas         # an input: relative to this file's folder
    models: ["embed:minilm"]
    platforms: [tiktok, tiktok-frozen]
    strategies: [simple]
    trials: 10
    scrolls: 100
    window: 50
    analysis: {estimand: session}    # the declared analysis plan (sweep/analysis.py)
    output: runs/{name}              # an output: relative to the current directory
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from valuespectrum.config import ConfigError, read_yaml, validate
from valuespectrum.environments.observation import ObservationMode
from valuespectrum.environments.spec import validate_kind
from valuespectrum.feed.recommenders import load_recommender_params, with_overrides
from valuespectrum.models.baselines import viewer_rule
from valuespectrum.models.providers import PROVIDERS
from valuespectrum.models.spec import OPERATIONAL_FIELDS, ModelSpec
from valuespectrum.names import SAFE_NAME_PATTERN, slug
from valuespectrum.personas import Persona, PersonaLibrary
from valuespectrum.runs import Plan, fingerprint
from valuespectrum.specs import (
    check_output_template,
    check_unique_labels,
    resolve_input,
    resolve_output,
)
from valuespectrum.strategies import StrategyOptions, load_prompts, validate_strategy
from valuespectrum.sweep.analysis import AnalysisPlan
from valuespectrum.trial import (
    PlatformSpec,
    TrialSpec,
    cell_key,
    derive_seed,
    trial_seed_key,
)
from valuespectrum.types import Frozen

#: The most trials one sweep may plan (each is a record in the plan and the tables).
MAX_TRIALS = 200_000

#: Fields that may change between a run and its resumption (they do not change results).
#: `window` and `analysis` are not among them: they are the declared analysis plan, and a
#: plan fixed before the run cannot change after its results are seen.
RESUMABLE_FIELDS = frozenset({
    "description", "concurrency", "agents_per_actor", "feed_servers", "feed_placement",
    "budget_usd",
    "trial_timeout_s", "max_restarts", "screenshots", "output", "cache_dir", "persona_dir",
    "contrasts",
})

#: The plan entry that fingerprints the declared analysis (the `analysis` block and window).
ANALYSIS_ENTRY = "analysis"


class ContrastSpec(Frozen):
    """A comparison a sweep reports: cells of `treatment` against cells of `control`.

    Each side names one grid dimension's value; cells are matched on every other
    dimension (e.g. ``{dimension: model, treatment: gpt-4o, control: claude}``).
    """

    dimension: str = Field(pattern=r"^(persona|model|platform|strategy)$")
    treatment: str
    control: str


def unknown_contrast_value(contrasts: list[ContrastSpec],
                           known: dict[str, list[str]]) -> str | None:
    """The first contrast side naming no arm of the sweep, among the dimensions in `known`
    (dimension -> the sweep's values), as an error message; None when all are known."""
    for i, c in enumerate(contrasts):
        values = known.get(c.dimension)
        for side in ("treatment", "control"):
            if values is not None and getattr(c, side) not in values:
                return (f"contrasts.{i}.{side}: no {c.dimension} is called "
                        f"{getattr(c, side)!r}; the sweep's are {', '.join(values)}")
    return None


class SweepSpec(Frozen):
    """A persona sweep: personas x models x platforms x strategies, N trials per cell."""

    kind: str = Field(default="sweep", pattern=r"^sweep$")
    name: str = Field(pattern=SAFE_NAME_PATTERN)
    description: str = ""
    personas: list[str | dict[str, Any]] = Field(
        min_length=1, description="persona names or globs, or inline personas (may `extends`)")
    persona_dir: str = "personas"
    models: list[ModelSpec] = Field(min_length=1)
    platforms: list[PlatformSpec] = Field(min_length=1)
    strategies: list[str] = Field(default=["simple"], min_length=1)
    strategy_options: StrategyOptions = Field(
        default_factory=StrategyOptions, description=(
            "the strategies' parameters, one flat block (isq_format, followups, "
            "caption_question); each trial records those of its strategy"))
    environment: str = Field(default="playwright",
                             description="environment kind for platforms given as strings")
    trials: int = Field(default=10, ge=1, le=100_000, description="trials per cell")
    scrolls: int = Field(default=100, ge=1, le=100_000)
    window: int = Field(default=50, ge=1)
    seed: int = 0
    concurrency: int = Field(default=4, ge=1, le=10_000,
                             description="viewer agents running at once")
    # up to concurrency's own cap: 2,000 HTTP agents on a 2-CPU machine need 500 per actor
    feed_servers: int = Field(default=0, ge=0, le=64, description=(
        "feed server processes on the driver's node, or on each viewer node with "
        "feed_placement: nodes (0: the driver serves the feed)"))
    feed_placement: Literal["driver", "nodes"] = Field(default="driver", description=(
        "where the feed processes run: on the driver's node, or feed_servers of them on "
        "every viewer node, each serving the trials of its node's actors (the corpus must "
        "be at the same path on every node); docs/scale.md"))
    agents_per_actor: int = Field(default=8, ge=1, le=10_000,
                                  description="agents sharing one actor (and its browser)")
    output: str = "runs/{name}"
    cache_dir: str | None = "${VSPEC_HOME}/cache"
    budget_usd: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    corpus: str = "${VSPEC_HOME}/corpus/openclipart"
    prompts: str | None = Field(default=None, description="prompt file (default: packaged)")
    recommenders: str | dict[str, Any] | None = Field(
        default=None, description="recommender parameter file, or per-style overrides")
    screenshots: bool = True
    trial_timeout_s: float = Field(default=1800, gt=0, le=30 * 86400)
    max_restarts: int = Field(default=2, ge=0, le=100,
                              description="environment rebuilds (or actor restarts) per trial")
    contrasts: list[ContrastSpec] = Field(default_factory=list)
    analysis: AnalysisPlan = Field(default_factory=AnalysisPlan,
                                   description="the declared analysis plan")

    _personas: list[Persona] = PrivateAttr(default_factory=list)
    _base: Path = PrivateAttr(default_factory=Path.cwd)

    @model_validator(mode="before")
    @classmethod
    def _platform_strings(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("platforms"), list):
            env = data.get("environment", "playwright")
            data = dict(data)
            data["platforms"] = [{"style": p, "environment": env} if isinstance(p, str) else p
                                 for p in data["platforms"]]
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
        return [validate_strategy(s) for s in v]

    @field_validator("environment")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        return validate_kind(v)

    @field_validator("output")
    @classmethod
    def _output_template(cls, v: str) -> str:
        return check_output_template(v)

    @model_validator(mode="after")
    def _windows_do_not_overlap(self) -> SweepSpec:
        if self.feed_placement == "nodes" and self.feed_servers < 1:
            raise ValueError("feed_placement: nodes starts feed_servers processes on every "
                             "viewer node: set feed_servers to 1 or more")
        if 2 * self.window > self.scrolls:
            raise ValueError(
                f"window ({self.window}) must be at most half of scrolls ({self.scrolls}): "
                "the first and the last window must not overlap")
        check_unique_labels(self.models)
        labels = [p.label for p in self.platforms]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:  # trial ids carry the label: two such platforms would share their trials
            raise ValueError(f"platforms: {', '.join(dupes)} is listed twice; to compare "
                             "environments or options of one style, give each platform its "
                             "own `name` (e.g. {style: tiktok, name: tiktok-frames, options: "
                             "{observation: frames}})")
        if self.analysis.confirmatory == "named" and not self.contrasts:
            raise ValueError("analysis.confirmatory: named makes the spec's `contrasts:` the "
                             "confirmatory family, but the spec names none")
        problem = unknown_contrast_value(self.contrasts, {  # personas: once resolved
            "model": [m.label for m in self.models], "platform": labels,
            "strategy": self.strategies})
        if problem:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _launched_models_take_every_frame(self) -> SweepSpec:
        frames = max(ObservationMode.from_options(p.options).frames for p in self.platforms)
        for i, m in enumerate(self.models):
            limit = m.vllm.max_images if m.vllm else 1
            if m.spec.startswith("vllm:") and m.base_url is None and limit < frames:
                raise ValueError(
                    f"models.{i}: the vLLM server it launches takes {limit} image(s) per "
                    f"prompt, but the observation sends {frames} frames; set "
                    f"vllm: {{max_images: {frames}}}")
        return self

    @model_validator(mode="after")
    def _no_screenshot_only_for_text_readers(self) -> SweepSpec:
        for j, p in enumerate(self.platforms):
            if p.options.get("screenshot") != "none":
                continue
            if self.screenshots:
                raise ValueError(f"platforms.{j}: options.screenshot: none takes no screenshot "
                                 "to store; set screenshots: false")
            for i, m in enumerate(self.models):
                if PROVIDERS[m.provider].reads_pixels(m.target):
                    raise ValueError(f"models.{i}: {m.spec} looks at screenshots, but "
                                     f"platforms.{j} takes none (options.screenshot: none)")
        return self

    # ------------------------------------------------------------------ resolved views
    @property
    def persona_list(self) -> list[Persona]:
        """The personas, resolved by `load_sweep_spec` (names, globs and inline ones)."""
        return list(self._personas)

    def output_dir(self) -> Path:
        return resolve_output(self.output.format(name=self.name))

    def cache_path(self) -> Path | None:
        return resolve_output(self.cache_dir) if self.cache_dir else None

    def corpus_path(self) -> Path:
        return resolve_input(self.corpus, self._base)

    def prompt_set(self) -> dict[str, Any]:
        return load_prompts(resolve_input(self.prompts, self._base) if self.prompts else None)

    def recommender_params(self) -> Any:
        """All styles' parameters: packaged, from a file, or packaged with overrides."""
        if isinstance(self.recommenders, str):
            return load_recommender_params(resolve_input(self.recommenders, self._base))
        return with_overrides(load_recommender_params(), self.recommenders or {},
                              source="recommenders")

    def saved(self) -> dict[str, Any]:
        """The resolved spec as data: absolute inputs, personas and parameters inline."""
        data = self.model_dump(mode="json", exclude_defaults=False)
        data["personas"] = [p.model_dump(mode="json") for p in self._personas]
        data["persona_dir"] = str(resolve_input(self.persona_dir, self._base))
        data["corpus"] = str(self.corpus_path())
        if self.prompts:
            data["prompts"] = str(resolve_input(self.prompts, self._base))
        data["recommenders"] = self.recommender_params().model_dump(mode="json")
        return data


def expand(spec: SweepSpec, personas: list[Persona] | None = None,
           prompts: dict[str, Any] | None = None) -> list[TrialSpec]:
    """The grid as trials with stable ids and derived seeds, in a fixed order."""
    personas = spec.persona_list if personas is None else personas
    trials = []
    for persona in personas:
        for model in spec.models:
            for platform in spec.platforms:
                for strategy in spec.strategies:
                    params = spec.strategy_options.params_for(strategy).model_dump(mode="json")
                    cell = cell_key(persona.name, model.label, platform.label, strategy)
                    for i in range(spec.trials):
                        tid = slug(f"{persona.name}.{model.label}.{platform.label}."
                                   f"{strategy}.{i:03d}")
                        trials.append(TrialSpec(
                            trial_id=tid, cell=cell, index=i, persona=persona, model=model,
                            platform=platform, strategy=strategy, scrolls=spec.scrolls,
                            seed=derive_seed(spec.seed, trial_seed_key(persona.name, i)),
                            screenshots=spec.screenshots,
                            prompts=prompts or {}, strategy_params=params))
    ids = [t.trial_id for t in trials]
    if len(set(ids)) != len(ids):
        raise ConfigError("two grid cells produce the same trial id; give models distinct names")
    return trials


def plan_for(trials: list[TrialSpec], context: dict[str, Any], *,
             options: StrategyOptions) -> Plan:
    """Each trial's fingerprint: what its recorded steps depend on.

    The trial itself (persona content, with the relevance labels recorded per step; model,
    platform and environment kind, strategy and the sweep's `options`, scrolls, seed,
    prompt set) without where and how the model is reached (endpoint URL, key variable,
    limits, retries, cache, price, vLLM launch options: the same model answers), plus the
    context: corpus fingerprint, the recommender parameters of the trial's feed style, the
    prompt-set version.

    The strategy enters as the whole `strategy_options` block, as plans have held it since
    before strategies had parameter models (`TrialSpec.strategy_params` derive from it), so
    runs planned then still resume.
    """
    legacy_options = options.model_dump(mode="json")
    entries = {}
    for t in trials:
        if t.strategy_params != options.params_for(t.strategy).model_dump(mode="json"):
            raise ValueError(f"trial {t.trial_id}: its strategy parameters "
                             f"{t.strategy_params} are not the sweep's strategy_options")
        # a platform's name is a label (the trial id, this entry's key, carries it)
        data = t.model_dump(mode="json", exclude={
            "screenshots": True, "prompts": True, "model": set(OPERATIONAL_FIELDS),
            "platform": {"name"}, "strategy_params": True})
        data["options"] = legacy_options
        if data["persona"].get("relevant") is None:
            # a persona without relevance labels plans as it did before labels existed
            data["persona"].pop("relevant", None)
        rule = viewer_rule(t.model)
        if rule is not None:  # a CPU viewer whose rule changed under the same spec string
            data["viewer_rule"] = rule
        style_params = context["recommenders"].get(t.platform.style)
        entries[t.trial_id] = fingerprint(data, context["corpus"], style_params,
                                          context["prompts"])
    if "analysis" in context:  # the declared analysis: one entry, so old runs still resume
        entries[ANALYSIS_ENTRY] = fingerprint(context["window"], context["analysis"])
    return Plan(context=context, entries=entries)


def planned_trials(plan: Plan) -> list[str]:
    """The trial ids a sweep's plan holds (its entries less the analysis entry)."""
    return [k for k in plan.entries if k != ANALYSIS_ENTRY]


def analysis_context(spec: SweepSpec) -> dict[str, Any]:
    """The plan context of a sweep's declared analysis: its window and `analysis` block."""
    return {"window": spec.window, "analysis": spec.analysis.model_dump(mode="json")}


def run_order(trials: list[TrialSpec]) -> list[TrialSpec]:
    """The order trials start in: round-robin over the cells by trial index (trial 0 of
    every cell, then trial 1...), so a stop, a budget cut or an endpoint that drifts over
    the hours of a run hits every arm alike. Stable: resuming keeps the order."""
    return sorted(trials, key=lambda t: t.index)


def load_sweep_spec(path: str | Path) -> SweepSpec:
    """Load a sweep spec; inputs resolve against the file's folder, personas are loaded.

    Raises:
        ConfigError: naming the file, line and field of every problem.
    """
    path = Path(path)
    data, lines = read_yaml(path)
    return sweep_spec_from_data(data, path.parent, str(path), lines)


def sweep_spec_from_data(data: Any, base: str | Path, source: str,
                         lines: dict | None = None) -> SweepSpec:
    """Validate spec data as if read from a file in `base` (inputs resolve against it)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of sweep fields")
    spec = validate(SweepSpec, data, source, lines)
    spec._base = Path(base).resolve()
    library = PersonaLibrary(resolve_input(spec.persona_dir, spec._base))
    personas: list[Persona] = []
    from_files: set[str] = set()  # globs may overlap; an inline persona may not shadow a file
    try:
        for i, entry in enumerate(spec.personas):
            if isinstance(entry, dict):
                personas.append(library.resolve(entry, f"{source}: personas.{i}", None))
                continue
            for p in library.select([entry]):
                if p.name not in from_files:
                    from_files.add(p.name)
                    personas.append(p)
    except ConfigError as e:
        raise ConfigError(f"{source}: personas: {e} (persona_dir resolves against the spec "
                          "file's folder)") from None
    names = [p.name for p in personas]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: personas: two personas are named "
                          f"{sorted({n for n in names if names.count(n) > 1})}")
    problem = unknown_contrast_value(spec.contrasts, {"persona": names})
    if problem:
        raise ConfigError(f"{source}: {problem}")
    spec._personas = personas
    grid = len(personas) * len(spec.models) * len(spec.platforms) * len(spec.strategies)
    if grid * spec.trials > MAX_TRIALS:
        line = f":{lines[('trials',)]}" if lines and ("trials",) in lines else ""
        raise ConfigError(f"{source}{line}: trials: {grid} cells x {spec.trials} trials is more "
                          f"than {MAX_TRIALS:,} trials; split the sweep")
    spec.recommender_params()  # a bad override fails here, naming the field
    return spec

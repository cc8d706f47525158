"""`probe`: one question about N images, a third kind of run written on the engine.

The example docs/engine.md walks through: one module plus one line in
`engine.registry.TASKS` make a new kind of run, with everything the engine gives the two
built-in tasks: `vspec run probe.yaml`, a locked run directory, a plan fingerprint that
refuses a changed spec, a journal that a killed run resumes from, units on the fault-tolerant
actor pool, `vspec report`. A spec::

    kind: probe
    name: smiles
    model: embed:minilm          # any model spec (an API VLM, vLLM, a CPU viewer)
    question: Is anyone smiling in this picture? Answer yes or no.
    images: pictures/            # a folder (resolved against the spec's folder)
    limit: 20                    # the first N images by name
    output: runs/{name}

RUN_DIR adds ``journal/answers.jsonl`` (one line per answer), ``results.parquet`` (one row
per image, by name) and ``summary.json`` (the share of yes among the answered images).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, PrivateAttr, field_validator

from valuespectrum.cluster import ClusterError, api_keys, install_api_keys
from valuespectrum.config import ConfigError, read_yaml, validate
from valuespectrum.console import console, fail
from valuespectrum.engine.lifecycle import RunLifecycle
from valuespectrum.engine.pool import ActorLost, ActorPool
from valuespectrum.engine.reader import RunReader
from valuespectrum.engine.task import LaunchOptions
from valuespectrum.models import build_backend
from valuespectrum.models.base import (
    STOPS_THE_RUN,
    BackendError,
    backend_error_text,
    is_backend_error,
)
from valuespectrum.models.shared import run_scope
from valuespectrum.models.spec import OPERATIONAL_FIELDS, ModelSpec
from valuespectrum.names import SAFE_NAME_PATTERN
from valuespectrum.runs import (
    Plan,
    RunDirectory,
    arrow_schema,
    fingerprint,
    write_json,
    write_table,
)
from valuespectrum.specs import check_output_template, resolve_input, resolve_output
from valuespectrum.spectrum.arms import load_png
from valuespectrum.types import Frozen, GenerateConfig, ImagePart, Message, TextPart

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: How many times an image is asked again on a revived actor after its actor died.
ACTOR_RESTARTS = 3


class ProbeSpec(Frozen):
    kind: Literal["probe"] = "probe"
    name: str = Field(default="probe", pattern=SAFE_NAME_PATTERN)
    model: ModelSpec
    question: str = Field(min_length=1)
    images: str = Field(description="a folder of images, resolved against the spec's folder")
    limit: int = Field(default=20, ge=1)
    max_image_px: int = Field(default=512, ge=16)
    actors: int = Field(default=2, ge=1, description="answer actors in the pool")
    output: str = "runs/{name}"
    _base: Path = PrivateAttr(default_factory=Path.cwd)

    @field_validator("model", mode="before")
    @classmethod
    def _model(cls, v: Any) -> Any:
        return ModelSpec.parse(v, "model") if isinstance(v, str | dict) else v

    @field_validator("output")
    @classmethod
    def _output(cls, v: str) -> str:
        return check_output_template(v)

    def image_paths(self) -> list[Path]:
        folder = resolve_input(self.images, self._base)
        if not folder.is_dir():
            raise ConfigError(f"images: {folder} is not a folder")
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise ConfigError(f"images: {folder} holds no image ({', '.join(IMAGE_SUFFIXES)})")
        return found[:self.limit]

    def saved(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["images"] = str(resolve_input(self.images, self._base))
        return data


class ProbeRow(Frozen):
    image: str
    yes: bool | None = None
    answer: str = ""
    error: str | None = None


def parse_yes(text: str) -> bool | None:
    """Yes or no from the reply's first word; None when it says neither."""
    word = text.strip().split(maxsplit=1)[0].strip(".,!:;\"'").lower() if text.strip() else ""
    return {"yes": True, "no": False}.get(word)


class ProbeHost:
    """What one answer actor of the pool does: asks the question about one image (its
    backend is built at the first question and kept; `shutdown` closes it)."""

    def __init__(self) -> None:
        self._backend: Any = None

    async def ask(self, spec: ProbeSpec, name: str, png: bytes,
                  keys: dict[str, str]) -> dict[str, Any]:
        install_api_keys(keys)
        if self._backend is None:
            self._backend = build_backend(spec.model)
        try:
            reply = await self._backend.generate(
                [Message(role="user", content=(ImagePart(png=png), TextPart(text=spec.question)))],
                GenerateConfig(max_tokens=16))
            row = ProbeRow(image=name, yes=parse_yes(reply.text), answer=reply.text)
        except STOPS_THE_RUN:
            raise  # the probe stops (the run's error names the cause; answers are kept)
        except BackendError as e:
            row = ProbeRow(image=name, error=backend_error_text(e))
        return row.model_dump(mode="json")

    async def ping(self) -> dict[str, Any]:
        return {"pid": os.getpid()}

    async def shutdown(self) -> None:
        if self._backend is not None:
            await self._backend.aclose()
            self._backend = None


class ProbeRun:
    """The engine's `RunBody` for one probe spec."""

    resumable = frozenset({"actors"})

    def __init__(self, spec: ProbeSpec, *, ray_address: str | None = None,
                 restart: bool = False, output: Path | None = None) -> None:
        self.spec = spec
        self.run_dir = RunDirectory(output or resolve_output(spec.output.format(name=spec.name)),
                                    "probe")
        self.scope = run_scope(spec.name, self.run_dir.root)
        self.ray_address, self.restart = ray_address, restart
        self.images = spec.image_paths()
        self.pool: ActorPool | None = None
        self.keys: dict[str, str] = {}

    def run(self) -> dict[str, Any]:
        self.keys = api_keys([self.spec.model])  # a missing key fails before anything starts
        return RunLifecycle(self.ray_address).run(self, restart=self.restart)

    def saved_spec(self) -> dict[str, Any]:
        return self.spec.saved()

    def plan(self) -> Plan:
        model = self.spec.model.model_dump(mode="json", exclude=set(OPERATIONAL_FIELDS))
        return Plan(context={"question": self.spec.question},
                    entries={p.name: fingerprint(model, self.spec.question,
                                                 self.spec.max_image_px, p.stat().st_size)
                             for p in self.images})

    def resume(self) -> None:
        self.run_dir.journal("answers").repair()

    def execute(self, life: RunLifecycle) -> dict[str, Any]:
        journal = self.run_dir.journal("answers")
        done = {r["image"] for r in journal.rows() if not is_backend_error(r["error"])}
        todo = [p for p in self.images if p.name not in done]
        if todo:
            life.start_ray()
            asyncio.run(self._ask(todo, journal))
        latest = {r["image"]: r for r in journal.rows()}
        rows = [latest[p.name] for p in self.images if p.name in latest]
        write_table(self.run_dir.root / "results.parquet", rows, arrow_schema(ProbeRow))
        answered = [r["yes"] for r in rows if r["yes"] is not None]
        summary = {"kind": "probe", "question": self.spec.question, "model": self.spec.model.label,
                   "images": len(self.images), "answered": len(answered),
                   "yes_share": sum(answered) / len(answered) if answered else None,
                   "complete": len(rows) == len(self.images)}
        write_json(self.run_dir.root / "summary.json", summary)
        return summary

    async def _ask(self, todo: list[Path], journal: Any) -> None:
        import ray

        actor_class = ray.remote(num_cpus=0.25, max_restarts=ACTOR_RESTARTS)(ProbeHost)
        self.pool = ActorPool(actor_class.remote, min(self.spec.actors, len(todo))).start()
        queue = list(reversed(todo))

        async def worker(i: int) -> None:
            while queue:
                path = queue.pop()
                png = load_png(path, self.spec.max_image_px)

                async def ask(actor: Any, number: int, name: str = path.name,
                              png: bytes = png) -> dict[str, Any]:
                    return await actor.ask.remote(self.spec, name, png, self.keys)

                try:
                    row = await self.pool.call(i, ask, restarts=ACTOR_RESTARTS)
                except ActorLost as e:
                    raise ClusterError(f"probe {self.spec.name!r}, image {path.name}: its "
                                       f"actor died {e.deaths} times (last: {e.last}); the "
                                       "answers recorded are kept: rerun the same command to "
                                       "resume") from None
                journal.append(row)

        try:
            await asyncio.gather(*(worker(i) for i in range(self.pool.size)))
        finally:
            await self.pool.shutdown()

    def finish(self, failure: BaseException | None) -> None:
        """Nothing: `execute` writes the table from the journal; a rerun resumes."""


class ProbeSummary(Frozen):
    """summary.json of a probe run."""

    # read back by later versions too: a field a later version adds is ignored
    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: Literal["probe"] = "probe"
    question: str
    model: str
    images: int
    answered: int
    yes_share: float | None
    complete: bool


class ProbeTask:
    kind = "probe"
    title = "probe"
    summary_model = ProbeSummary

    def load_spec(self, path: str | Path) -> ProbeSpec:
        data, lines = read_yaml(path)
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of probe settings")
        spec = validate(ProbeSpec, data, str(path), lines)
        spec._base = Path(path).parent.resolve()
        return spec

    def launch(self, spec: ProbeSpec, options: LaunchOptions) -> None:
        run = ProbeRun(spec, ray_address=options.ray_address, restart=options.restart,
                       output=options.output)
        try:
            summary = run.run()
        except BackendError as e:  # a dead endpoint, an exhausted budget: answers are kept
            fail(f"{e}; rerun the same command to resume")
        if options.report:
            self.report(run.run_dir.root)
        share = summary["yes_share"]
        console.print(f"{spec.question} yes: {'n/a' if share is None else f'{share:.0%}'} of "
                      f"{summary['answered']} answered ({summary['images']} images); run "
                      f"directory: {run.run_dir.root}", markup=False, highlight=False,
                      soft_wrap=True)
        if not summary["complete"]:
            fail("some images were not answered; rerun the same command to resume", code=1)

    def report(self, run_dir: Path) -> Path:
        summary = RunReader(run_dir, self.kind).summary(ProbeSummary)
        out = run_dir / "report.md"
        out.write_text(f"# Probe: {summary.question}\n\nModel {summary.model}: yes on "
                       f"{summary.yes_share!r} of {summary.answered} answered images "
                       f"({summary.images} asked).\n")
        return out

    def source(self, root: Path, rid: str, spec: dict[str, Any]) -> None:
        """No viewer pages: `vspec view` skips probe runs (and says so for one given)."""
        return None


TASK = ProbeTask()

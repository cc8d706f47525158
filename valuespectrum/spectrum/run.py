"""The Value-Spectrum benchmark run (paper section 4; Figure 9 of section 6).

    spec -> [ingest] -> retrieval (top-k per keyword, once, by the store's single owner)
         -> units (one per arm and value) on the engine's pool of answer actors, the arms in
            parallel -> journals -> results.parquet -> summary.json (Table 1) -> report

The run goes through the engine's one lifecycle (`engine.lifecycle.RunLifecycle`), as a
sweep does; on Ray its units run on the engine's fault-tolerant `ActorPool`: an answer actor
killed mid-unit is restarted or replaced and the unit's unanswered items are asked again.

RUN_DIR (the shared `RunDirectory` layout) adds::

    retrieval.parquet    the images each keyword retrieved (frozen at the first run)
    abundance.json       Figure 2 counts
    journal/<arm>.jsonl  one line per answer, appended by the driver as answers arrive
    results.parquet      one row per answer, in a fixed order (see ResultRow)
    summary.json         kind: spectrum, Table 1 numbers, invalid counts, spend

Resume (rerun the same command): retrieval is read back instead of recomputed, answers
already journaled are kept (backend failures are redone) and the tables are rebuilt in the
same fixed order, so a resumed run ends with the same tables as an uninterrupted one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from valuespectrum.cluster import ClusterError, api_keys
from valuespectrum.config import ConfigError
from valuespectrum.console import console
from valuespectrum.engine.lifecycle import RunLifecycle
from valuespectrum.engine.pool import ActorLost, ActorPool, task_error
from valuespectrum.feed.sources import ensure_default_corpus
from valuespectrum.models import SharedBudget
from valuespectrum.models.shared import run_scope
from valuespectrum.report.spectrum import write_summary
from valuespectrum.runs import (
    Plan,
    RunDirectory,
    arrow_schema,
    fingerprint,
    read_table,
    unreadable_tables,
    write_json,
    write_table,
)
from valuespectrum.spectrum.arms import (
    Arm,
    ArmConfig,
    ArmStopped,
    ResultRow,
    SpectrumItem,
    answer_actor_class,
    answer_items,
    is_final,
    load_images,
    row_key,
)
from valuespectrum.spectrum.spec import RESUMABLE_FIELDS, SpectrumSpec
from valuespectrum.store.actor import StoreActor, StoreOwner
from valuespectrum.sweep.driver import prompt_context
from valuespectrum.values import load_values

RETRIEVAL = "retrieval"

#: How many times one unit is started again after its answer actor died, before the run
#: stops naming the cause (as a sweep's `max_restarts` default).
UNIT_RESTARTS = 3


class UnitFailed(ClusterError):
    """A unit could not be answered: its answer actor died more than `UNIT_RESTARTS` times."""


def plan_arms(spec: SpectrumSpec) -> list[Arm]:
    """The plain arm of every model, then a caption_llm arm per Figure 9 pair.

    A pair's VLM also gets a plain arm (added if it is not among `models`), since Figure 9
    compares the VLM's direct answers with the caption + LLM answers on the same images.
    """
    arms = [Arm(label=m.label, strategy="plain", model=m, vlm_label=m.label) for m in spec.models]
    have = {a.label for a in arms}
    for pair in spec.caption_llm:
        vlm = pair.vlm.label
        if vlm not in have:
            arms.append(Arm(label=vlm, strategy="plain", model=pair.vlm, vlm_label=vlm))
            have.add(vlm)
        label = f"{vlm}+{pair.llm.label}"
        if label not in have:
            arms.append(Arm(label=label, strategy="caption_llm", model=pair.vlm,
                            text_model=pair.llm, vlm_label=vlm))
            have.add(label)
    return arms


class SpectrumRun:
    """Drives one spectrum run directory (single writer; rerunning resumes).

    Args:
        spec: A spec from `load_spectrum_spec` (inputs resolved).
        ray_address: Join this Ray cluster (``parallel: ray``; default: local Ray).
        restart: Clear the run directory's earlier results first.
        output: Override the spec's output directory.
    """

    def __init__(self, spec: SpectrumSpec, *, ray_address: str | None = None,
                 restart: bool = False, output: str | Path | None = None) -> None:
        self.spec = spec
        self.run_dir = RunDirectory(Path(output) if output else spec.output_dir(), "spectrum")
        self.root = self.run_dir.root
        self.ray_address = ray_address
        self.restart = restart
        self.arms = plan_arms(spec)
        self.prompts = spec.prompt_set()
        self.scope = run_scope(spec.name, self.root)
        self.repaired: dict[str, int] = {}
        self.damaged: list[str] = []
        self.progress = True
        #: The engine's pool of answer actors while units run on Ray (tests kill them).
        self.pool: ActorPool | None = None
        #: Units started again after their actor died (`vspec run` prints the count).
        self.restarts = 0

    # ------------------------------------------------------------------ the plan
    def plan(self) -> Plan:
        """Retrieval and each arm, fingerprinted by what their results depend on."""
        s = self.spec
        catalog = load_values(s.values_path())
        context = {"prompts": prompt_context(self.prompts),
                   "values": fingerprint(catalog.model_dump(mode="json"))}
        retrieval = fingerprint(s.embedder, s.top_k, s.filters.model_dump(mode="json"),
                                s.keyword_template, s.abundance_radius, context["values"])
        entries = {RETRIEVAL: retrieval}
        for arm in self.arms:
            entries[f"arm:{arm.label}"] = fingerprint(
                arm.fingerprint_data(), s.followups, s.max_image_px, s.seed, context["prompts"],
                retrieval)
        return Plan(context=context, entries=entries)

    def _config(self) -> ArmConfig:
        s = self.spec
        cache = s.cache_path()
        return ArmConfig(run_name=self.scope, cache_dir=str(cache) if cache else None,
                         budget_usd=s.budget_usd, followups=s.followups,
                         concurrency=s.concurrency, seed=s.seed, prompts=self.prompts,
                         log_path=str(self.run_dir.log_path()))

    # ------------------------------------------------------------------ retrieval
    def retrieve(self, progress: bool = True) -> list[SpectrumItem]:
        """Ingest (if asked), then retrieve and record the images and abundance, once.

        On Ray the store is opened by a `StoreActor` (after Ray started), never in the
        driver; locally the driver owns it for this step only.
        """
        path = self.root / "retrieval.parquet"
        if path.exists():
            return [SpectrumItem(**r) for r in read_table(path)]

        s = self.spec
        args = {"k": s.top_k, "filters": s.filters.model_dump(), "template": s.keyword_template,
                "radius": s.abundance_radius, "ingest": s.ingest_source()}
        if s.parallel == "ray":
            import ray

            owner = StoreActor.spawn(s.store_uri(), s.embedder, s.values_path(),
                                     log_path=self.run_dir.log_path())
            try:
                got = ray.get(owner.prepare.remote(**args))
                ray.get(owner.close.remote())
            except ray.exceptions.RayTaskError as e:  # the store's own error, not Ray's
                raise task_error(e) from None
            finally:
                ray.kill(owner)
        else:
            local = StoreOwner(s.store_uri(), s.embedder, s.values_path())
            try:
                got = local.prepare(**args, progress=progress)
            finally:
                local.close()
        if got["count"] == 0:
            raise ConfigError(f"{s.store_uri()}: the store has no screenshots for embedder "
                              f"{s.embedder}; ingest some first (`vspec store ingest`)")
        if not got["retrieved"]:
            raise ConfigError(f"{s.store_uri()}: no screenshot matches the filters "
                              f"{s.filters.model_dump(exclude_none=True)} (screenshots "
                              "without a post date never pass a date filter)")
        items = [SpectrumItem(value=r.value, keyword=r.keyword, rank=r.rank, image_id=str(r.hit.id),
                              path=r.hit.path, caption=r.hit.caption, platform=r.hit.platform,
                              posted=r.hit.posted, link=r.hit.link, distance=r.hit.distance)
                 for r in got["retrieved"]]
        write_json(self.root / "abundance.json", got["abundance"].model_dump(mode="json"))
        write_table(path, [it.model_dump(mode="json") for it in items], arrow_schema(SpectrumItem))
        return items

    # ------------------------------------------------------------------ answering
    def pending(self, items: list[SpectrumItem]) -> dict[str, list[SpectrumItem]]:
        """Per arm, the items without a final answer in its journal."""
        out = {}
        for arm in self.arms:
            done = {row_key(r) for r in self.run_dir.journal(arm.label).rows() if is_final(r)}
            out[arm.label] = [it for it in items
                              if (arm.label, it.value.value, it.keyword, it.rank) not in done]
        return out

    def answer(self, items: list[SpectrumItem],
               on_progress: Callable[[int], None] | None = None) -> dict[str, str]:
        """Run every arm over its pending items; returns arm -> why it stopped early."""
        todo = self.pending(items)
        jobs = [(a, todo[a.label]) for a in self.arms if todo[a.label]]
        if not jobs:
            return {}
        images = load_images([it.path for _, its in jobs for it in its], self.spec.max_image_px)
        return asyncio.run(self._answer(jobs, images, on_progress))

    async def _answer(self, jobs: list[tuple[Arm, list[SpectrumItem]]],
                      images: dict[str, bytes | str],
                      on_progress: Callable[[int], None] | None) -> dict[str, str]:
        cfg = self._config()
        stopped: dict[str, str] = {}

        def record(arm: Arm, rows: list[dict[str, Any]]) -> None:
            self.run_dir.journal(arm.label).append(*rows)
            if on_progress:
                on_progress(len(rows))

        if self.spec.parallel == "local":
            budget = (SharedBudget(cfg.budget_usd, cfg.run_name)
                      if cfg.budget_usd is not None else None)  # one ledger for all arms

            async def local_arm(arm: Arm, its: list[SpectrumItem]) -> None:
                async for got in answer_items(arm, its, images, cfg, budget):
                    if isinstance(got, ArmStopped):
                        stopped[arm.label] = got.reason
                    else:
                        record(arm, [got.model_dump(mode="json")])

            await asyncio.gather(*(local_arm(a, its) for a, its in jobs))
            return stopped

        return await self._answer_on_pool(jobs, images, cfg, stopped, record)

    async def _answer_on_pool(self, jobs: list[tuple[Arm, list[SpectrumItem]]],
                              images: dict[str, bytes | str], cfg: ArmConfig,
                              stopped: dict[str, str], record: Callable) -> dict[str, str]:
        """Units of (arm, value) on the engine's actor pool: one actor per arm, an arm's
        units one after another (its `concurrency` holds within a unit), the arms in
        parallel. A unit whose actor died is asked again, on the revived actor, for the
        items it has not answered yet."""
        keys = {arm.label: api_keys([m for m in (arm.model, arm.text_model) if m is not None])
                for arm, _ in jobs}
        AnswerActor = answer_actor_class()
        self.pool = ActorPool(lambda: AnswerActor.remote(cfg.log_path), len(jobs)).start()

        async def run_unit(k: int, arm: Arm, unit: list[SpectrumItem]) -> None:
            answered: set[tuple] = set()

            async def ask(actor: Any, number: int) -> None:
                """One attempt at the unit: the items it has not answered yet."""
                todo = [it for it in unit if (it.value.value, it.keyword, it.rank) not in answered]
                if not todo or arm.label in stopped:
                    return
                unit_images = {it.path: images[it.path] for it in todo}
                async for ref in actor.answer.remote(arm, todo, unit_images, cfg, keys[arm.label]):
                    got = await ref
                    if isinstance(got, ArmStopped):
                        stopped[arm.label] = got.reason
                        return
                    record(arm, got)
                    answered.update((r["value"], r["keyword"], int(r["rank"])) for r in got)

            def died(err: BaseException, number: int) -> None:
                self.restarts += 1

            try:
                await self.pool.call(k, ask, restarts=UNIT_RESTARTS, on_death=died)
            except ActorLost as e:
                raise UnitFailed(
                    f"arm {arm.label}, value {unit[0].value.value}: its answer actor died "
                    f"{e.deaths} times (last: {e.last}); the answers recorded "
                    "are kept: rerun the same command to resume") from None

        async def run_arm(k: int, arm: Arm, its: list[SpectrumItem]) -> None:
            units: dict[str, list[SpectrumItem]] = {}
            for it in its:
                units.setdefault(it.value.value, []).append(it)
            for unit in units.values():
                await run_unit(k, arm, unit)

        try:
            await asyncio.gather(*(run_arm(k, a, its) for k, (a, its) in enumerate(jobs)))
        finally:
            await self.pool.shutdown()
        return stopped

    # ------------------------------------------------------------------ tables
    def consolidate(self, items: list[SpectrumItem]) -> Path:
        """results.parquet: the last final answer per key, in arm/value/keyword/rank order."""
        latest: dict[tuple, dict[str, Any]] = {}
        for arm in self.arms:
            for r in self.run_dir.journal(arm.label).rows():
                latest[row_key(r)] = r
        order = {(it.value.value, it.keyword, it.rank): i for i, it in enumerate(items)}
        arm_pos = {a.label: i for i, a in enumerate(self.arms)}
        rows = sorted((r for r in latest.values() if r["arm"] in arm_pos),
                      key=lambda r: (arm_pos[r["arm"]],
                                     order.get((r["value"], r["keyword"], int(r["rank"])), 1 << 30)))
        return write_table(self.root / "results.parquet", rows, arrow_schema(ResultRow))

    def run(self, progress: bool = True) -> dict[str, Any]:
        """Everything: retrieval, answers, tables, summary. Returns the summary."""
        self.progress = progress
        api_keys(m for a in self.arms for m in (a.model, a.text_model) if m is not None)
        return RunLifecycle(self.ray_address).run(self, restart=self.restart)

    # ------------------------------------------------------------------ the engine's RunBody
    resumable = RESUMABLE_FIELDS

    def saved_spec(self) -> dict[str, Any]:
        return self.spec.saved()

    def resume(self) -> None:
        """Cut torn journal lines; a damaged retrieval table is retrieved again."""
        self.repaired = {j.path.stem: n for j in self.run_dir.journals() if (n := j.repair())}
        self.damaged = unreadable_tables(self.root, ("retrieval.parquet", "results.parquet"))
        if "retrieval.parquet" in self.damaged:  # read back on resume: retrieve again
            (self.root / "retrieval.parquet").unlink()
        if self.progress:
            self._say_repaired()

    def execute(self, life: RunLifecycle) -> dict[str, Any]:
        progress = self.progress

        def say(line: str) -> None:
            if progress:
                console.print(line, markup=False, highlight=False, soft_wrap=True)

        if not (self.root / "retrieval.parquet").exists():  # else nothing is ingested
            ensure_default_corpus((self.spec.ingest_source() or {}).get("corpus"), say)
        if self.spec.parallel == "ray":  # before the store: Ray forks, the store's gRPC can't
            life.start_ray(log_to_driver=False)
        items = self.retrieve(progress=progress)
        stopped = self._with_progress(items, progress)
        self.consolidate(items)
        return write_summary(self.root, self.arms, stopped)

    def finish(self, failure: BaseException | None) -> None:
        """Nothing left: `execute` builds the tables from the journals once all is asked
        (after a failure the journals keep every answer, and a rerun builds them)."""

    def _say_repaired(self) -> None:
        """One plain line per repair made on resume (a crash or a power loss)."""
        if self.repaired:
            which = ", ".join(f"{k} ({n} bytes)" for k, n in sorted(self.repaired.items()))
            console.print(f"repaired: cut a torn last line from {len(self.repaired)} "
                          f"journal(s): {which}; those answers are asked again",
                          markup=False, highlight=False)
        for name in self.damaged:
            then = ("it is retrieved again" if name == "retrieval.parquet"
                    else "it is rebuilt from the journals")
            console.print(f"repaired: {name} was unreadable (truncated?); {then}",
                          markup=False, highlight=False)

    def _with_progress(self, items: list[SpectrumItem], progress: bool) -> dict[str, str]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        total = sum(len(v) for v in self.pending(items).values())

        # the run's console (the terminal, see console.output_to_log); sys.stdout and
        # sys.stderr are not redirected into the bar: what others print goes to the log
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), disable=not progress,
                      console=console, redirect_stdout=False, redirect_stderr=False) as bar:
            task = bar.add_task(f"{len(self.arms)} arms x {len(items)} images", total=total)
            return self.answer(items, lambda n: bar.advance(task, n))

"""The Value-Spectrum benchmark run (paper section 4; Figure 9 of section 6).

    spec -> [ingest] -> retrieval (top-k per keyword, once, by the store's single owner)
         -> arms (one per model, in parallel on Ray) -> journals -> results.parquet
         -> summary.json (Table 1 numbers) -> report (figures)

RUN_DIR layout::

    spec.yaml            the resolved spec (kind: spectrum)
    retrieval.parquet    the images each keyword retrieved (frozen at the first run)
    abundance.json       Figure 2 counts
    journal/<arm>.jsonl  one line per answer, appended as answers arrive
    results.parquet      one row per answer, in a fixed order (see ResultRow)
    summary.json         kind: spectrum, Table 1 numbers, invalid counts, spend

Resume: retrieval is read back instead of recomputed, answers already journaled are kept
(backend failures are redone) and the tables are rebuilt in the same fixed order, so a
resumed run ends with the same tables as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from valuespectrum.config import ConfigError
from valuespectrum.experiments.locking import WriterLock
from valuespectrum.experiments.results import arrow_schema, read_jsonl
from valuespectrum.experiments.spectrum_arm import (
    Arm,
    ArmConfig,
    ResultRow,
    SpectrumItem,
    arm_task,
    is_final,
    row_key,
    run_arm,
)
from valuespectrum.experiments.spectrum_spec import SpectrumSpec, arm_label


def plan_arms(spec: SpectrumSpec) -> list[Arm]:
    """The plain arm of every model, then a caption_llm arm per Figure 9 pair.

    A pair's VLM also gets a plain arm (added if it is not among `models`), since Figure 9
    compares the VLM's direct answers with the caption + LLM answers on the same images.
    """
    arms = [Arm(label=arm_label(m), strategy="plain", model=m, vlm_label=arm_label(m))
            for m in spec.models]
    have = {a.label for a in arms}
    for pair in spec.caption_llm:
        vlm = arm_label(pair.vlm)
        if vlm not in have:
            arms.append(Arm(label=vlm, strategy="plain", model=pair.vlm, vlm_label=vlm))
            have.add(vlm)
        label = f"{vlm}+{arm_label(pair.llm)}"
        if label not in have:
            arms.append(Arm(label=label, strategy="caption_llm", model=pair.vlm,
                            text_model=pair.llm, vlm_label=vlm))
            have.add(label)
    return arms


def journal_name(label: str) -> str:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in label)
    return f"{safe}.jsonl"


class SpectrumRun:
    """Drives one spectrum run directory (single writer, resumable).

    Args:
        spec: The validated spec (paths resolved).
        resume: Continue a run directory that already has answers.
    """

    def __init__(self, spec: SpectrumSpec, resume: bool = False) -> None:
        self.spec = spec
        self.root = Path(spec.output_dir)
        self.resume = resume
        self.journal_dir = self.root / "journal"
        self.arms = plan_arms(spec)
        self._lock = WriterLock(self.root, error=ConfigError)

    # ------------------------------------------------------------------ lifecycle
    def _acquire(self) -> None:
        self._lock.acquire()
        self.journal_dir.mkdir(parents=True, exist_ok=True)

    def _release(self) -> None:
        self._lock.release()

    def _check_fresh(self) -> None:
        started = any(self.journal_dir.glob("*.jsonl")) or (self.root / "retrieval.parquet").exists()
        if started and not self.resume:
            raise ConfigError(f"{self.root} already holds a spectrum run; pass --resume to "
                              "continue it, or choose another output_dir")
        spec_file = self.root / "spec.yaml"
        if self.resume and spec_file.exists():
            old = yaml.safe_load(spec_file.read_text())
            new = self._spec_dump()
            for key in ("store", "embedder", "top_k", "filters", "values", "keyword_template"):
                if old.get(key) != new.get(key):
                    raise ConfigError(f"{spec_file}: '{key}' differs from the spec being resumed "
                                      f"({old.get(key)!r} vs {new.get(key)!r})")

    def _preflight(self) -> None:
        """Fail before any work when a model's API key variable is not set."""
        missing = []
        for arm in self.arms:
            for m in (arm.model, arm.text_model):
                var = m.key_env() if m is not None else None
                if var and not os.environ.get(var):
                    missing.append(f"{m.spec} needs ${var}")
        if missing:
            raise ConfigError("models: " + "; ".join(sorted(set(missing)))
                              + " (set the variables, or drop those models from the spec)")

    def _spec_dump(self) -> dict[str, Any]:
        return json.loads(self.spec.model_dump_json())

    # ------------------------------------------------------------------ retrieval
    def retrieve(self, progress: bool = True) -> list[SpectrumItem]:
        """Ingest (if asked), then retrieve and record the images and abundance, once."""
        path = self.root / "retrieval.parquet"
        if path.exists():
            return [SpectrumItem(**r) for r in pq.read_table(path).to_pylist()]
        from valuespectrum.store import ingest as ing
        from valuespectrum.store.embedders import make_embedder
        from valuespectrum.store.retrieval import Filters, abundance, retrieve
        from valuespectrum.store.vector_store import ScreenshotStore
        from valuespectrum.values import load_values

        spec = self.spec
        catalog = load_values(spec.values)
        emb = make_embedder(spec.embedder)
        filters = Filters(**spec.filters.model_dump())
        # This process is the store's single owner for the whole retrieval step.
        with ScreenshotStore(spec.store, spec.embedder, emb.dim) as store:
            src = spec.ingest
            if src is not None and src.corpus is not None:
                ing.ingest_corpus(store, emb, src.corpus, progress=progress)
            elif src is not None and src.folder is not None:
                ing.ingest_folder(store, emb, src.folder, src.csv, progress=progress)
            elif src is not None and src.run is not None:
                ing.ingest_run(store, emb, src.run, progress=progress)
            if store.count() == 0:
                raise ConfigError(f"{spec.store}: the store has no screenshots for embedder "
                                  f"{spec.embedder}; ingest some first (`vspec store ingest`)")
            got = retrieve(store, emb, catalog, k=spec.top_k, filters=filters,
                           template=spec.keyword_template)
            ab = abundance(store, emb, catalog, radius=spec.abundance_radius, filters=filters,
                           template=spec.keyword_template)
        if not got:
            raise ConfigError(f"{spec.store}: no screenshot matches the filters "
                              f"{spec.filters.model_dump(exclude_none=True)} (screenshots "
                              "without a post date never pass a date filter)")
        items = [SpectrumItem(value=r.value, keyword=r.keyword, rank=r.rank, image_id=str(r.hit.id),
                              path=r.hit.path, caption=r.hit.caption, platform=r.hit.platform,
                              posted=r.hit.posted, link=r.hit.link, distance=r.hit.distance)
                 for r in got]
        (self.root / "abundance.json").write_text(ab.model_dump_json(indent=2))
        rows = [it.model_dump(mode="json") for it in items]
        pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema(SpectrumItem)), path)
        return items

    # ------------------------------------------------------------------ answering
    def pending(self, items: list[SpectrumItem]) -> dict[str, list[SpectrumItem]]:
        """Per arm, the items without a final answer in its journal."""
        out = {}
        for arm in self.arms:
            done = {row_key(r) for r in read_jsonl(self.journal_dir / journal_name(arm.label))
                    if is_final(r)}
            out[arm.label] = [it for it in items
                              if (arm.label, it.value.value, it.keyword, it.rank) not in done]
        return out

    def _config(self) -> ArmConfig:
        s = self.spec
        from valuespectrum.models.shared import run_scope

        # the run's scope: its budget ledger and leases on shared actors (unique per run dir)
        return ArmConfig(run_name=run_scope(s.name, self.root), cache_dir=str(s.cache_dir) if s.cache_dir else None,
                         budget_usd=s.budget_usd, followups=s.followups,
                         concurrency=s.concurrency, max_image_px=s.max_image_px)

    def answer(self, items: list[SpectrumItem],
               on_progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
        """Run every arm over its pending items (Ray tasks or local asyncio)."""
        todo = self.pending(items)
        jobs = [(a, todo[a.label]) for a in self.arms if todo[a.label]]
        if not jobs:
            return []
        cfg = self._config()
        if self.spec.parallel == "local":
            import asyncio

            def tick(_row: ResultRow) -> None:
                if on_progress:
                    on_progress(1)

            from valuespectrum.models import SharedBudget

            budget = (SharedBudget(cfg.budget_usd, cfg.run_name)
                      if cfg.budget_usd is not None else None)  # one ledger for all arms

            async def all_arms() -> list[dict[str, Any]]:
                return list(await asyncio.gather(*(
                    run_arm(a, its, self.journal_dir / journal_name(a.label), cfg, tick, budget)
                    for a, its in jobs)))

            return asyncio.run(all_arms())
        return self._answer_on_ray(jobs, cfg, on_progress)

    def _answer_on_ray(self, jobs: list[tuple[Arm, list[SpectrumItem]]], cfg: ArmConfig,
                       on_progress: Callable[[int], None] | None) -> list[dict[str, Any]]:
        import ray

        from valuespectrum.models import release_shared_actors

        started = not ray.is_initialized()
        if started:
            ray.init(include_dashboard=False, log_to_driver=False, namespace="valuespectrum")
        try:
            task = ray.remote(num_cpus=0.25, max_retries=0)(arm_task)
            refs = []
            for a, its in jobs:
                # API keys travel as an argument (not a runtime env, whose creation Ray
                # logs in plain text), so arms also work on a remote cluster.
                keys = {v: os.environ[v] for m in (a.model, a.text_model) if m is not None
                        for v in [m.key_env()] if v and os.environ.get(v)}
                refs.append(task.remote(
                    a, its, str(self.journal_dir / journal_name(a.label)), cfg, keys))
            journals = [self.journal_dir / journal_name(a.label) for a, _ in jobs]
            seen = sum(len(read_jsonl(j)) for j in journals)
            pending, outcomes = list(refs), []
            while pending:
                ready, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
                try:
                    outcomes += ray.get(ready)
                except ray.exceptions.RayTaskError as e:  # surface the arm's own error
                    cause = getattr(e, "cause", None)
                    raise (cause if isinstance(cause, Exception) else e) from None
                now = sum(len(read_jsonl(j)) for j in journals)
                if on_progress and now > seen:
                    on_progress(now - seen)
                seen = now
            return outcomes
        finally:
            release_shared_actors(cfg.run_name)
            if started:
                ray.shutdown()

    # ------------------------------------------------------------------ tables
    def consolidate(self, items: list[SpectrumItem]) -> Path:
        """results.parquet: the last final answer per key, in arm/value/keyword/rank order."""
        latest: dict[tuple, dict[str, Any]] = {}
        for arm in self.arms:
            for r in read_jsonl(self.journal_dir / journal_name(arm.label)):
                latest[row_key(r)] = r
        order = {(it.value.value, it.keyword, it.rank): i for i, it in enumerate(items)}
        arm_pos = {a.label: i for i, a in enumerate(self.arms)}
        rows = sorted((r for r in latest.values() if r["arm"] in arm_pos),
                      key=lambda r: (arm_pos[r["arm"]],
                                     order.get((r["value"], r["keyword"], int(r["rank"])), 1 << 30)))
        path = self.root / "results.parquet"
        tmp = path.with_suffix(".tmp")
        pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema(ResultRow)), tmp)
        tmp.replace(path)
        return path

    def run(self, progress: bool = True) -> dict[str, Any]:
        """Everything: retrieval, answers, tables, summary. Returns the summary."""
        from valuespectrum.report.spectrum import write_summary

        self.root.mkdir(parents=True, exist_ok=True)
        self._acquire()
        try:
            self._check_fresh()
            self._preflight()
            spec_dump = {"kind": "spectrum", **self._spec_dump()}
            (self.root / "spec.yaml").write_text(yaml.safe_dump(spec_dump, sort_keys=False))
            items = self.retrieve(progress=progress)
            outcomes = self._with_progress(items, progress)
            self.consolidate(items)
            return write_summary(self.root, self.arms, outcomes)
        finally:
            self._release()

    def _with_progress(self, items: list[SpectrumItem], progress: bool) -> list[dict[str, Any]]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        total = sum(len(v) for v in self.pending(items).values())
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), disable=not progress) as bar:
            task = bar.add_task(f"{len(self.arms)} arms x {len(items)} images", total=total)
            return self.answer(items, lambda n: bar.advance(task, n))

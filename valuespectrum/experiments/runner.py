"""The sweep runner: expand a spec into trials, run them on Ray actors, journal every step.

The driver is the only writer of the run directory. Actors stream step events back (Ray
generators); the driver adds feed metadata (category, value tags), writes the record and its
screenshot, and updates the live progress view.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from collections import deque
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from valuespectrum.agents.actor import ActorOptions
from valuespectrum.config import ConfigError
from valuespectrum.experiments.results import RunDirectory, TrialRecord
from valuespectrum.experiments.spec import ExperimentSpec, TrialSpec, expand, trial_fingerprint
from valuespectrum.models.shared import run_scope
from valuespectrum.personas import Persona
from valuespectrum.types import StepRecord

log = logging.getLogger(__name__)

VERSIONED_PACKAGES = (
    "valuespectrum", "ray", "playwright", "openai", "pydantic", "numpy", "pyarrow",
    "pymilvus", "milvus-lite", "sentence-transformers", "torch", "open_clip_torch",
)


#: Spec fields that may change between a run and its resumption.
RESUMABLE_FIELDS = frozenset({
    "description", "concurrency", "agents_per_actor", "budget_usd", "trial_timeout_s",
    "max_restarts", "window", "screenshots", "output", "corpus",
})


def package_versions() -> dict[str, str]:
    out = {}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@dataclass
class RunOutcome:
    run_dir: Path
    planned: int
    skipped: int
    statuses: dict[str, int] = field(default_factory=dict)
    fatal: str | None = None
    wall_s: float = 0.0


class SweepRunner:
    """Runs an experiment spec; rerunning the same spec resumes where it stopped."""

    def __init__(
        self,
        spec: ExperimentSpec,
        personas: list[Persona],
        *,
        ray_address: str | None = None,
        progress: Any = None,
        cache_dir: str | None = None,
    ) -> None:
        self.spec = spec
        self.personas = {p.name: p for p in personas}
        self.trials = expand(spec, personas)
        self.run_dir = RunDirectory(spec.output_dir())
        self.ray_address = ray_address
        self.progress = progress
        self.cache_dir = cache_dir or os.path.join(
            os.environ.get("VSPEC_HOME", ".vspec"), "cache"
        )
        self._fatal: str | None = None
        self._corpus = None
        self._platform = None
        self._keys: dict[str, str] = {}

    # ------------------------------------------------------------------ setup
    def _write_meta(self) -> None:
        spec = self.spec.model_dump(mode="json")
        spec["kind"] = "sweep"
        (self.run_dir.root / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        (self.run_dir.root / "versions.json").write_text(json.dumps(package_versions(), indent=2))

    def _check_plan(self) -> None:
        """Refuse to resume trials that were recorded under a different spec.

        plan.json maps each trial id to the fingerprint of what its steps depend on
        (persona content, model spec, platform, strategy, scrolls, seed). Adding trials to a
        run is fine; changing a trial that already has records is not.
        """
        path = self.run_dir.root / "plan.json"
        plan = {t.trial_id: trial_fingerprint(t) for t in self.trials}
        old: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        changed = sorted(t for t in plan if t in old and old[t] != plan[t])
        if changed:
            fields = []
            spec_path = self.run_dir.root / "spec.yaml"
            if spec_path.exists():
                before = yaml.safe_load(spec_path.read_text()) or {}
                now = self.spec.model_dump(mode="json")
                fields = [f"{k}: {before.get(k)!r} -> {now[k]!r}" for k in now
                          if k not in RESUMABLE_FIELDS and before.get(k) != now[k]]
            what = "; ".join(fields) if fields else "persona files or model settings changed"
            raise ConfigError(
                f"{self.run_dir.root} holds {len(changed)} trial(s) recorded under a different "
                f"spec (e.g. {changed[0]}): {what}. Use another output directory, or delete "
                f"{self.run_dir.root} to start over."
            )
        path.write_text(json.dumps({**old, **plan}, indent=1, sort_keys=True))

    def _start_ray(self) -> None:
        import ray

        if ray.is_initialized():
            return
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if self.ray_address:
            ray.init(address=self.ray_address, log_to_driver=True)
        else:
            ray.init(include_dashboard=False, log_to_driver=True)

    def _start_feed(self):
        from valuespectrum.feed.corpus import Corpus, default_corpus_dir
        from valuespectrum.feed.platform import FeedPlatform
        from valuespectrum.feed.server import FeedServer

        corpus_dir = Path(self.spec.corpus) if self.spec.corpus else default_corpus_dir()
        self._corpus = Corpus.load(corpus_dir)
        host = "127.0.0.1"
        if self.ray_address:  # actors on other nodes must reach the feed
            import ray

            host = ray.util.get_node_ip_address()
        self._platform = FeedPlatform(self._corpus)
        server = FeedServer(self._platform, host=host, port=0)
        server.start()
        return server

    def _api_keys(self) -> dict[str, str]:
        """API keys the models need, from the driver's environment.

        Actors on other nodes do not inherit the driver's environment, so the keys are sent to
        each actor as a method argument (`set_api_keys`), never as a Ray runtime env (whose
        creation Ray logs in plain text), and never into specs, records or caches.
        """
        keys = {}
        for m in self.spec.models:
            name = m.key_env()
            if not name:
                continue
            value = os.environ.get(name)
            if not value:
                raise ConfigError(
                    f"model {m.spec}: environment variable {name} is not set "
                    "(API keys are read only from the environment)"
                )
            keys[name] = value
        return keys

    # ------------------------------------------------------------------ records
    def _enrich(self, record: StepRecord, trial: TrialSpec) -> StepRecord:
        if record.item_id is None or self._corpus is None:
            return record
        try:
            item = self._corpus.get(record.item_id)
        except Exception:
            return record
        tags = tuple(v.value for v in item.value_tags)
        wanted = {v.value for v in trial.persona.values}
        return record.model_copy(
            update={"category": item.category, "value_tags": tags,
                    "value_match": bool(wanted & set(tags))}
        )

    def _trial_record(self, trial: TrialSpec, status: str, steps: int, restarts: int,
                      error: str | None, started: float) -> TrialRecord:
        return TrialRecord(
            trial_id=trial.trial_id, cell=trial.cell, persona=trial.persona.name,
            model=trial.model.label, platform=trial.platform.label, strategy=trial.strategy,
            index=trial.index, seed=trial.seed, status=status, steps=steps, restarts=restarts,
            error=error, started=started, ended=time.time(),
        )

    def _notify(self, method: str, *args: Any) -> None:
        if self.progress is not None:
            getattr(self.progress, method)(*args)

    # ------------------------------------------------------------------ one trial
    async def _run_one(self, actor: Any, trial: TrialSpec) -> str:
        import ray
        from ray.exceptions import RayActorError

        started = time.time()
        attempts = 0
        while True:
            self.run_dir.start_trial(trial.trial_id)
            self._notify("trial_started", trial)
            steps, restarts, status, error = 0, 0, "failed", None
            gen = actor.run_trial.remote(trial)
            try:
                async with asyncio.timeout(self.spec.trial_timeout_s):
                    async for ref in gen:
                        event = await ref
                        if event["type"] == "step":
                            rec = self._enrich(event["record"], trial)
                            rec = self.run_dir.append_step(rec, event.get("jpeg"))
                            steps += 1
                            self._notify("step", trial, rec)
                        elif event["type"] == "restart":
                            self.run_dir.start_trial(trial.trial_id)
                            steps, restarts = 0, event["attempt"]
                            self._notify("restart", trial, event["error"])
                        elif event["type"] == "end":
                            status, error = event["status"], event.get("error")
                            restarts = event.get("restarts", restarts)
                            if event.get("fatal"):
                                self._fatal = error
            except TimeoutError:
                status, error = "timeout", f"trial exceeded {self.spec.trial_timeout_s:g} s"
                try:
                    ray.cancel(gen)
                except Exception:
                    log.debug("cancelling a timed-out trial failed", exc_info=True)
            except RayActorError as e:
                attempts += 1
                if attempts <= self.spec.max_restarts:
                    self._notify("restart", trial, f"viewer actor died: {e}")
                    try:  # Ray restarted the actor: it needs its keys again
                        await actor.set_api_keys.remote(self._keys)
                    except RayActorError:
                        pass
                    continue
                status, error = "failed", f"viewer actor died {attempts} times: {e}"
            except Exception as e:  # anything else the actor raised ends this trial only
                log.error("trial %s failed in its actor: %s", trial.trial_id, e)
                status, error = "failed", f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
            rec = self._trial_record(trial, status, steps, restarts + attempts, error, started)
            self.run_dir.finish_trial(rec)
            if self._platform is not None:  # the feed forgets the finished viewer session
                self._platform.close_session(trial.trial_id)
            self._notify("trial_finished", trial, rec)
            return status

    # ------------------------------------------------------------------ the sweep
    async def _sweep(self, todo: list[TrialSpec], feed_url: str) -> dict[str, int]:
        from valuespectrum.agents.actor import viewer_actor_class

        ViewerActor = viewer_actor_class()
        per_actor = self.spec.agents_per_actor
        concurrency = min(self.spec.concurrency, len(todo))
        n_actors = max(1, math.ceil(concurrency / per_actor))
        options = ActorOptions(
            feed_url=feed_url, cache_dir=self.cache_dir, budget_usd=self.spec.budget_usd,
            budget_name=run_scope(self.spec.name, self.run_dir.root),
            max_restarts=self.spec.max_restarts,
        )
        actors = [
            ViewerActor.options(max_concurrency=per_actor + 2).remote(options)
            for _ in range(n_actors)
        ]
        await asyncio.gather(*(a.set_api_keys.remote(self._keys) for a in actors))
        await self._carry_over_spending(options)
        queue = deque(todo)
        statuses: dict[str, int] = {}

        async def worker(i: int) -> None:
            actor = actors[i % n_actors]
            while queue and self._fatal is None:
                trial = queue.popleft()
                status = await self._run_one(actor, trial)
                statuses[status] = statuses.get(status, 0) + 1

        try:
            await asyncio.gather(*(worker(i) for i in range(concurrency)))
        finally:
            await asyncio.gather(*(a.shutdown.remote() for a in actors), return_exceptions=True)
            import ray

            from valuespectrum.models.shared import release_shared_actors

            for a in actors:
                ray.kill(a)
            # this run's budget ledger, and shared rate limiters / vLLM servers no other run holds
            release_shared_actors(options.budget_name)
        return statuses

    async def _carry_over_spending(self, options: ActorOptions) -> None:
        """Set the run's budget ledger to what its records say was spent (idempotent).

        Setting, not adding: a ledger that survived a crashed driver is not double-counted.
        Cache hits cost nothing and are not counted.
        """
        if options.budget_usd is None:
            return
        from valuespectrum.models.shared import SharedBudget

        spent = sum(r.get("cost_usd") or 0.0 for r in self.run_dir.step_rows()
                    if not r.get("cached"))
        await SharedBudget(options.budget_usd, options.budget_name).set_spent(spent)
        if spent > 0:
            self._notify("budget_carried", spent)

    def run(self) -> RunOutcome:
        """Run (or resume) the sweep; returns what happened. Tables are written at the end."""
        t0 = time.time()
        self.run_dir.acquire()
        try:
            self._check_plan()  # before anything is written: the directory stays as it was
        except BaseException:
            self.run_dir.release()
            raise
        server = None
        try:
            self._write_meta()
            done = self.run_dir.completed() & {t.trial_id for t in self.trials}
            todo = [t for t in self.trials if t.trial_id not in done]
            outcome = RunOutcome(self.run_dir.root, planned=len(self.trials), skipped=len(done))
            self._notify("start", self.trials, done)
            if todo:
                self._keys = self._api_keys()
                server = self._start_feed()  # first: a missing corpus fails before Ray starts
                self._start_ray()
                outcome.statuses = asyncio.run(self._sweep(todo, server.url))
            outcome.fatal = self._fatal
            outcome.wall_s = time.time() - t0
            return outcome
        finally:
            if server is not None:
                server.stop()
            planned = [t.trial_id for t in self.trials]
            self.run_dir.consolidate(planned)
            from valuespectrum.experiments.summary import write_summary

            write_summary(self.run_dir.root, self.spec, planned)
            self._notify("finish")
            self.run_dir.release()

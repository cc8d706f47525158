"""The sweep driver: expand a spec into trials, run them on Ray actors, journal every step.

The driver is the only writer of the run directory. It starts trials on the actors, and
each actor streams the typed events of all its trials back in batches (one Ray generator per
actor, `_ActorStream`); the driver appends each step's journal line (the record, complete as
the agent built it, encoded by the actor) and writes its screenshot, and updates the live
progress view.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from valuespectrum.agents.actor import ActorOptions, viewer_actor_class
from valuespectrum.cluster import ClusterError, api_keys
from valuespectrum.engine.lifecycle import RunLifecycle
from valuespectrum.engine.pool import ActorLost, ActorPool, actor_death, first_line
from valuespectrum.feed.corpus import Corpus
from valuespectrum.feed.pool import FeedPool
from valuespectrum.feed.sources import ensure_default_corpus
from valuespectrum.models.shared import SharedBudget, run_scope
from valuespectrum.placement import (
    capacity_problem,
    viewer_actor_options,
    viewer_capacity,
    viewer_nodes,
)
from valuespectrum.runs import Plan, RunDirectory, RunError, fingerprint
from valuespectrum.sweep.interrupt import GracefulInterrupt
from valuespectrum.sweep.results import SweepResults, TrialRecord
from valuespectrum.sweep.spec import (
    RESUMABLE_FIELDS,
    SweepSpec,
    analysis_context,
    expand,
    plan_for,
    run_order,
)
from valuespectrum.sweep.summary import write_summary
from valuespectrum.trial import TRIAL_SEEDS, EndEvent, RestartEvent, StepEvent, TrialSpec

log = logging.getLogger(__name__)

#: How often staged steps are committed; a crash loses at most this much of the run's steps.
COMMIT_INTERVAL_S = 0.2


@dataclass
class RunOutcome:
    run_dir: Path
    planned: int
    skipped: int
    statuses: dict[str, int] = field(default_factory=dict)
    fatal: str | None = None
    wall_s: float = 0.0
    repaired: dict[str, int] = field(default_factory=dict)
    damaged_tables: list[str] = field(default_factory=list)
    interrupted: bool = False


class _StopRequested(Exception):
    """Ctrl-C asked for a clean stop; raised after the step in flight was journaled."""


@dataclass
class _Attempt:
    """How one attempt at a trial ended."""

    status: str = "failed"
    steps: int = 0
    restarts: int = 0
    error: str | None = None
    node: str = ""


class _StreamLost(Exception):
    """An actor's event stream broke (the actor died or restarted): its trials run again."""


#: How long an actor holds an event so that others join it in one Ray message: an actor
#: sends at most 4 messages a second, however many agents it hosts. Each message costs the
#: driver ~0.8 ms of CPU whatever it carries (benchmarks/bench_stream.py), so at 50 ms a
#: cluster of uncontended actors would have spent more on messages than on steps. A
#: quarter second is the live view's refresh interval (4 per second), and a trial's end or
#: restart leaves at once, so it adds nothing to a trial (docs/scale.md).
EVENT_BATCH_S = 0.25


class _ActorStream:
    """The driver's end of one actor's event stream: hands each (trial, attempt token,
    event) to the handler of the trial's current attempt, at once and in order (no queue
    and no task wake-up per step: the driver's CPU per step caps a cluster), and tells
    every trial when the stream breaks. Events of an attempt given up on (another token)
    are dropped."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor
        self.handlers: dict[str, tuple[int, Callable[[Any], None]]] = {}
        self.broken: BaseException | None = None
        self.task = asyncio.create_task(self._pump())

    def listen(self, trial_id: str, token: int, handler: Callable[[Any], None]) -> None:
        """Hand the events of attempt `token` of `trial_id` to `handler` (which must not
        raise), and a `_StreamLost` if the stream breaks."""
        self.handlers[trial_id] = (token, handler)
        if self.broken is not None:
            handler(_StreamLost(first_line(self.broken)))

    def forget(self, trial_id: str, token: int) -> None:
        if self.handlers.get(trial_id, (None,))[0] == token:
            del self.handlers[trial_id]

    async def _pump(self) -> None:
        try:
            async for ref in self.actor.events.remote(EVENT_BATCH_S):
                for trial_id, token, event in await ref:
                    listener = self.handlers.get(trial_id)
                    if listener is not None and listener[0] == token:
                        listener[1](event)
            error: BaseException = RuntimeError("the viewer actor shut down")
        except asyncio.CancelledError:
            raise
        except BaseException as e:  # noqa: BLE001 - any break ends the stream for all
            error = e
        self.broken = error
        for _, handler in list(self.handlers.values()):
            handler(_StreamLost(first_line(error)))


def prompt_context(prompts: dict[str, Any]) -> dict[str, str]:
    """The prompt set's declared version and a digest of its content."""
    return {"version": str(prompts.get("version", "")), "digest": fingerprint(prompts)}


class SweepRunner:
    """Runs a sweep spec; rerunning the same spec resumes where it stopped.

    Args:
        spec: A spec from `load_sweep_spec` (inputs resolved, personas loaded).
        ray_address: Join this Ray cluster (default: start Ray locally).
        progress: Receives `SweepProgress` events (None: silent).
        restart: Clear the run directory's earlier results first.
        output: Override the spec's output directory.
    """

    def __init__(self, spec: SweepSpec, *, ray_address: str | None = None, progress: Any = None,
                 restart: bool = False, output: str | Path | None = None) -> None:
        self.spec = spec
        self.prompts = spec.prompt_set()
        self.trials = expand(spec, prompts=self.prompts)
        self.run_dir = RunDirectory(Path(output) if output else spec.output_dir(), "sweep")
        self.results = SweepResults(self.run_dir)
        self.ray_address = ray_address
        self.progress = progress
        self.restart = restart
        cache = spec.cache_path()
        self.cache_dir = str(cache) if cache else None
        self.scope = run_scope(spec.name, self.run_dir.root)
        self._fatal: str | None = None
        self._corpus: Any = None
        #: Each feed style's recommender parameters (the plan's), recorded with its trials.
        self._feed_params: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, str] = {}
        self._interrupt = GracefulInterrupt(on_first=lambda: self._notify("interrupting"))
        #: The engine's fault-tolerant pool of viewer actors while trials run.
        self.pool: ActorPool | None = None
        self._streams: dict[str, _ActorStream] = {}  # an actor's id -> its event stream
        # the group commit (`_commit_steps`): asked for by a trial's end, which waits on it
        self._commit_wanted = asyncio.Event()
        self._commit_waiters: list[asyncio.Future] = []
        self._tokens = 0  # attempt tokens: an actor's events of an abandoned attempt drop
        self._t0 = 0.0
        self._todo: list[TrialSpec] = []
        self._outcome: RunOutcome | None = None
        #: The feed server while trials run (fault-injection tests restart it).
        self.feed_server: Any = None

    # ------------------------------------------------------------------ setup
    def _load_feed(self) -> dict[str, Any]:
        """Load the corpus and recommender parameters; returns the plan context."""
        params = self.spec.recommender_params()
        ensure_default_corpus(self.spec.corpus_path(), lambda line: self._notify("note", line))
        self._corpus = Corpus.load(self.spec.corpus_path())
        styles = sorted({t.platform.style for t in self.trials})
        self._feed_params = {s: params.for_style(s).model_dump(mode="json") for s in styles}
        return {
            "corpus": self._corpus.fingerprint,
            "recommenders": self._feed_params,
            "prompts": prompt_context(self.prompts),
            # how trial seeds derive (valuespectrum.trial.trial_seed_key): a run planned
            # under the earlier rule (the whole trial id) then says what changed
            "trial_seeds": TRIAL_SEEDS,
        }

    def _start_feed(self) -> Any:
        host = "127.0.0.1"
        if self.ray_address:  # actors on other nodes must reach the feed
            import ray

            host = ray.util.get_node_ip_address()
        styles = sorted({t.platform.style for t in self.trials})
        nodes: list[tuple[str, str]] = []
        if self.spec.feed_placement == "nodes":
            import ray

            nodes = viewer_nodes(self._viewer_placement(), ray.nodes())
            if not nodes:
                raise ClusterError(
                    f"sweep {self.spec.name!r}: feed_placement: nodes, but no live node of "
                    "the cluster can hold a viewer actor, so none gets a feed process")
        return FeedPool(self._corpus, str(self.spec.corpus_path()),
                        self.spec.recommender_params(), self.spec.feed_servers,
                        host=host, styles=styles, log_path=str(self.run_dir.log_path()),
                        placement=self.spec.feed_placement, nodes=nodes).start()

    def _viewer_placement(self) -> dict[str, Any]:
        """The viewer actors' Ray options (`placement.viewer_actor_options`)."""
        import ray

        return viewer_actor_options({p.environment for p in self.spec.platforms},
                                    self.spec.agents_per_actor, ray.cluster_resources())

    # ------------------------------------------------------------------ records
    def _trial_record(self, trial: TrialSpec, status: str, steps: int, restarts: int,
                      error: str | None, started: float, node_id: str = "") -> TrialRecord:
        return TrialRecord(
            trial_id=trial.trial_id, cell=trial.cell, persona=trial.persona.name,
            model=trial.model.label, platform=trial.platform.label, strategy=trial.strategy,
            index=trial.index, seed=trial.seed, status=status, steps=steps, restarts=restarts,
            error=error, node_id=node_id, started=started, ended=time.time(),
            **self._ran_with(trial))

    def _ran_with(self, trial: TrialSpec) -> dict[str, Any]:
        """The trial's strategy and feed as {name, params} (its record's last columns)."""
        return {"strategy_params": trial.strategy_params, "feed": trial.platform.style,
                "feed_params": self._feed_params.get(trial.platform.style)}

    def _notify(self, method: str, *args: Any) -> None:
        handler = getattr(self.progress, method, None) if self.progress is not None else None
        if handler is not None:
            handler(*args)

    # ------------------------------------------------------------------ actors
    @property
    def actors(self) -> list[Any]:
        """The live viewer actors while trials run (fault-injection tests kill them)."""
        return self.pool.actors if self.pool is not None else []

    # ------------------------------------------------------------------ one trial
    def _stream(self, actor: Any) -> _ActorStream:
        """The actor's live event stream (a new one after it broke, e.g. a restart)."""
        key = actor._actor_id.hex()
        stream = self._streams.get(key)
        if stream is None or stream.broken is not None:
            stream = self._streams[key] = _ActorStream(actor)
        return stream

    async def _run_one(self, worker: int, trial: TrialSpec) -> str:
        """Run one trial to its end on worker `worker`'s actor and record it; its status.

        A viewer actor that dies under the trial (killed, restarting, its node gone) is
        revived by the engine's pool and the trial runs again from its seed: the first
        attempt and up to `max_restarts` more, then the trial fails naming why.
        """
        started = time.time()
        last = _Attempt()

        async def attempt_on(actor: Any, number: int) -> _Attempt:
            nonlocal last
            last = _Attempt(restarts=number - 1)  # earlier attempts ended with its death
            return await self._attempt(actor, trial, number, last)

        def died(err: BaseException, number: int) -> None:
            self._notify("restart", trial, f"viewer actor died: {first_line(err)}")

        try:
            attempt = await self.pool.call(worker, attempt_on, restarts=self.spec.max_restarts,
                                           died=(_StreamLost,), on_death=died)
        except ActorLost as lost:
            attempt = _Attempt(status="failed", restarts=last.restarts + 1,
                               error=f"viewer actor died {lost.deaths} times: {lost.last}")
        rec = self._trial_record(trial, attempt.status, attempt.steps, attempt.restarts,
                                 attempt.error, started, attempt.node)
        # recorded by the next group commit, after its steps (the loop keeps receiving)
        await self._committed(rec)
        if self.feed_server is not None:  # the feed forgets the finished viewer session
            self.feed_server.close_session(trial.trial_id, attempt.node,
                                           moved=attempt.restarts > 0)
        self._notify("trial_finished", trial, rec)
        return attempt.status

    async def _attempt(self, actor: Any, trial: TrialSpec, number: int,
                       out: _Attempt) -> _Attempt:
        """One attempt at a trial on `actor` (attempt `number`, from 1), recorded in `out`.

        Raises:
            RayActorError, ActorUnavailableError, _StreamLost: the actor died under it (the
                pool revives it and runs the attempt again).
        """
        deaths = number - 1  # earlier attempts all ended with the actor's death
        self.results.start_trial(trial.trial_id)
        self._notify("trial_started", trial)
        self._tokens += 1
        token, stream = self._tokens, self._stream(actor)
        ended: asyncio.Future = asyncio.get_running_loop().create_future()
        # looked up once per attempt, not per step (the driver's CPU per step caps a cluster)
        stage, trial_id, interrupt = self.results.stage_event, trial.trial_id, self._interrupt
        on_step = getattr(self.progress, "step", None) if self.progress is not None else None

        def handle(event: Any) -> None:
            """One event of this attempt, as the stream delivers it (in the event loop)."""
            if ended.done():  # stopped or ended: what still arrives is dropped
                return
            try:
                if isinstance(event, StepEvent):
                    stage(trial_id, event)
                    out.steps += 1
                    if on_step is not None:
                        on_step(trial, event)
                    if interrupt.requested and out.steps < trial.scrolls:
                        ended.set_exception(_StopRequested())
                elif isinstance(event, RestartEvent):
                    self.results.start_trial(trial.trial_id)
                    out.steps, out.restarts = 0, deaths + event.attempt
                    self._notify("restart", trial, event.error)
                elif isinstance(event, EndEvent):
                    out.status, out.error, out.node = event.status, event.error, event.node_id
                    out.restarts = deaths + event.restarts
                    if event.fatal:
                        self._fatal = out.error
                    ended.set_result(None)
                else:  # the stream broke (_StreamLost)
                    ended.set_exception(event)
            except Exception as e:  # noqa: BLE001 - raised where the attempt awaits
                ended.set_exception(e)

        stream.listen(trial.trial_id, token, handle)
        running = True  # from here on, a trial given up on is cancelled in the actor
        try:
            async with asyncio.timeout(self.spec.trial_timeout_s):
                await actor.start_trial.remote(trial, token)
                await ended
                running = False
        except TimeoutError:
            out.status, out.error = "timeout", f"trial exceeded {self.spec.trial_timeout_s:g} s"
        except _StopRequested:
            out.status, out.error = "interrupted", f"stopped by Ctrl-C after {out.steps} steps"
        except (*actor_death(), _StreamLost) as e:
            # killed, restarting, or its node died: the pool revives it, the trial runs again
            running = False
            log.warning("trial %s: viewer actor died (%d):\n%s", trial.trial_id, number, e)
            raise
        except RunError:  # the run directory cannot be written: stop the whole run
            _cancel(actor, trial)
            raise
        except Exception as e:  # anything else the actor raised ends this trial only
            log.error("trial %s failed in its actor: %s", trial.trial_id, e)
            out.status, out.error = "failed", f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
        finally:
            stream.forget(trial.trial_id, token)
            if ended.done() and not ended.cancelled():
                ended.exception()  # seen (e.g. the stream broke as the start failed)
        if running:  # given up on (timeout, Ctrl-C, a failure here): stop it in the actor
            _cancel(actor, trial)
        return out

    # ------------------------------------------------------------------ the sweep
    async def _sweep(self, todo: list[TrialSpec], feed: FeedPool) -> dict[str, int]:
        import ray

        ViewerActor = viewer_actor_class()
        per_actor = self.spec.agents_per_actor
        concurrency = min(self.spec.concurrency, len(todo))
        n_actors = max(1, math.ceil(concurrency / per_actor))
        options = ActorOptions(feed_urls=feed.urls, feed_urls_by_node=feed.urls_by_node,
                               cache_dir=self.cache_dir,
                               budget_usd=self.spec.budget_usd, budget_name=self.scope,
                               max_restarts=self.spec.max_restarts, api_keys=self._keys,
                               log_path=str(self.run_dir.log_path()))
        placement = self._viewer_placement()
        problem = capacity_problem(n_actors, concurrency, per_actor,
                                   viewer_capacity(placement, ray.nodes()))
        if problem and not self.ray_address:
            raise ClusterError(f"sweep {self.spec.name!r}: {problem}")
        if problem:  # a cluster's autoscaler may still add nodes: say so, and go on
            log.warning("%s", problem)
            self._notify("warning", problem + " (unless the autoscaler adds nodes)")
        self.pool = ActorPool(lambda: ViewerActor.options(max_concurrency=per_actor + 2,
                                                          **placement).remote(options),
                              n_actors).start()
        await self._carry_over_spending()
        queue = deque(todo)
        statuses: dict[str, int] = {}

        async def worker(i: int) -> None:
            while queue and self._fatal is None and not self._interrupt.requested:
                trial = queue.popleft()
                status = await self._run_one(i, trial)
                statuses[status] = statuses.get(status, 0) + 1

        self._commit_wanted, self._commit_waiters = asyncio.Event(), []  # this loop's
        committer = asyncio.create_task(self._commit_steps())
        work = asyncio.gather(*(worker(i) for i in range(concurrency)))
        try:
            await asyncio.wait((work, committer), return_when=asyncio.FIRST_COMPLETED)
            if committer.done():  # a commit failed: the run stops at the failing write
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
                committer.result()
            await work
        finally:
            committer.cancel()
            work.cancel()
            for stream in self._streams.values():
                stream.task.cancel()
            self._streams.clear()
            # a second Ctrl-C: no goodbyes, just stop
            await self.pool.shutdown(goodbye=not self._interrupt.hard)
        return statuses

    async def _committed(self, record: TrialRecord) -> None:
        """Stage how a trial ended and return once a group commit has recorded it.

        Raises:
            RunError: the run directory could not be written (the run stops).
        """
        waiter = asyncio.get_running_loop().create_future()
        self.results.stage_finish(record)
        self._commit_waiters.append(waiter)
        self._commit_wanted.set()
        await waiter

    async def _commit_steps(self) -> None:
        """Group commit: staged steps reach the disk every `COMMIT_INTERVAL_S`, in one sync,
        and so do the records of the trials that ended (a trial's end asks for a commit at
        once; those that end while one is writing go together in the next).

        A commit that fails (a full disk) stops the run: the trials waiting on it and the
        sweep raise its error; what earlier commits wrote is kept, and a rerun resumes.

        A per-step fsync (~4 ms of wall time here) blocked the event loop and capped a run
        at a few hundred steps per second, and a commit (and an fsync) per finished trial
        cost the driver more than its steps did; see docs/scale.md.
        """
        while True:
            try:
                await asyncio.wait_for(self._commit_wanted.wait(), COMMIT_INTERVAL_S)
            except TimeoutError:
                pass
            self._commit_wanted.clear()
            waiters, self._commit_waiters = self._commit_waiters, []
            if not (waiters or self.results.staged()):
                continue
            error: BaseException | None = None
            try:
                await asyncio.to_thread(self.results.commit)
            except Exception as e:  # noqa: BLE001 - the trials waiting raise it; the run stops
                error = e
            for w in waiters:
                if w.done():
                    continue
                if error is None:
                    w.set_result(None)
                else:
                    w.set_exception(error)
            if error is not None:
                raise error

    async def _carry_over_spending(self) -> None:
        """Set the run's budget ledger to what its records say was spent (idempotent).

        Setting, not adding: a ledger that survived a crashed driver is not double-counted.
        Cache hits cost nothing and are not counted.
        """
        if self.spec.budget_usd is None:
            return

        spent = sum(r.get("cost_usd") or 0.0 for r in self.results.step_rows()
                    if not r.get("cached"))
        await SharedBudget(self.spec.budget_usd, self.scope).set_spent(spent)
        if spent > 0:
            self._notify("budget_carried", spent)

    def run(self) -> RunOutcome:
        """Run (or resume) the sweep; returns what happened. Tables are written at the end.

        A first Ctrl-C finishes the steps in flight and writes the tables and the summary
        (`RunOutcome.interrupted`); a second raises KeyboardInterrupt at once.
        """
        self._t0 = time.time()
        self._keys = api_keys(m for m in self.spec.models)  # before anything starts
        return RunLifecycle(self.ray_address).run(self, restart=self.restart)

    # ------------------------------------------------------------------ the engine's RunBody
    resumable = RESUMABLE_FIELDS

    def saved_spec(self) -> dict[str, Any]:
        return self.spec.saved()

    def plan(self) -> Plan:
        return plan_for(self.trials, {**self._load_feed(), **analysis_context(self.spec)},
                        options=self.spec.strategy_options)

    def resume(self) -> None:
        """Repair torn journals; the trials still to run, in round-robin order."""
        repaired = self.results.repair()
        damaged = self.results.damaged_tables()
        done = self.results.completed() & {t.trial_id for t in self.trials}
        self._todo = run_order([t for t in self.trials if t.trial_id not in done])
        self._outcome = RunOutcome(self.run_dir.root, planned=len(self.trials),
                                   skipped=len(done), repaired=repaired, damaged_tables=damaged)
        self._notify("start", self.trials, done)
        if repaired or damaged:
            self._notify("repaired", repaired, damaged)

    def execute(self, life: RunLifecycle) -> RunOutcome:
        outcome = self._outcome
        assert outcome is not None, "resume() runs first"
        if self._todo:
            life.start_ray()
            self.feed_server = self._start_feed()
            with self._interrupt:
                outcome.statuses = asyncio.run(self._sweep(self._todo, self.feed_server))
        outcome.fatal = self._fatal
        outcome.interrupted = self._interrupt.requested
        outcome.wall_s = time.time() - self._t0
        return outcome

    def finish(self, failure: BaseException | None) -> None:
        """Stop the feed, rebuild the tables and the summary.

        The tables are skipped after a second Ctrl-C (stop at once); a table that cannot be
        written does not hide the error that stopped the run.
        """
        if self.feed_server is not None:
            self.feed_server.stop()
            self.feed_server = None
        try:
            if not isinstance(failure, KeyboardInterrupt):
                planned = [t.trial_id for t in self.trials]
                self.results.consolidate(planned, {t.trial_id: self._ran_with(t)
                                                   for t in self.trials})
                write_summary(self.run_dir.root, self.spec, planned)
        except RunError as e:
            if failure is None:
                raise
            log.warning("tables and summary not rebuilt: %s", e)
        finally:
            self.results.close()  # the journals kept open, however the run ended
            self._notify("finish")


def _cancel(actor: Any, trial: TrialSpec) -> None:
    """Stop a trial in its actor (best effort: it may have ended, or the actor died)."""
    try:
        actor.cancel_trial.remote(trial.trial_id)
    except Exception:  # noqa: BLE001
        log.debug("cancelling a trial failed", exc_info=True)


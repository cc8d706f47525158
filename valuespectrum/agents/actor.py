"""ViewerActor: a Ray actor hosting several viewer agents that share one browser.

Only specs cross into the actor; the browser, the environments, the model clients and any
weights are built inside it. The driver starts trials (`start_trial`) and reads one event
stream per actor (`events`, a Ray generator): every few milliseconds it carries the events
of all the actor's trials at once, so a thousand agents cost tens of Ray messages a second,
not one per step (docs/scale.md), and the driver still journals every step as it happens.
"""

from __future__ import annotations

import asyncio
import logging
import os
import traceback
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from valuespectrum.agents.viewer import ViewerAgent, screenshot_jpeg
from valuespectrum.cluster import install_api_keys, ray_ready, send_output_to
from valuespectrum.config import ConfigError
from valuespectrum.environments.base import EnvironmentCrashed, EnvironmentTimeout
from valuespectrum.environments.drawing import (
    ALONE_CACHE_BYTES,
    DEFAULT_CACHE_BYTES,
    RENDERER,
    DrawnPosts,
    node_directory,
    stored_key,
)
from valuespectrum.environments.feed_client import FeedClient
from valuespectrum.environments.spec import KINDS, EnvironmentSpec, build_environment
from valuespectrum.feed.pool import feed_for
from valuespectrum.models import build_backend
from valuespectrum.models.base import BackendUnavailable, BudgetExceeded
from valuespectrum.strategies import strategy_for_trial
from valuespectrum.trial import EndEvent, RestartEvent, StepEvent, TrialEvent, TrialSpec
from valuespectrum.types import Observation

log = logging.getLogger(__name__)

#: Failures that restart a trial from its seed (the environment is rebuilt).
RESTARTABLE = (EnvironmentCrashed, EnvironmentTimeout)


@dataclass(frozen=True)
class ActorOptions:
    """Run-wide settings every actor receives (picklable)."""

    #: The feed servers; each trial goes to one of them by a hash of its id.
    feed_urls: tuple[str, ...]
    #: `feed_placement: nodes`: each node's own feed servers; an actor's trials go to its
    #: node's (by the same hash), or to any of `feed_urls` on a node not listed (one added
    #: after the feed started).
    feed_urls_by_node: dict[str, tuple[str, ...]] = field(default_factory=dict)
    cache_dir: str | None = None
    budget_usd: float | None = None
    budget_name: str | None = None
    max_restarts: int = 2
    jpeg_quality: int = 80
    #: Bytes of drawn posts (and their stored JPEGs) the actor's agents share in memory
    #: (None: `drawing.DEFAULT_CACHE_BYTES` in front of the node's directory of drawn
    #: posts, `drawing.ALONE_CACHE_BYTES` when the node has none).
    drawn_posts_bytes: int | None = None
    api_keys: dict[str, str] | None = field(default=None, repr=False)
    #: The run's log (`RunDirectory.log_path`): the actor's stdout and stderr go there.
    log_path: str | None = None


class ViewerHost:
    """The live side of a ViewerActor (also usable without Ray, e.g. in tests)."""

    def __init__(self, options: ActorOptions) -> None:
        if not options.feed_urls:
            raise ValueError("ActorOptions.feed_urls names no feed server")
        # keys arrive as an argument (never a runtime env, which Ray logs in plain text)
        install_api_keys(options.api_keys)
        self.options = options
        self._browser = None
        self._browser_lock = asyncio.Lock()
        self._appium = None
        self._appium_lock = asyncio.Lock()
        self._feed_client = None
        self._said_no_local_feed = False
        # posts drawn by the HTTP environments, and PNG screenshots' stored JPEGs
        # ... in memory, in front of the node's directory shared by its actors
        shared = node_directory()
        memory = options.drawn_posts_bytes
        if memory is None:
            memory = DEFAULT_CACHE_BYTES if shared is not None else ALONE_CACHE_BYTES
        self.drawings = DrawnPosts(memory, shared)
        self._backends: dict[str, Any] = {}
        self.trials_run = 0
        # the event stream: (trial id, attempt token, event) waiting for `events` to send
        self._outbox: list[tuple[str, int, TrialEvent]] = []
        self._ready = asyncio.Event()
        # a trial ended or restarted: its batch leaves now (the driver starts the next trial
        # on it), not at the end of the window
        self._urgent = asyncio.Event()
        self._running: dict[str, tuple[int, asyncio.Task]] = {}
        self._closed = False
        self._streams = 0

    async def browser(self):
        """The shared browser, (re)started when missing or dead."""
        from valuespectrum.environments.playwright_env import BrowserHost

        async with self._browser_lock:  # agents start together: launch one browser, not one each
            if self._browser is not None and not self._browser.is_alive():
                await self._close_browser()
            if self._browser is None:
                host = BrowserHost()
                await host.start()
                self._browser = host
            return self._browser

    async def appium(self, url: str | None = None):
        """The shared Appium server (started, or attached to `url`), restarted when dead.

        Every Appium environment of this actor opens its own session on it.
        """
        from valuespectrum.environments.appium_server import AppiumServer

        async with self._appium_lock:  # agents start together: one server, not one each
            if self._appium is not None and not await asyncio.to_thread(self._appium.is_alive):
                await self._close_appium()
            if self._appium is None:
                server = AppiumServer(url)
                await asyncio.to_thread(server.start)
                self._appium = server
            return self._appium

    def feed_urls(self) -> tuple[str, ...]:
        """The feed servers this actor's trials use: its node's own, if it has any."""
        if self.options.feed_urls_by_node:
            mine = self.options.feed_urls_by_node.get(_node_id())
            if mine:
                return mine
            if not self._said_no_local_feed:
                self._said_no_local_feed = True
                log.warning("no feed process on this node (%s): its trials use the other "
                            "nodes' feeds", _node_id() or "no Ray")
        return self.options.feed_urls

    def feed_client(self):
        """The HTTP environments' shared FeedClient: one connection pool, and every
        agent's watch events sent in batches (docs/scale.md)."""
        if self._feed_client is None:
            self._feed_client = FeedClient()
        return self._feed_client

    def feed_host(self):
        """What the HTTP environments share: the FeedClient and the drawn posts."""
        from valuespectrum.environments.http_env import FeedHost

        return FeedHost(self.feed_client(), self.drawings)

    async def _close_appium(self) -> None:
        server, self._appium = self._appium, None
        if server is not None:
            await asyncio.to_thread(server.stop)

    async def _close_browser(self) -> None:
        if self._browser is not None:
            try:
                await self._browser.close()
            except Exception:  # a crashed browser may fail to close; it is gone either way
                log.debug("closing a dead browser failed", exc_info=True)
            self._browser = None

    def backend(self, trial: TrialSpec):
        """One backend stack per model spec, shared by the agents of this actor."""
        key = trial.model.model_dump_json()
        if key not in self._backends:
            self._backends[key] = build_backend(
                trial.model,
                cache_dir=self.options.cache_dir,
                budget_usd=self.options.budget_usd,
                budget_name=self.options.budget_name,
            )
        return self._backends[key]

    async def environment(self, trial: TrialSpec):
        spec = EnvironmentSpec(
            kind=trial.platform.environment,
            style=trial.platform.style,
            feed_url=feed_for(trial.trial_id, self.feed_urls()),
            session_id=trial.trial_id,
            options=trial.platform.options,
        )

        shared = KINDS[spec.kind].host
        if shared == "browser":
            host = await self.browser()
        elif shared == "appium":
            url = spec.options.get("appium_url")
            host = await self.appium(str(url) if url else None)
        elif shared == "feed":
            host = self.feed_host()
        else:
            host = None
        return await build_environment(spec, host=host)

    async def run_trial(self, trial: TrialSpec) -> AsyncIterator[TrialEvent]:
        """Run one trial, yielding step / restart / end events.

        A crashed environment (e.g. the browser died) is rebuilt and the trial restarts
        from its seed; the driver drops the partial attempt, so no step is duplicated.
        Restarts wait 0.5 s, doubling to at most 4 s, and stop after
        `ActorOptions.max_restarts`; the trial then ends "failed" naming the last crash.
        """
        self.trials_run += 1
        node = _node_id()
        # a page that did not answer in time (e.g. a loaded machine while browsers start) is
        # retried like a crash: the trial restarts from its seed, so its steps are the same
        # ones. No browser close here: sibling agents crash together, and browser()
        # relaunches a dead browser once, under its lock. A feed server or browser coming
        # back needs a moment: back off, then rebuild
        retrying = AsyncRetrying(retry=retry_if_exception_type(RESTARTABLE),
                                 stop=stop_after_attempt(self.options.max_restarts + 1),
                                 wait=wait_exponential(multiplier=0.5, max=4.0), reraise=True)
        restarts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    restarts = attempt.retry_state.attempt_number - 1
                    # closed here even if this generator is: its environment with it
                    async with aclosing(self._attempt(trial, restarts, node)) as events:
                        async for event in events:
                            yield event
                    return
                crash = attempt.retry_state.outcome.exception()
                if isinstance(crash, RESTARTABLE) and not retrying.stop(attempt.retry_state):
                    # told before the wait, so the driver drops the partial attempt at once
                    log.warning("trial %s: environment crashed, restart %d of %d: %s",
                                trial.trial_id, restarts + 1, self.options.max_restarts, crash)
                    yield RestartEvent(restarts + 1, str(crash))
        except RESTARTABLE as e:
            log.warning("trial %s: environment crashed %d times, giving up; last: %s",
                        trial.trial_id, restarts + 1, e)
            yield EndEvent("failed", restarts, node_id=node,
                           error=f"environment crashed {restarts + 1} times; last: {e}")

    async def _attempt(self, trial: TrialSpec, restarts: int,
                       node: str) -> AsyncIterator[TrialEvent]:
        """One attempt of `trial`: its steps and its end; raises RESTARTABLE on a crash."""
        labels = dict(
            trial_id=trial.trial_id, cell=trial.cell, persona=trial.persona.name,
            model=trial.model.label, platform=trial.platform.label, strategy=trial.strategy,
            isq_format=trial.strategy_params["mode"] if trial.strategy == "isq" else None,
        )
        env = None
        try:
            backend = self.backend(trial)
            # the trial's seed reaches every request: random viewers draw independently
            # per trial, and APIs that take a seed get one (it is part of the cache key)
            strategy = strategy_for_trial(trial)
            env = await self.environment(trial)
            agent = ViewerAgent(trial.persona, backend, strategy, env)
            # the stored JPEG is encoded while the model decides, not after the step
            keep = self.stored_jpeg if trial.screenshots else None
            async for outcome in agent.scroll(trial.scrolls, seed=trial.seed, keep=keep,
                                              labels=labels):
                yield StepEvent.of(outcome.record, outcome.kept)
            yield EndEvent("done", restarts, node_id=node)
        except RESTARTABLE:
            raise  # run_trial restarts the trial
        except BudgetExceeded as e:
            yield EndEvent("budget", restarts, str(e), fatal=True, node_id=node)
        except ConfigError as e:  # a bad model/strategy setting fails every trial alike
            yield EndEvent("failed", restarts, f"configuration: {e}", fatal=True, node_id=node)
        except BackendUnavailable as e:
            yield EndEvent("failed", restarts, f"model backend unavailable: {e}", fatal=True,
                           node_id=node)
        except Exception as e:  # any other failure ends this trial, recorded with its cause
            log.error("trial %s failed:\n%s", trial.trial_id, traceback.format_exc())
            yield EndEvent("failed", restarts, f"{type(e).__name__}: {e}", node_id=node)
        finally:
            if env is not None:
                try:
                    await env.close()
                except Exception:
                    log.debug("closing environment failed", exc_info=True)

    # ------------------------------------------------------------ the event stream
    def start_trial(self, trial: TrialSpec, token: int) -> None:
        """Run `trial` in the background; its events leave through `events`, tagged with
        `token` (the driver's attempt: events of an attempt it gave up on are dropped).
        A trial still running under an earlier token is cancelled first."""
        self.cancel_trial(trial.trial_id)
        task = asyncio.get_running_loop().create_task(self._feed_outbox(trial, token))
        self._running[trial.trial_id] = (token, task)

    def cancel_trial(self, trial_id: str) -> bool:
        """Stop a trial started by `start_trial` (its environment is closed); False if none."""
        _, task = self._running.pop(trial_id, (None, None))
        if task is None:
            return False
        task.cancel()
        return True

    async def _feed_outbox(self, trial: TrialSpec, token: int) -> None:
        tid = trial.trial_id
        try:
            async for event in self.run_trial(trial):
                self._outbox.append((tid, token, event))
                self._ready.set()
                if not isinstance(event, StepEvent):
                    self._urgent.set()
        except asyncio.CancelledError:
            raise
        except BaseException as e:  # run_trial records its own failures; this is a last guard
            log.error("trial %s stopped outside its handlers:\n%s", tid, traceback.format_exc())
            self._outbox.append((tid, token, EndEvent("failed", 0, f"{type(e).__name__}: {e}",
                                                      node_id=_node_id())))
            self._ready.set()
            self._urgent.set()
        finally:
            if self._running.get(tid, (None,))[0] == token:
                self._running.pop(tid, None)

    async def events(self, batch_s: float = 0.25) -> AsyncIterator[list[tuple[str, int, Any]]]:
        """The events of every trial of this actor, in batches: once an event is waiting,
        `batch_s` more seconds let others join it, unless a trial ends or restarts (its
        batch leaves at once). Ends when the host shuts down."""
        self._streams += 1
        mine = self._streams  # one reader: a newer stream (the driver's, after a break) wins
        while not self._closed and mine == self._streams:
            await self._ready.wait()
            if batch_s > 0 and not self._urgent.is_set():
                try:
                    await asyncio.wait_for(self._urgent.wait(), batch_s)
                except TimeoutError:
                    pass
            if mine != self._streams:
                return
            self._ready.clear()
            self._urgent.clear()
            batch, self._outbox = self._outbox, []
            if batch:
                yield batch

    async def stored_jpeg(self, obs: Observation) -> bytes | None:
        """The screenshot as the run directory stores it (JPEG; None when none was taken).

        A JPEG from the browser is stored as it is, the very bytes the model was shown; a PNG
        is re-encoded at the run's `jpeg_quality`. A post drawn by the HTTP environment is
        the same PNG every time it is shown, so its copy is encoded once and kept with the
        drawn posts; a browser's screenshots never repeat, so theirs are not kept.
        """
        if obs.image_format == "jpeg":
            return obs.screenshot_png
        if obs.image_format == "none":
            return None
        png, quality = obs.screenshot_png, self.options.jpeg_quality

        async def encode() -> tuple[bytes]:
            # in a thread: the other agents of this actor keep running
            return (await asyncio.to_thread(screenshot_jpeg, png, quality),)

        if obs.meta.get("renderer") != RENDERER:
            return (await encode())[0]
        return (await self.drawings.fetch(stored_key(png, quality), encode))[0]

    async def ping(self) -> dict[str, Any]:
        """Health and load of this host (RLlib-style assert_healthy), and the process it
        runs in (`pid`: what its browsers and Appium server run below)."""
        alive = self._browser.is_alive() if self._browser is not None else None
        appium = (await asyncio.to_thread(self._appium.is_alive)
                  if self._appium is not None else None)
        return {"browser_alive": alive, "appium_alive": appium, "trials_run": self.trials_run,
                "pid": os.getpid()}

    async def crash_browser(self) -> int:
        """Fault injection: SIGKILL this process's Chromium processes; returns how many died."""
        import psutil

        return kill_browsers_below(psutil.Process())

    async def shutdown(self) -> None:
        self._closed = True
        self._ready.set()  # the event stream ends
        for tid in list(self._running):
            self.cancel_trial(tid)
        for b in self._backends.values():
            try:
                await b.aclose()
            except Exception:
                log.debug("closing backend failed", exc_info=True)
        self._backends.clear()
        if self._feed_client is not None:
            await self._feed_client.close()
            self._feed_client = None
        await self._close_browser()
        await self._close_appium()


def _node_id() -> str:
    """The Ray node this process runs on ("" outside Ray)."""
    if not ray_ready():
        return ""
    import ray

    return ray.get_runtime_context().get_node_id()


def kill_browsers_below(root) -> int:
    """SIGKILL every Chromium process below the psutil process `root`; returns how many."""
    import psutil

    from valuespectrum.environments.playwright_env import chromium_processes

    killed = 0
    for proc in chromium_processes(root):
        try:
            proc.kill()
            killed += 1
        except psutil.NoSuchProcess:
            continue
    return killed


def viewer_actor_class():
    """The Ray actor class (created lazily so importing this module does not import Ray)."""
    import ray

    @ray.remote(num_cpus=0.5, max_restarts=3)
    class ViewerActor:
        def __init__(self, options: ActorOptions) -> None:
            # before anything loads a model: its progress bars and warnings go to the log
            send_output_to(options.log_path, "viewer actor")
            self._host = ViewerHost(options)

        async def start_trial(self, trial: TrialSpec, token: int) -> None:
            self._host.start_trial(trial, token)

        async def cancel_trial(self, trial_id: str) -> bool:
            return self._host.cancel_trial(trial_id)

        async def events(self, batch_s: float = 0.25):
            async for batch in self._host.events(batch_s):
                yield batch

        async def ping(self) -> dict[str, Any]:
            return await self._host.ping()

        async def crash_browser(self) -> int:
            return await self._host.crash_browser()

        async def shutdown(self) -> None:
            await self._host.shutdown()

    return ViewerActor

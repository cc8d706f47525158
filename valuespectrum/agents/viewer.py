"""ViewerAgent: a persona-driven viewer that watches or skips, one scroll at a time."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from PIL import Image

from valuespectrum.environments.base import Environment
from valuespectrum.models.base import STOPS_THE_RUN, Backend, BackendError, backend_error_text
from valuespectrum.personas import Persona, is_relevant, value_match
from valuespectrum.strategies.base import Strategy
from valuespectrum.types import (
    Decision,
    Observation,
    Skip,
    Stay,
    StepRecord,
    StepResult,
    screenshot_path,
)

#: Dwell used when the environment does not know a video's length (real platforms).
DEFAULT_DWELL_S = 15.0


@dataclass(frozen=True)
class StepOutcome:
    """What happened at one scroll: what was seen, decided, done, and what the feed saw.

    `value_match` and `relevant` judge the post (the observation's `ground_truth`) against
    the agent's persona: whether it carries one of the persona's values, and whether the
    persona's relevance labels pick it (`personas.is_relevant`). None when the post or the
    persona is unknown, or (`relevant`) the persona has no labels.
    """

    step: int
    observation: Observation
    decision: Decision
    action: Stay | Skip
    result: StepResult
    wall_s: float
    kept: Any = None  # what `scroll(keep=...)` made of the observation (e.g. the stored JPEG)
    value_match: bool | None = None
    relevant: bool | None = None
    #: The step's row, complete, when `scroll` was given the trial's `labels`.
    record: StepRecord | None = None


class ViewerAgent:
    """Observe -> decide -> Stay(the post's duration) or Skip, for a number of scrolls.

    The agent only observes: its actions are watching and scrolling, never liking,
    commenting or following. An invalid answer (Decision.yes is None) scrolls on, and is
    recorded as invalid, not as "no".
    """

    def __init__(
        self,
        persona: Persona | None,
        backend: Backend,
        strategy: Strategy,
        env: Environment,
        *,
        default_dwell_s: float = DEFAULT_DWELL_S,
    ) -> None:
        self.persona = persona
        self.backend = backend
        self.strategy = strategy
        self.env = env
        self.default_dwell_s = default_dwell_s

    async def decide(self, obs: Observation) -> Decision:
        """The strategy's decision; a failed model call becomes an invalid step, not a crash.

        Fatal errors (dead endpoint, exhausted budget) still end the trial; any other
        backend error (e.g. an HTTP 400 for one request, retries exhausted) is recorded on
        this step as `error="backend: ..."` with no decision, and the viewer scrolls on.
        """
        t0 = time.perf_counter()
        try:
            return await self.strategy.decide(obs, self.persona, self.backend)
        except STOPS_THE_RUN:
            raise
        except BackendError as e:
            return Decision(yes=None, error=backend_error_text(e),
                            latency_s=time.perf_counter() - t0)

    def judge(self, obs: Observation) -> tuple[bool | None, bool | None]:
        """The post against the persona by the feed's ground truth: (value_match, relevant).

        Only the record uses it; the strategy never sees the ground truth."""
        if self.persona is None:
            return None, None
        post = obs.ground_truth
        return value_match(self.persona, post), is_relevant(self.persona, post)

    def choose(self, obs: Observation, decision: Decision) -> Stay | Skip:
        if decision.yes:
            return Stay(dwell_s=obs.duration_s if obs.duration_s else self.default_dwell_s)
        return Skip()

    async def scroll(self, scrolls: int, *, seed: int | None = None,
                     keep: Callable[[Observation], Awaitable[Any]] | None = None,
                     labels: Mapping[str, Any] | None = None,
                     ) -> AsyncIterator[StepOutcome]:
        """Run `scrolls` steps from a fresh reset, yielding each outcome as it happens.

        keep: work on each observation that need not delay the step, such as encoding the
        screenshot the run directory stores. It runs while the model decides, and its
        result is the outcome's `kept`; if it fails, the step fails with its error.
        labels: the trial's labels (`step_record`'s keyword arguments): each outcome then
        carries its complete row as `record`, built here where the step happened.
        """
        obs = await self.env.reset(seed=seed)
        for step in range(scrolls):
            t0 = time.perf_counter()
            kept = asyncio.ensure_future(keep(obs)) if keep is not None else None
            try:
                decision = await self.decide(obs)
                action = self.choose(obs, decision)
                result = await self.env.act(action)
            except BaseException:
                if kept is not None:
                    _drop(kept)
                raise
            wall_s = time.perf_counter() - t0
            matches, relevant = self.judge(obs)
            outcome = StepOutcome(step, obs, decision, action, result, wall_s,
                                  kept=None if kept is None else await kept,
                                  value_match=matches, relevant=relevant)
            if labels is not None:
                outcome = replace(outcome, record=step_record(outcome, **labels))
            yield outcome
            obs = result.observation


def _drop(task: asyncio.Future) -> None:
    """Cancel `task` of a failed step; the step's own error is the one that counts."""
    if task.done() and not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as lost
    task.cancel()


def screenshot_jpeg(png: bytes, quality: int = 80) -> bytes:
    """Re-encode a PNG screenshot as JPEG for storage."""
    with Image.open(io.BytesIO(png)) as im:
        buf = io.BytesIO()
        im.convert("RGB").save(buf, format="JPEG", quality=quality)
        return buf.getvalue()


def step_record(
    outcome: StepOutcome,
    *,
    trial_id: str,
    cell: str,
    persona: str,
    model: str,
    platform: str,
    strategy: str,
    isq_format: str | None = None,
) -> StepRecord:
    """The row steps.parquet keeps of an outcome, complete: nothing is added to it later.

    The post's category and value tags are the observation's ground truth (None and ()
    when the feed does not know the post, e.g. a real platform); `value_match` and
    `relevant` are the agent's judgement of it (`ViewerAgent.judge`). When `outcome.kept`
    is bytes (the screenshot the run directory stores), `screenshot_path` names where.
    """
    d, obs, res = outcome.decision, outcome.observation, outcome.result
    isq = d.isq
    post = obs.ground_truth
    return StepRecord(
        trial_id=trial_id,
        cell=cell,
        persona=persona,
        model=model,
        platform=platform,
        strategy=strategy,
        step=outcome.step,
        item_id=obs.item_id,
        category=None if post is None else post.category,
        value_tags=() if post is None else tuple(v.value for v in post.value_tags),
        value_match=outcome.value_match,
        relevant=outcome.relevant,
        decision=None if d.yes is None else int(d.yes),
        score=d.score,
        isq_visual_appeal=isq.visual_appeal if isq else None,
        isq_curiosity=isq.curiosity if isq else None,
        isq_emotional_engagement=isq.emotional_engagement if isq else None,
        isq_value_expectation=isq.value_expectation if isq else None,
        isq_preference_alignment=isq.preference_alignment if isq else None,
        isq_action_desire=isq.action_desire if isq else None,
        answers=json.dumps(d.answers, ensure_ascii=False),
        prompt_version=d.prompt_version,
        isq_format=isq_format,
        action=outcome.action.kind,
        dwell_s=outcome.action.dwell_s if isinstance(outcome.action, Stay) else 0.0,
        watched_s=res.watched_s,
        watch_ratio=res.watch_ratio,
        latency_s=d.latency_s,
        input_tokens=d.usage.input_tokens,
        output_tokens=d.usage.output_tokens,
        cost_usd=d.usage.cost_usd,
        cached=d.cached,
        error=d.error,
        screenshot_path=(screenshot_path(trial_id, outcome.step)
                         if isinstance(outcome.kept, bytes) else None),
        url=obs.url,
        t_s=obs.t_s,
        observation_mode=obs.mode,
        frames=max(1, len(obs.frames)),
        environment_info=json.dumps(obs.meta, sort_keys=True, ensure_ascii=False),
    )

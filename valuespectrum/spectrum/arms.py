"""One arm of a Value-Spectrum run: one model (or VLM+LLM pair) over every retrieved image.

An arm's items are answered in units of one value each: on the engine's fault-tolerant pool of
answer actors (``parallel: ray``, `ArmHost` in `answer_actor_class`) or in the driver
(``local``). Either way it builds its live backends from specs, receives the images as bytes
(never paths, so it can run on another node) and streams one `ResultRow` per answer back to
the driver, which journals it: the driver is the run directory's only writer, as in a sweep.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from valuespectrum.cluster import install_api_keys, send_output_to
from valuespectrum.models import BudgetExceeded, SharedBudget, build_backend
from valuespectrum.models.base import (
    STOPS_THE_RUN,
    BackendError,
    backend_error_text,
    is_backend_error,
)
from valuespectrum.models.spec import OPERATIONAL_FIELDS, ModelSpec
from valuespectrum.strategies import make_strategy
from valuespectrum.types import Frozen, GenerateConfig, Observation, SchwartzValue, VisibleText


class SpectrumItem(Frozen):
    """A retrieved image to be judged: the rank-th nearest to a value's keyword."""

    value: SchwartzValue
    keyword: str
    rank: int
    image_id: str
    path: str
    caption: str = ""
    platform: str = ""
    posted: str = ""
    link: str = ""
    distance: float = 0.0


class Arm(Frozen):
    """What answers: `plain` with one VLM, or `caption_llm` with a VLM captioner + LLM."""

    label: str
    strategy: Literal["plain", "caption_llm"]
    model: ModelSpec
    text_model: ModelSpec | None = None
    vlm_label: str = ""

    def fingerprint_data(self) -> dict[str, Any]:
        """What this arm's answers depend on (not where or how its models are reached)."""
        return self.model_dump(mode="json", exclude={"model": set(OPERATIONAL_FIELDS),
                                                     "text_model": set(OPERATIONAL_FIELDS)})


class ArmConfig(Frozen):
    """Run-wide settings an arm needs (all picklable)."""

    run_name: str
    cache_dir: str | None = None
    budget_usd: float | None = None
    followups: bool = True
    concurrency: int = 4
    seed: int = 0
    prompts: dict[str, Any] = {}
    #: The run's log: a Ray task's stdout and stderr go there (`cluster.send_output_to`).
    log_path: str | None = None


class ResultRow(Frozen):
    """One answer: the unit of results.parquet."""

    arm: str
    strategy: str
    model: str
    text_model: str = ""
    value: str
    keyword: str
    rank: int
    image_id: str
    path: str
    yes: bool | None = None
    answers: str = "{}"
    prompt_version: str = ""
    latency_s: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cached: bool = False
    error: str | None = None


@dataclass(frozen=True)
class ArmStopped:
    """The arm ended before its last item (budget exhausted, dead endpoint)."""

    arm: str
    reason: str


def row_key(row: Mapping[str, Any]) -> tuple[str, str, str, int]:
    return (row["arm"], row["value"], row["keyword"], int(row["rank"]))


def is_final(row: Mapping[str, Any]) -> bool:
    """A row that a resume keeps: answered, invalid, or a permanent image problem.

    Backend failures (network, rate limit after retries) are redone on resume.
    """
    return not is_backend_error(row.get("error"))


def load_png(path: str | Path, max_px: int) -> bytes:
    """The image as PNG bytes, transparency flattened on white, longest side <= `max_px`."""
    import warnings

    from PIL import Image

    with Image.open(path) as im, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        im = im.convert("RGBA")
        flat = Image.new("RGB", im.size, (255, 255, 255))
        flat.paste(im, mask=im.split()[3])
    flat.thumbnail((max_px, max_px))
    buf = io.BytesIO()
    flat.save(buf, format="PNG")
    return buf.getvalue()


def load_images(paths: Sequence[str], max_px: int) -> dict[str, bytes | str]:
    """Path -> PNG bytes, or the error text for an unreadable file (a recorded failure)."""
    out: dict[str, bytes | str] = {}
    for path in dict.fromkeys(paths):
        try:
            out[path] = load_png(path, max_px)
        except Exception as e:  # noqa: BLE001 - missing/corrupt files are recorded per row
            out[path] = f"{type(e).__name__}: {e}"
    return out


def arm_backends(arm: Arm, cfg: ArmConfig, budget: Any = None) -> tuple[Any, Any]:
    """The arm's live backends: its model, and for `caption_llm` the text model.

    `budget` is the run's `SharedBudget` (default: one named after the run, which Ray
    shares across actors; pass one explicitly to share it between arms of one process).
    """
    if budget is None and cfg.budget_usd is not None:
        budget = SharedBudget(cfg.budget_usd, cfg.run_name)
    backend = build_backend(arm.model, cache_dir=cfg.cache_dir, budget=budget, scope=cfg.run_name)
    text_backend = None
    if arm.strategy == "caption_llm":
        text_backend = build_backend(arm.text_model, cache_dir=cfg.cache_dir, budget=budget,
                                     scope=cfg.run_name)
    return backend, text_backend


async def answer_items(arm: Arm, items: Sequence[SpectrumItem], images: Mapping[str, bytes | str],
                       cfg: ArmConfig, budget: Any = None,
                       backends: tuple[Any, Any] | None = None,
                       ) -> AsyncIterator[ResultRow | ArmStopped]:
    """Judge `items` with the arm's strategy, yielding each answer as it is made.

    `backends` are the arm's (`arm_backends`), kept open for the caller's next items (an
    answer actor builds them once per arm, not per unit); without them they are built with
    `budget` (see `arm_backends`) and closed at the end. Yields an `ArmStopped` (and nothing
    after it) when the budget is exhausted or the endpoint is dead.
    """
    owned = backends is None
    backend, text_backend = arm_backends(arm, cfg, budget) if owned else backends
    config = GenerateConfig(seed=cfg.seed)
    prompts = cfg.prompts or None
    if arm.strategy == "caption_llm":
        # the LLM answers the plain arm's question: the arms differ only in who sees the image
        strategy = make_strategy("caption_llm", text_backend=text_backend, question="plain",
                                 config=config, prompts=prompts)
    else:
        strategy = make_strategy("plain", followups=cfg.followups, config=config,
                                 prompts=prompts)
    sem = asyncio.Semaphore(cfg.concurrency)
    out: asyncio.Queue[ResultRow | ArmStopped | None] = asyncio.Queue()
    stopped: list[str] = []
    base = {"arm": arm.label, "strategy": arm.strategy, "model": arm.model.spec,
            "text_model": arm.text_model.spec if arm.text_model else ""}

    async def judge(item: SpectrumItem) -> None:
        async with sem:
            if stopped:
                return
            ident = {**base, "value": item.value.value, "keyword": item.keyword,
                     "rank": item.rank, "image_id": item.image_id, "path": item.path}
            png = images.get(item.path, "FileNotFoundError: not loaded")
            if isinstance(png, str):
                await out.put(ResultRow(**ident, error=f"image: {png}"))
                return
            obs = Observation(screenshot_png=png, text=VisibleText(caption=item.caption),
                              item_id=item.image_id, url=item.link)
            try:
                d = await strategy.decide(obs, None, backend)
            except STOPS_THE_RUN as e:  # budget or dead endpoint: stop the arm, say why, once
                stopped.append(str(e) if isinstance(e, BudgetExceeded)
                               else f"model backend unavailable: {e}")
                return
            except BackendError as e:
                await out.put(ResultRow(**ident, error=backend_error_text(e)))
                return
            await out.put(ResultRow(
                **ident, yes=d.yes, answers=json.dumps(d.answers, ensure_ascii=False),
                prompt_version=d.prompt_version, latency_s=d.latency_s,
                input_tokens=d.usage.input_tokens, output_tokens=d.usage.output_tokens,
                cost_usd=d.usage.cost_usd, cached=d.cached, error=d.error))

    async def all_items() -> None:
        try:
            await asyncio.gather(*(judge(it) for it in items))
        finally:
            await out.put(None)

    task = asyncio.create_task(all_items())
    try:
        while (row := await out.get()) is not None:
            yield row
        await task
        if stopped:
            yield ArmStopped(arm.label, stopped[0])
    finally:
        task.cancel()
        if owned:
            await _close(backend, text_backend)


async def _close(*backends: Any) -> None:
    for b in backends:
        if b is not None:
            await b.aclose()


class ArmHost:
    """What one answer actor does: answers the items of one unit (an arm's items of one
    value) and streams the result rows back in batches of one, as plain dicts.

    An arm's backends are built at its first unit and kept for its next ones (a CPU viewer
    loads its weights once per actor, not once per value); `shutdown` closes them.

    Args:
        log_path: The run's log: the actor's stdout and stderr go there, under a header
            naming the arm it answers for.
    """

    def __init__(self, log_path: str | None = None) -> None:
        self.log_path = log_path
        send_output_to(log_path, "answer actor")
        self._backends: dict[str, tuple[Any, Any]] = {}

    async def answer(self, arm: Arm, items: list[SpectrumItem],
                     images: Mapping[str, bytes | str], cfg: ArmConfig,
                     api_keys: dict[str, str] | None = None
                     ) -> AsyncIterator[list[dict[str, Any]] | ArmStopped]:
        """`answer_items` for one unit. `api_keys` (variable name -> key) arrive as an
        argument, so arms also work on a remote cluster without the keys being written into
        Ray's runtime-env logs."""
        install_api_keys(api_keys)
        if arm.label not in self._backends:
            send_output_to(self.log_path, f"arm {arm.label}")  # what loads next is its own
            self._backends[arm.label] = arm_backends(arm, cfg)
        async for got in answer_items(arm, items, images, cfg,
                                      backends=self._backends[arm.label]):
            yield got if isinstance(got, ArmStopped) else [got.model_dump(mode="json")]

    async def ping(self) -> dict[str, Any]:
        """Health check (the engine's actor pool)."""
        return {"pid": os.getpid()}

    async def shutdown(self) -> None:
        """Close every arm's backends."""
        backends, self._backends = self._backends, {}
        for pair in backends.values():
            await _close(*pair)


def answer_actor_class() -> Any:
    """The Ray actor class of `ArmHost` (created lazily: importing this module imports no
    Ray). Ray restarts a dead one up to 3 times; the engine's pool replaces it after that."""
    import ray

    @ray.remote(num_cpus=0.25, max_restarts=3)
    class AnswerActor:
        def __init__(self, log_path: str | None = None) -> None:
            self._host = ArmHost(log_path)

        async def answer(self, arm, items, images, cfg, api_keys=None):
            async for got in self._host.answer(arm, items, images, cfg, api_keys):
                yield got

        async def ping(self) -> dict[str, Any]:
            return await self._host.ping()

        async def shutdown(self) -> None:
            await self._host.shutdown()

    return AnswerActor

"""One arm of a Value-Spectrum run: one model (or VLM+LLM pair) over every retrieved image.

An arm runs in its own process (a Ray task) or in the driver; either way it builds its live
backends from specs, reads images from paths, and appends one JSON line per answer to its
own journal file, so a crash loses at most the answers in flight.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from valuespectrum.models.spec import ModelSpec
from valuespectrum.types import Frozen, SchwartzValue


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


class ArmConfig(Frozen):
    """Run-wide settings an arm needs (all picklable)."""

    run_name: str
    cache_dir: str | None = None
    budget_usd: float | None = None
    followups: bool = True
    concurrency: int = 4
    max_image_px: int = 768


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

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.arm, self.value, self.keyword, self.rank)


def row_key(row: dict[str, Any]) -> tuple[str, str, str, int]:
    return (row["arm"], row["value"], row["keyword"], int(row["rank"]))


def is_final(row: dict[str, Any]) -> bool:
    """A row that a resume keeps: answered, invalid, or a permanent image problem.

    Backend failures (network, rate limit after retries) are redone on resume.
    """
    return not str(row.get("error") or "").startswith("backend:")


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


def append_row(journal: Path, row: ResultRow) -> None:
    with journal.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row.model_dump(mode="json"), ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


async def run_arm(arm: Arm, items: Sequence[SpectrumItem], journal: Path, cfg: ArmConfig,
                  on_row: Callable[[ResultRow], None] | None = None,
                  budget: Any = None) -> dict[str, Any]:
    """Judge `items` with the arm's strategy, appending each answer to `journal`.

    `budget` is the run's `SharedBudget` (default: one named after the run, which Ray
    shares across tasks; pass one explicitly to share it between arms of one process).

    Returns:
        ``{"arm", "written", "stopped"}``; `stopped` holds the reason (e.g. the budget was
        exhausted) when the arm ended before its last item.
    """
    from valuespectrum.models import BudgetExceeded, SharedBudget, build_backend
    from valuespectrum.models.base import BackendError, BackendUnavailable
    from valuespectrum.strategies import make_strategy
    from valuespectrum.types import Observation, VisibleText

    if budget is None and cfg.budget_usd is not None:
        budget = SharedBudget(cfg.budget_usd, cfg.run_name)
    backend = build_backend(arm.model, cache_dir=cfg.cache_dir, budget=budget, scope=cfg.run_name)
    text_backend = None
    if arm.strategy == "caption_llm":
        text_backend = build_backend(arm.text_model, cache_dir=cfg.cache_dir, budget=budget,
                                     scope=cfg.run_name)
        strategy = make_strategy("caption_llm", text_backend=text_backend)
    else:
        strategy = make_strategy("plain", followups=cfg.followups)
    sem = asyncio.Semaphore(cfg.concurrency)
    images: dict[str, bytes | Exception] = {}
    state: dict[str, Any] = {"written": 0, "stopped": None}
    base = {"arm": arm.label, "strategy": arm.strategy, "model": arm.model.spec,
            "text_model": arm.text_model.spec if arm.text_model else ""}

    def image(path: str) -> bytes:
        if path not in images:
            try:
                images[path] = load_png(path, cfg.max_image_px)
            except Exception as e:  # unreadable / missing file: a permanent, recorded failure
                images[path] = e
        got = images[path]
        if isinstance(got, Exception):
            raise got
        return got

    async def judge(item: SpectrumItem) -> None:
        async with sem:
            if state["stopped"]:
                return
            ident = {**base, "value": item.value.value, "keyword": item.keyword,
                     "rank": item.rank, "image_id": item.image_id, "path": item.path}
            try:
                png = image(item.path)
            except Exception as e:
                row = ResultRow(**ident, error=f"image: {type(e).__name__}: {e}")
            else:
                obs = Observation(screenshot_png=png, text=VisibleText(caption=item.caption),
                                  item_id=item.image_id, url=item.link)
                try:
                    d = await strategy.decide(obs, None, backend)
                except BudgetExceeded as e:
                    state["stopped"] = str(e)
                    return
                except BackendUnavailable as e:  # dead endpoint: stop the arm, say why, once
                    state["stopped"] = f"model backend unavailable: {e}"
                    return
                except BackendError as e:
                    row = ResultRow(**ident, error=f"backend: {type(e).__name__}: {e}")
                else:
                    row = ResultRow(
                        **ident, yes=d.yes, answers=json.dumps(d.answers, ensure_ascii=False),
                        prompt_version=d.prompt_version, latency_s=d.latency_s,
                        input_tokens=d.usage.input_tokens, output_tokens=d.usage.output_tokens,
                        cost_usd=d.usage.cost_usd, cached=d.cached, error=d.error)
            append_row(journal, row)
            state["written"] += 1
            if on_row is not None:
                on_row(row)

    try:
        await asyncio.gather(*(judge(it) for it in items))
    finally:
        await backend.aclose()
        if text_backend is not None:
            await text_backend.aclose()
    return {"arm": arm.label, "written": state["written"], "stopped": state["stopped"]}


def arm_task(arm: Arm, items: list[SpectrumItem], journal: str, cfg: ArmConfig,
             api_keys: dict[str, str] | None = None) -> dict[str, Any]:
    """Synchronous entry point of an arm (the body of its Ray task).

    `api_keys` (variable name -> key) are set in this worker's environment: passed as an
    argument they reach remote nodes without being written into Ray's runtime-env logs.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.update(api_keys or {})
    return asyncio.run(run_arm(arm, items, Path(journal), cfg))

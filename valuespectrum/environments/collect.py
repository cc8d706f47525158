"""The collection agent: a random walk on any environment that fills the screenshot store.

It scrolls with a random dwell (skip with probability `skip_prob`, else stay a uniform
0..`max_dwell_s` seconds), captures each post's screenshot at video start with its link,
platform, caption and post date, and writes them into a `ScreenshotStore`. A post's
identity is its link: a post already collected, in this run or in the store, is never
added twice. This is how the paper's 50,191-screenshot collection is rebuilt.

The run directory (`runs.RunDirectory`, kind ``collect``) keeps the spec, the plan and a
journal of collected posts; screenshots are saved in `screens/`. Rerunning the same
command resumes: a new walk (seeded by seed and walk number) continues until `n` distinct
posts are collected, and posts the journal holds but the store lost (a crash before its
flush) are added again first. A larger `n` collects more in the same directory.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from valuespectrum.agents.viewer import screenshot_jpeg
from valuespectrum.embedders import make_embedder
from valuespectrum.environments.spec import EnvironmentSpec, build_environment
from valuespectrum.feed.corpus import default_corpus_dir
from valuespectrum.feed.server import FeedServer
from valuespectrum.runs import Plan, RunDirectory, fingerprint
from valuespectrum.store.ingest import ingest_records
from valuespectrum.store.records import ScreenshotRecord, screenshot_id
from valuespectrum.store.vector_store import ScreenshotStore
from valuespectrum.types import Frozen, Skip, Stay

#: Walks give up after this many steps in a row that found nothing new (feed exhausted).
MAX_STALE_STEPS = 500


class CollectSpec(Frozen):
    """What a collection run walks and where it writes (saved as RUN_DIR/spec.yaml).

    `n` may grow between runs (collect more); the rest is the plan.
    """

    n: int = Field(ge=1, description="distinct posts to collect")
    environment: str = "http"
    platform: str = Field(default="tiktok", description="the feed style (profile for real sites)")
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    seed: int = 0
    skip_prob: float = Field(default=0.5, ge=0, le=1)
    max_dwell_s: float = Field(default=10.0, ge=0)
    store: str
    embedder: str = "minilm"
    corpus: str | None = Field(default=None, description="corpus of the built-in feed")
    feed_url: str | None = Field(default=None, description="attach to a running feed server")
    batch_size: int = Field(default=256, ge=1)

    @field_validator("options")
    @classmethod
    def _takes_screenshots(cls, v: dict) -> dict:
        if v.get("screenshot") == "none":  # a collection is its screenshots
            raise ValueError("screenshot: none saves nothing to collect; use png or jpeg")
        return v


@dataclass
class CollectReport:
    """What a collection run did."""

    run_dir: Path
    target: int
    collected: int = 0
    new: int = 0
    inserted: int = 0
    restored: int = 0
    steps: int = 0
    walks: int = 0
    exhausted: bool = False

    def __str__(self) -> str:
        extra = f", {self.restored} restored to the store" if self.restored else ""
        end = "; the feed ran out of new posts" if self.exhausted else ""
        return (f"{self.collected}/{self.target} posts collected ({self.new} new in "
                f"{self.steps} scrolls over {self.walks} walk(s), {self.inserted} inserted"
                f"{extra}){end}")


def platform_label(spec: CollectSpec) -> str:
    """The store's `platform` of the posts: a real platform's name, or local-<style>."""
    if spec.environment in ("platform", "android"):
        return str(spec.options.get("profile", spec.platform))
    return f"local-{spec.platform}"


def _record(spec: CollectSpec, run_dir: Path, obs: Any, link: str) -> tuple[dict, bytes]:
    name = hashlib.sha256(link.encode()).hexdigest()[:24]
    row = {"link": link, "path": str((run_dir / "screens" / f"{name}.jpg").resolve()),
           "platform": platform_label(spec), "posted": obs.posted,
           "caption": obs.text.as_text(), "item_id": obs.item_id, "url": obs.url,
           "meta": obs.meta}
    # a JPEG from the browser (screenshot: jpeg) is saved as it is, not re-encoded
    jpeg = obs.screenshot_png if obs.image_format == "jpeg" else screenshot_jpeg(obs.screenshot_png)
    return row, jpeg


class Collector:
    """Runs one collection spec into a run directory and a store (one process per store).

    Args:
        spec: the collection.
        run_dir: the run directory.
        progress: called with (collected, target) after every new post.
    """

    def __init__(self, spec: CollectSpec, run_dir: Path,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.spec = spec
        self.run_dir = Path(run_dir)
        self.progress = progress or (lambda done, total: None)

    def _store_rows(self, store: Any, embedder: Any, rows: list[dict]) -> int:
        source = f"collect:{self.run_dir.name}"
        records = [ScreenshotRecord(path=r["path"], platform=r["platform"], posted=r["posted"],
                                    link=r["link"], caption=r["caption"], source=source,
                                    key=r["link"]) for r in rows]
        return ingest_records(store, embedder, records, [r["caption"] for r in rows],
                              progress=False).inserted

    def run(self, restart: bool = False) -> CollectReport:
        """Collect until `n` distinct posts are in the journal and the store."""
        spec = self.spec
        rd = RunDirectory(self.run_dir, "collect")
        with rd:
            walk_fields = spec.model_dump(mode="json", exclude={"n", "feed_url", "batch_size"})
            plan = Plan(context={"collection": walk_fields},
                        entries={"collection": fingerprint(walk_fields)})
            rd.begin(spec.model_dump(mode="json"), plan, restart=restart,
                     resumable=("n", "feed_url", "batch_size"))
            journal, walks = rd.journal("collected"), rd.journal("walks")
            journal.repair()
            walks.repair()
            rows = {r["link"]: r for r in journal.rows()}
            report = CollectReport(self.run_dir, spec.n, collected=len(rows),
                                   walks=len(walks.rows()))
            embedder = make_embedder(spec.embedder)
            with ScreenshotStore(spec.store, spec.embedder, embedder.dim) as store:
                held = store.existing_ids(_id(link) for link in rows)
                # journalled, but lost by the store (a crash before its flush): add again
                lost = [r for link, r in rows.items() if _id(link) not in held]
                if lost:
                    report.restored = self._store_rows(store, embedder, lost)
                self.progress(len(rows), spec.n)
                if len(rows) < spec.n:
                    asyncio.run(self._walks(rd, store, embedder, rows, report))
        return report

    async def _walks(self, rd: Any, store: Any, embedder: Any, rows: dict[str, dict],
                     report: CollectReport) -> None:
        from contextlib import ExitStack

        spec = self.spec
        with ExitStack() as stack:
            feed_url = spec.feed_url or "http://127.0.0.1:1"
            if spec.feed_url is None and spec.environment != "platform" \
                    and spec.environment != "android":
                server = FeedServer.from_corpus_dir(spec.corpus or _default_corpus())
                feed_url = stack.enter_context(server).url
            while len(rows) < spec.n and not report.exhausted:
                await self._walk(rd, store, embedder, rows, report, feed_url)

    async def _walk(self, rd: Any, store: Any, embedder: Any, rows: dict[str, dict],
                    report: CollectReport, feed_url: str) -> None:
        import numpy as np


        spec, walk = self.spec, report.walks
        rng = np.random.default_rng([spec.seed, walk])
        env_spec = EnvironmentSpec(kind=spec.environment, feed_url=feed_url,
                                   style=spec.platform, options=spec.options,
                                   session_id=f"collect-{spec.seed}-{walk}")
        rd.journal("walks").append({"walk": walk, "seed": [spec.seed, walk]})
        report.walks += 1
        pending: list[dict] = []
        stale = 0
        try:
            async with await build_environment(env_spec) as env:
                obs = await env.reset(seed=spec.seed + walk)
                while len(rows) < spec.n:
                    link = obs.link or f"{obs.url}#{obs.item_id}"
                    if link in rows:
                        stale += 1
                        if stale >= MAX_STALE_STEPS:
                            report.exhausted = True
                            break
                    else:
                        stale = 0
                        row, jpeg = _record(spec, self.run_dir, obs, link)
                        path = Path(row["path"])
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.write_bytes(jpeg)
                        rows[link] = row
                        pending.append(row)
                        report.new += 1
                        if len(pending) >= spec.batch_size:
                            self._commit(rd, store, embedder, pending, report)
                        self.progress(len(rows), spec.n)
                    if len(rows) >= spec.n:
                        break
                    action = (Skip() if rng.random() < spec.skip_prob
                              else Stay(dwell_s=float(rng.uniform(0, spec.max_dwell_s))))
                    obs = (await env.act(action)).observation
                    report.steps += 1
        finally:  # what was captured is kept, even when the walk fails or is interrupted
            self._commit(rd, store, embedder, pending, report)
        report.collected = len(rows)

    def _commit(self, rd: Any, store: Any, embedder: Any, pending: list[dict],
                report: CollectReport) -> None:
        """Store, then journal: the journal never names a post the store was not given."""
        if not pending:
            return
        report.inserted += self._store_rows(store, embedder, pending)
        rd.journal("collected").append(*pending)
        pending.clear()


def _id(link: str) -> int:
    return screenshot_id(link)


def _default_corpus() -> Path:
    return default_corpus_dir()

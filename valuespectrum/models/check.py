"""The viewer check: how a viewer's yes answers line up with a persona's relevance labels.

A seeded sample of the corpus, stratified so that relevant posts are not drowned out (half
of the sample, or all of them when there are fewer), goes through the viewer's full
backend stack and a strategy, as in a sweep. Each post is shown as the `http` environment
draws it when the viewer reads pixels (`reads_pixels`), else as its on-screen text only.

The yes-rates are measured per stratum; recall is the yes-rate on relevant posts, and
precision is computed for the corpus, not the sample: the sampled others stand for all the
corpus's others (precision = TPR x N_rel / (TPR x N_rel + FPR x N_other)), so a stratified
sample does not flatter it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from valuespectrum.personas import Persona
from valuespectrum.types import FeedItem, Observation, VisibleText

DEFAULT_SAMPLE = 400


@dataclass
class ViewerCheck:
    """What a viewer answered on a stratified sample, against the persona's labels.

    Attributes:
        corpus_relevant / corpus_other: How many posts of the corpus are relevant / not.
        relevant_yes / relevant_n: Yes answers and posts in the sample's relevant stratum.
        other_yes / other_n: The same for the other posts.
        invalid: Decisions with no valid answer (counted as no).
        seconds: Wall time of all decisions.
        answers: (item id, relevant, yes) of every sampled post.
    """

    spec: str
    persona: str
    strategy: str
    corpus_relevant: int
    corpus_other: int
    relevant_yes: int = 0
    relevant_n: int = 0
    other_yes: int = 0
    other_n: int = 0
    invalid: int = 0
    seconds: float = 0.0
    answers: list[tuple[str, bool, bool | None]] = field(default_factory=list)

    @property
    def yes_rate_relevant(self) -> float | None:
        return self.relevant_yes / self.relevant_n if self.relevant_n else None

    @property
    def yes_rate_other(self) -> float | None:
        return self.other_yes / self.other_n if self.other_n else None

    @property
    def recall(self) -> float | None:
        return self.yes_rate_relevant

    @property
    def precision(self) -> float | None:
        """Share of the viewer's yes answers on the corpus that fall on relevant posts."""
        tpr, fpr = self.yes_rate_relevant, self.yes_rate_other
        if tpr is None or fpr is None:
            return None
        hits, false = tpr * self.corpus_relevant, fpr * self.corpus_other
        return hits / (hits + false) if hits + false else None

    @property
    def corpus_yes_rate(self) -> float | None:
        """The yes-rate the viewer would have on the whole corpus."""
        tpr, fpr = self.yes_rate_relevant, self.yes_rate_other
        if tpr is None or fpr is None:
            return None
        n = self.corpus_relevant + self.corpus_other
        return (tpr * self.corpus_relevant + fpr * self.corpus_other) / n


def stratified_sample(items: list[FeedItem], persona: Persona, n: int = DEFAULT_SAMPLE,
                      seed: int = 0) -> tuple[list[FeedItem], list[FeedItem]]:
    """(relevant, other) posts: half of `n` relevant (all of them when fewer), the rest
    others, each drawn with `random.Random(seed)` from the corpus order."""
    if persona.relevant is None:
        raise ValueError(f"persona '{persona.name}' has no `relevant:` labels")
    relevant = [it for it in items if persona.relevant.matches(it)]
    other = [it for it in items if not persona.relevant.matches(it)]
    rng = random.Random(seed)
    k = min(n // 2, len(relevant))
    return rng.sample(relevant, k), rng.sample(other, min(n - k, len(other)))


def post_observation(item: FeedItem, image: bytes | None, step: int) -> Observation:
    """The post as an environment shows it: drawn like the `http` kind when `image` bytes
    are given (pixel-reading viewers), else its on-screen text only."""
    text = VisibleText(caption=item.caption, creator=item.creator, hashtags=item.hashtags)
    if image is None:
        return Observation(screenshot_png=b"", image_format="none", text=text,
                           item_id=item.item_id, duration_s=item.duration_s, step=step)
    # the http kind's drawing (PIL, its HTTP client): loaded when a post is drawn, so that
    # `vspec --help`, which reads DEFAULT_SAMPLE from here, stays fast
    from valuespectrum.environments.drawing import render_post

    png = render_post(image, item.model_dump(mode="json"))
    return Observation(screenshot_png=png, text=text, item_id=item.item_id,
                       duration_s=item.duration_s, step=step)


async def check_viewer(backend: Any, strategy: Any, persona: Persona, corpus: Any, *,
                       spec: str, strategy_name: str, reads_pixels: bool,
                       n: int = DEFAULT_SAMPLE, seed: int = 0, concurrency: int = 4,
                       progress: Callable[[int, int], None] | None = None) -> ViewerCheck:
    """Run the stratified sample through `strategy` with `backend` as `persona`.

    Args:
        backend: A built backend stack (`build_backend`).
        strategy: A strategy (`make_strategy`).
        corpus: A loaded `Corpus` (its items, and images when the viewer reads pixels).
        reads_pixels: Draw each post (else send its on-screen text only).
        n: Posts in the sample.
        concurrency: Decisions in flight at once.
        progress: Called with (done, total) after each decision.
    """
    relevant, other = stratified_sample(corpus.items, persona, n, seed)
    n_rel = sum(persona.relevant.matches(it) for it in corpus.items)
    result = ViewerCheck(spec=spec, persona=persona.name, strategy=strategy_name,
                         corpus_relevant=n_rel, corpus_other=len(corpus) - n_rel)
    posts = [(it, True) for it in relevant] + [(it, False) for it in other]
    limit = asyncio.Semaphore(concurrency)
    done = 0

    async def one(step: int, item: FeedItem, is_relevant: bool) -> None:
        nonlocal done
        async with limit:
            image = (await asyncio.to_thread(corpus.image_path(item.item_id).read_bytes)
                     if reads_pixels else None)
            obs = await asyncio.to_thread(post_observation, item, image, step)
            decision = await strategy.decide(obs, persona, backend)
        yes = decision.yes
        result.answers.append((item.item_id, is_relevant, yes))
        result.invalid += yes is None
        if is_relevant:
            result.relevant_n += 1
            result.relevant_yes += bool(yes)
        else:
            result.other_n += 1
            result.other_yes += bool(yes)
        done += 1
        if progress is not None:
            progress(done, len(posts))

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i, it, r) for i, (it, r) in enumerate(posts)))
    result.seconds = time.perf_counter() - t0
    result.answers.sort()
    return result

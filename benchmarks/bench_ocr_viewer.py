"""ocr:minilm on real Chromium screenshots: what it reads, its CPU time, its agreement.

Takes N screenshots of the feed page in Chromium (the playwright environment, `random`
style, on the built corpus), then for each:

- reads it as `ocr:minilm` does and compares what it judges (`post_text`: the lines read,
  without the creator's) with the page's own text (the post's caption and hashtags; a
  character-level match, difflib's ratio), for the preprocessing the viewer uses and for
  plain grayscale;
- times the read: wall and CPU (this process plus the tesseract child processes);
- asks `ocr:minilm` (pixels) and `embed:minilm` (the page's text) the `simple` question for
  every packaged persona: agreement of the two decisions on the same posts.

    .venv/bin/python benchmarks/bench_ocr_viewer.py [--shots 100] [--seed 11]

Timing on a busy machine is indicative only.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import os
import resource
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


async def screenshots(n: int, seed: int) -> list[tuple[bytes, str]]:
    """(PNG, the page's text) of n posts of a `random` feed session in Chromium."""
    from valuespectrum.environments.playwright_env import BrowserHost, PlaywrightFeedEnvironment
    from valuespectrum.feed.corpus import Corpus, default_corpus_dir
    from valuespectrum.feed.platform import FeedPlatform
    from valuespectrum.feed.server import FeedServer
    from valuespectrum.types import Skip

    out = []
    with FeedServer(FeedPlatform(Corpus.load(default_corpus_dir()))) as server:
        host = await BrowserHost().start()
        env = PlaywrightFeedEnvironment(host, server.url, style="random", session_id="bench-ocr")
        try:
            obs = await env.reset(seed=seed)
            for _ in range(n):
                out.append((obs.screenshot_png, obs.text.as_text()))
                obs = (await env.act(Skip())).observation
        finally:
            await env.close()
            await host.close()
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shots", type=int, default=100)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    import io

    import pytesseract
    from PIL import Image, ImageOps

    from valuespectrum.models import build_backend
    from valuespectrum.models.ocr import post_text, read_screenshot
    from valuespectrum.personas import PersonaLibrary
    from valuespectrum.strategies import make_strategy
    from valuespectrum.types import Observation, VisibleText

    shots = await screenshots(args.shots, args.seed)
    print(f"{len(shots)} Chromium screenshots (390x844, random feed, seed {args.seed})")
    walls, cpus, fidelity, plain, empty = [], [], [], [], 0
    for png, page in shots:
        w0, c0 = time.perf_counter(), _cpu()
        text = post_text(read_screenshot(png))
        walls.append(time.perf_counter() - w0)
        cpus.append(_cpu() - c0)
        empty += not _norm(text)
        fidelity.append(difflib.SequenceMatcher(None, _norm(page), _norm(text)).ratio())
        gray = ImageOps.grayscale(Image.open(io.BytesIO(png)))
        plain.append(difflib.SequenceMatcher(
            None, _norm(page), _norm(post_text(pytesseract.image_to_string(gray, lang="eng"))))
            .ratio())
    print(f"read (viewer's preprocessing): mean match with the page text {statistics.mean(fidelity):.3f}, "
          f"{sum(f >= 0.9 for f in fidelity)}/{len(shots)} at >= 0.9, {empty} empty")
    print(f"read (plain grayscale):        mean match {statistics.mean(plain):.3f}")
    print(f"per read: wall median {statistics.median(walls):.2f} s (mean {statistics.mean(walls):.2f}), "
          f"CPU median {statistics.median(cpus):.2f} s (mean {statistics.mean(cpus):.2f}) "
          "(this process + tesseract)")
    ocr, text_viewer = build_backend("ocr:minilm"), build_backend("embed:minilm")
    simple = make_strategy("simple")
    lib = PersonaLibrary(ROOT / "personas")
    total = agree = yes_ocr = yes_text = both = 0
    print(f"\n{'persona':24s} agree   yes ocr/text")
    for name in lib.names():
        persona, a_n, y_o, y_t = lib.get(name), 0, 0, 0
        for png, page in shots:
            d_ocr = await simple.decide(Observation(screenshot_png=png), persona, ocr)
            d_text = await simple.decide(Observation(
                screenshot_png=b"", image_format="none", text=VisibleText(caption=page)),
                persona, text_viewer)
            a_n += d_ocr.yes == d_text.yes
            y_o += bool(d_ocr.yes)
            y_t += bool(d_text.yes)
            both += bool(d_ocr.yes and d_text.yes)
        total += len(shots)
        agree, yes_ocr, yes_text = agree + a_n, yes_ocr + y_o, yes_text + y_t
        print(f"{name:24s} {a_n / len(shots):5.1%}  {y_o:3d}/{y_t:3d}")
    print(f"{'all':24s} {agree / total:5.1%}  {yes_ocr}/{yes_text}; of embed:minilm's yes, "
          f"ocr:minilm also said yes to {both / max(1, yes_text):.1%}")


if __name__ == "__main__":
    asyncio.run(main())

"""What drawing a post costs, and how often a run sees a post again (why the cache is per node).

Two parts, no Ray, a few seconds each:

- cost: CPU ms per phase of drawing a post as the HTTP environment does (decode and fit the
  image, compose and encode PNG or JPEG, re-encode a PNG as the stored JPEG), over a seeded
  sample of the corpus, and the encoded sizes;
- reuse: the feed's sessions (tiktok, every post watched to its end, as the scripted "Yes."
  of bench_agents.py does) played on the platform directly for AGENTS x SCROLLS; prints the
  distinct posts, the share of steps that show a post seen before (the best a cache can
  do) for one actor of `--per-actor` agents and for the node, and an LRU's hit rate at
  several sizes.

    python benchmarks/bench_drawn_posts.py --agents 1000 --per-actor 250 --scrolls 100
"""

from __future__ import annotations

import argparse
import collections
import io
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def cost(corpus, n: int, seed: int) -> None:
    from PIL import Image

    from valuespectrum.agents.viewer import screenshot_jpeg
    from valuespectrum.environments import drawing
    from valuespectrum.feed.server import item_json

    rng = random.Random(seed)
    items = rng.sample(corpus.items, min(n, len(corpus.items)))
    data = [(corpus.image_path(i.item_id).read_bytes(), item_json(i)) for i in items]
    phases: dict[str, list[float]] = collections.defaultdict(list)
    sizes: dict[str, list[int]] = collections.defaultdict(list)

    def timed(name, f, *args, **kwargs):
        t0 = time.process_time()
        out = f(*args, **kwargs)
        phases[name].append(1e3 * (time.process_time() - t0))
        return out

    view = (390, 844)
    for image, item in data:
        pic = timed("decode and fit the image", drawing._load_picture, image, view)
        png = timed("compose + encode PNG", drawing._compose, pic, item, view, 0.0, "none")
        jpeg = timed("compose + encode JPEG 80", drawing._compose, pic, item, view, 0.0, "none",
                     "jpeg", 80)
        timed("stored JPEG of the PNG (decode + encode)", screenshot_jpeg, png, 80)
        canvas = Image.open(io.BytesIO(png)).convert("RGB")
        timed("PNG encode alone", canvas.save, io.BytesIO(), format="PNG", compress_level=1)
        sizes["source image"].append(len(image))
        sizes["PNG"].append(len(png))
        sizes["JPEG 80"].append(len(jpeg))
    print(f"cost of drawing, {len(data)} posts (CPU ms: mean, median)")
    for name, xs in phases.items():
        print(f"  {name:<42} {statistics.mean(xs):6.2f} {statistics.median(xs):6.2f}")
    print("  sizes (KB, mean): " + ", ".join(f"{k} {statistics.mean(v) / 1024:.1f}"
                                             for k, v in sizes.items()))


def reuse(corpus, agents: int, per_actor: int, scrolls: int, style: str) -> None:
    from valuespectrum.feed.platform import FeedPlatform

    platform = FeedPlatform(corpus, preload=[style])
    for a in range(agents):
        platform.open_session(f"s{a}", style, seed=a)
    shown: list[tuple[int, str]] = []  # (actor, item) in the order the steps happen
    for _ in range(scrolls):
        for a in range(agents):
            item = platform.next_item(f"s{a}")
            platform.record_watch(f"s{a}", item.item_id, item.duration_s)
            shown.append((a // per_actor, item.item_id))

    def best(seq: list[str]) -> float:
        return 1 - len(set(seq)) / len(seq)

    def lru(seq: list[str], size: int) -> float:
        cache: collections.OrderedDict[str, None] = collections.OrderedDict()
        hits = 0
        for key in seq:
            if key in cache:
                hits += 1
                cache.move_to_end(key)
            else:
                cache[key] = None
                if len(cache) > size:
                    cache.popitem(last=False)
        return hits / len(seq)

    node = [i for _, i in shown]
    actor = [i for a, i in shown if a == 0]
    print(f"reuse: {agents} agents x {scrolls} scrolls ({style}), {per_actor} agents per actor, "
          f"{len(corpus)} posts")
    print(f"  node:  {len(node):,} steps, {len(set(node)):,} distinct posts, at most "
          f"{best(node):.1%} of steps show a post seen before")
    print(f"  actor: {len(actor):,} steps, {len(set(actor)):,} distinct posts, at most "
          f"{best(actor):.1%}")
    print("  LRU hit rate by entries:  " + "  ".join(
        f"{n}: actor {lru(actor, n):.0%} node {lru(node, n):.0%}"
        for n in (750, 3000, 8192)))


def main() -> None:
    from _corpus import corpus_dir

    from valuespectrum.feed.corpus import Corpus

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--per-actor", type=int, default=250)
    ap.add_argument("--scrolls", type=int, default=100)
    ap.add_argument("--style", default="tiktok")
    ap.add_argument("--sample", type=int, default=150, help="posts drawn for the cost part")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--corpus", default=None)
    args = ap.parse_args()
    corpus = Corpus.load(corpus_dir(args.corpus))
    cost(corpus, args.sample, args.seed)
    reuse(corpus, args.agents, args.per_actor, args.scrolls, args.style)


if __name__ == "__main__":
    main()

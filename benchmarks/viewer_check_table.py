"""The viewer check for every CPU viewer and every packaged persona (docs/models.md's table).

Runs `valuespectrum.models.check.check_viewer` (what `vspec models check SPEC --persona
NAME` prints) with the `simple` strategy on a 400-post sample per persona (seed 0), one
backend per viewer shared by all personas, and prints a Markdown table: the yes-rate on
relevant and other posts, precision (for the corpus) and recall of the yes.

    .venv/bin/python benchmarks/viewer_check_table.py [--viewers embed:minilm ocr:minilm]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VIEWERS = ("embed:minilm", "embed:minilm-percentile", "ocr:minilm", "random:0.5")


def pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


async def run(viewers: list[str], n: int, seed: int, out: Path | None) -> None:
    from valuespectrum.feed.corpus import Corpus, default_corpus_dir
    from valuespectrum.models import ModelSpec, build_backend
    from valuespectrum.models.check import check_viewer
    from valuespectrum.models.providers import PROVIDERS
    from valuespectrum.personas import PersonaLibrary
    from valuespectrum.strategies import make_strategy

    corpus = Corpus.load(default_corpus_dir())
    lib = PersonaLibrary(ROOT / "personas")
    strategy = make_strategy("simple")
    rows = []
    for spec in viewers:
        model = ModelSpec.parse(spec)
        backend = build_backend(model)
        reads = PROVIDERS[model.provider].reads_pixels(model.target)
        print(f"\n### {spec} (simple strategy, {n} posts per persona, seed {seed})\n")
        print("| persona | relevant posts | yes on relevant | yes on others | precision | "
              "recall |\n|---|---|---|---|---|---|")
        t0 = time.perf_counter()
        for name in lib.names():
            r = await check_viewer(backend, strategy, lib.get(name), corpus, spec=spec,
                                   strategy_name="simple", reads_pixels=reads, n=n, seed=seed)
            rows.append({"viewer": spec, "persona": name, "relevant": r.corpus_relevant,
                         "relevant_yes": r.relevant_yes, "relevant_n": r.relevant_n,
                         "other_yes": r.other_yes, "other_n": r.other_n,
                         "precision": r.precision, "recall": r.recall, "invalid": r.invalid,
                         "seconds": r.seconds})
            print(f"| {name} | {r.corpus_relevant} | {pct(r.yes_rate_relevant)} "
                  f"({r.relevant_yes}/{r.relevant_n}) | {pct(r.yes_rate_other)} "
                  f"({r.other_yes}/{r.other_n}) | {pct(r.precision)} | {pct(r.recall)} |",
                  flush=True)
        print(f"\n({time.perf_counter() - t0:.0f} s)")
        await backend.aclose()
    if out is not None:
        out.write_text(json.dumps(rows, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--viewers", nargs="+", default=list(VIEWERS))
    ap.add_argument("--sample", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args()
    asyncio.run(run(args.viewers, args.sample, args.seed, args.json))


if __name__ == "__main__":
    main()

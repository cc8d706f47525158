"""Calibrate and check the `embed:minilm` baseline on real openclipart item texts.

Item text = what the feed shows with a post (caption + hashtags) of the built openclipart
corpus, or, without one, SVG title + keyword hashtags; category = top folder. `--write-reference` regenerates the packaged reference set from a seeded sample;
the report measures yes-rates on held-out items (never in the reference set):

    .venv/bin/python benchmarks/calibrate_embed_baseline.py [--write-reference]
"""

from __future__ import annotations

import argparse
import html
import os
import random
import re
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "valuespectrum" / "data" / "baseline_reference.txt"


def openclipart_items(source: Path = Path("/usr/share/openclipart/svg")) -> list[tuple[str, str]]:
    """(category, visible text) for every SVG with a title or keywords, in a seeded order."""
    files = sorted(source.glob("*/**/*.svg"))
    random.Random(0).shuffle(files)
    items, seen = [], set()
    for f in files:
        head = f.read_text(encoding="utf-8", errors="replace")
        end = head.find("</metadata>")
        head = head if end < 0 else head[:end]
        m = re.search(r"<dc:title>(.*?)</dc:title>", head, re.S)
        s = re.search(r"<dc:subject>(.*?)</dc:subject>", head, re.S)
        title = html.unescape(m.group(1)).strip() if m else ""
        words = re.findall(r"<rdf:li>(.*?)</rdf:li>", s.group(1)) if s else []
        category = f.relative_to(source).parts[0]
        tags = [re.sub(r"[^0-9a-z_]", "", html.unescape(w).lower().replace(" ", "")) for w in words]
        tags = [t for t in dict.fromkeys(tags) if t and t != category][:6]
        text = " ".join([title, *(f"#{t}" for t in tags)]).strip()
        if len(text) > 2 and text not in seen:
            seen.add(text)
            items.append((category, text))
    return items


def corpus_items(corpus_dir: Path) -> list[tuple[str, str]]:
    """(category, visible text) of a built feed corpus (what the feed really shows)."""
    from valuespectrum.feed.corpus import Corpus

    corpus = Corpus.load(corpus_dir)
    items = list(dict.fromkeys((it.category, it.text) for it in corpus.items))
    random.Random(0).shuffle(items)
    return items


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write-reference", action="store_true")
    ap.add_argument("--reference-size", type=int, default=400)
    ap.add_argument("--eval-size", type=int, default=3000)
    ap.add_argument("--corpus", type=Path, default=None,
                    help="built feed corpus (default: $VSPEC_HOME/corpus/openclipart if built, "
                         "else the raw SVG metadata)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from valuespectrum.feed.corpus import default_corpus_dir
    from valuespectrum.models.baselines import DEFAULT_TOP_FRACTION, EmbeddingViewer
    from valuespectrum.personas import PersonaLibrary
    from valuespectrum.strategies import load_prompts, persona_prompt

    corpus = args.corpus or default_corpus_dir()
    if (corpus / "corpus.json").exists():
        items = corpus_items(corpus)
        print(f"items: feed corpus {corpus}")
    else:
        items = openclipart_items()
        print("items: openclipart SVG titles + keywords (no built corpus found)")
    ref, held = items[: args.reference_size], items[args.reference_size:][: args.eval_size]
    if args.write_reference:
        REFERENCE.write_text(
            "# Visible texts of typical feed items (openclipart feed corpus: caption + hashtags; CC0),\n"
            "# the reference distribution of the embed:minilm baseline. Regenerate with\n"
            "# benchmarks/calibrate_embed_baseline.py --write-reference\n"
            + "\n".join(t for _, t in ref) + "\n", encoding="utf-8")
        print(f"wrote {len(ref)} reference texts to {REFERENCE.relative_to(ROOT)}")
    viewer = EmbeddingViewer()
    cats = np.array([c for c, _ in held])
    vecs = viewer.embedder.embed_texts([t for _, t in held])
    prompts = load_prompts()
    lib = PersonaLibrary(ROOT / "personas")
    print(f"held-out items: {len(held)} (animals: {(cats == 'animals').sum()}); "
          f"top_fraction={DEFAULT_TOP_FRACTION}")
    print(f"{'persona':24s} yes-rate  top categories by yes-rate (n>=15)")
    for name in lib.names():
        system = persona_prompt(lib.get(name), prompts)
        pvec, ref_sims = viewer._profile(system)
        pct = np.searchsorted(ref_sims, vecs @ pvec, side="right") / len(ref_sims)
        yes = pct >= viewer.threshold
        rates = {c: yes[cats == c].mean() for c in set(cats) if (cats == c).sum() >= 15}
        top = sorted(rates.items(), key=lambda kv: -kv[1])[:3]
        print(f"{name:24s} {yes.mean():6.1%}   " + ", ".join(f"{c} {r:.0%}" for c, r in top))
        if name == "pet_owner":
            animal = cats == "animals"
            pet = (yes[animal].mean(), yes[~animal].mean())
    print(f"\npet_owner yes-rate: animals {pet[0]:.1%} vs other categories {pet[1]:.1%} "
          f"(ratio {pet[0] / pet[1]:.1f}x)")


if __name__ == "__main__":
    main()

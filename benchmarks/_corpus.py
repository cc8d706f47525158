"""Shared helper for the benchmarks: the corpus to run on."""

from __future__ import annotations

import tempfile
from pathlib import Path


def corpus_dir(arg: str | None, limit: int = 500) -> Path:
    """`arg`, else the default corpus when built, else a seeded sample built in a temp dir."""
    from valuespectrum.feed.corpus import default_corpus_dir
    from valuespectrum.feed.sources import build_openclipart

    if arg:
        return Path(arg).resolve()  # specs written in temp dirs resolve inputs there
    default = default_corpus_dir()
    if (default / "corpus.json").exists():
        return default
    out = Path(tempfile.mkdtemp(prefix="vspec-bench-")) / "corpus"
    print(f"(no corpus at {default}; building a {limit}-item sample in {out})")
    build_openclipart(out, limit=limit)
    return out

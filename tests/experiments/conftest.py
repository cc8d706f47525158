"""Fixtures for runner tests: a small real corpus of openclipart images."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sweep_corpus_dir(tmp_path_factory) -> Path:
    """300 seeded openclipart images (animals among five other categories)."""
    from valuespectrum.feed.corpus import build_openclipart

    out = tmp_path_factory.getbasetemp() / "sweep-corpus"
    if not (out / "corpus.json").exists():
        build_openclipart(out, limit=300, seed=0,
                          categories=("animals", "food", "people", "transportation", "plants", "buildings"))
    return out

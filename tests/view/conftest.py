"""Viewer fixtures: the runs to look at, a `vspec view` server over them, a real Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from view_runs import real_sweep, spectrum_run, start_viewer, stop


@pytest.fixture(scope="session")
def sweep_dir(tmp_path_factory, corpus_dir, ray_session) -> Path:
    """A finished real sweep (see view_runs.py)."""
    return real_sweep(tmp_path_factory.mktemp("view-sweep") / "pet-owner-drift", corpus_dir)


@pytest.fixture(scope="session")
def spectrum_dir(tmp_path_factory, corpus) -> Path:
    """A finished Value-Spectrum run directory (see view_runs.py)."""
    return spectrum_run(tmp_path_factory.mktemp("view-spectrum") / "spectrum-controls", corpus)


@pytest.fixture(scope="session")
def view_runs(sweep_dir, spectrum_dir) -> dict[str, Path]:
    return {"sweep": sweep_dir, "spectrum": spectrum_dir}


@pytest.fixture(scope="module")
def viewer(view_runs) -> Iterator[str]:
    proc, url = start_viewer([view_runs["sweep"], view_runs["spectrum"]])
    try:
        yield url
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    try:
        yield pg
    finally:
        context.close()

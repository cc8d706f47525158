"""The run viewer: `vspec view RUN_DIR...` serves what each agent saw and decided.

A local web app (starlette on 127.0.0.1) over run directories, which it only reads:

    sources.py          finds run directories and opens each as its kind's source
    run_source.py       the base: status, live or finished, files it may serve, and what
                        the viewer asks every run (card, run page, routes, replays, export)
    sweep_reader.py     a sweep's steps and trials, queried lazily with DuckDB
    spectrum_reader.py  a Value-Spectrum run's Table 1, retrieved images and answers
    sweep_source.py spectrum_source.py          each kind's answers to the viewer
    replay.py           the exact prompt of a step, rebuilt by replaying its recorded replies
    charts.py           inline SVG charts (no browser dependency)
    html.py links.py    page layout; links for the server or for a static export
    pages.py sweep_pages.py trial_pages.py spectrum_pages.py   the pages
    app.py export.py cli.py                     the server, the static export, the command

Finished runs are read from their Parquet tables; a run in progress (or one whose journals
are newer than its tables) from its journals, and its pages reload as the journals grow.
"""

from valuespectrum.view.run_source import RunSource, ViewError
from valuespectrum.view.sources import open_runs

__all__ = ["RunSource", "ViewError", "open_runs"]

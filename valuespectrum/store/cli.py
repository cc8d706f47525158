"""`vspec store ...`: ingest screenshots into the vector store and inspect it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from valuespectrum.console import command_group, console, err_console, fail

store_app = command_group(
    "The screenshot vector store (milvus-lite file or Milvus server).")


def default_db() -> Path:
    """`$VSPEC_HOME/store/screenshots.db` (VSPEC_HOME defaults to ./.vspec)."""
    from valuespectrum.specs import vspec_home

    return vspec_home() / "store" / "screenshots.db"


def store_location(given: str | None) -> str | Path:
    """The `--store` value: a server URI as given (``http://host:19530``), a file as a Path."""
    from valuespectrum.store.vector_store import is_server_uri

    if given is None:
        return default_db()
    return given if is_server_uri(given) else Path(given)


def existing_store(given: str | None) -> str | Path:
    """`store_location`, failing when a milvus-lite file is missing (a server is asked)."""
    db = store_location(given)
    if isinstance(db, Path) and not db.exists():
        fail(f"{db}: no store here (run `vspec store ingest` first)")
    return db


StoreOpt = Annotated[str | None, typer.Option(
    "--store", help="a milvus-lite file (default $VSPEC_HOME/store/screenshots.db) or a "
                    "Milvus server URI such as http://127.0.0.1:19530")]
EmbOpt = Annotated[str, typer.Option("--embedder", help="minilm | clip:ARCH[/PRETRAINED]")]


@store_app.command("ingest")
def ingest(
    corpus: Annotated[Path | None, typer.Option(
        "--corpus", help="a feed corpus directory (with --run: the run's corpus, for "
                         "captions and dates)")] = None,
    folder: Annotated[Path | None, typer.Option(
        "--folder", help="a folder of screenshots (with --csv)")] = None,
    csv_file: Annotated[Path | None, typer.Option(
        "--csv", help="CSV: path,platform,posted,link,caption,source")] = None,
    run: Annotated[Path | None, typer.Option(
        "--run", help="a sweep's RUN_DIR (steps.parquet + screens/)")] = None,
    db: StoreOpt = None,
    embedder: EmbOpt = "minilm",
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 256,
) -> None:
    """Add screenshots to the store; already stored screenshots are skipped."""
    from valuespectrum.config import ConfigError
    from valuespectrum.embedders import EmbedderUnavailable, make_embedder
    from valuespectrum.store import ingest as ing
    from valuespectrum.store.vector_store import ScreenshotStore, StoreError, StoreLockedError

    from_corpus = corpus if run is None else None
    sources = [x for x in (from_corpus, folder, run) if x is not None]
    if len(sources) != 1:
        fail("give exactly one of --corpus DIR, --folder DIR --csv FILE, --run RUN_DIR")
    if folder is not None and csv_file is None:
        fail("--folder needs --csv FILE describing the screenshots")
    db = store_location(db)
    try:
        emb = make_embedder(embedder)
        with ScreenshotStore(db, embedder, emb.dim) as store:
            if from_corpus is not None:
                report = ing.ingest_corpus(store, emb, from_corpus, batch_size=batch_size)
            elif folder is not None:
                report = ing.ingest_folder(store, emb, folder, csv_file, batch_size=batch_size)
            else:
                report = ing.ingest_run(store, emb, run, corpus, batch_size=batch_size)
            total = store.count()
    except (ConfigError, StoreError, StoreLockedError, EmbedderUnavailable, ValueError) as e:
        fail(str(e))
    except Exception as e:  # corpus errors and the like: a message, not a traceback
        fail(f"{type(e).__name__}: {e}")
    console.print(f"{db} ({embedder}): {report}; {total} in the store", markup=False,
                  soft_wrap=True, highlight=False)
    for path in report.failed[:10]:
        err_console.print(f"  unreadable: {path}", highlight=False)


@store_app.command("stats")
def stats(db: StoreOpt = None, embedder: EmbOpt = "minilm") -> None:
    """Counts per platform and source, and the post-date range."""
    from rich.table import Table

    from valuespectrum.store.vector_store import ScreenshotStore, StoreError, StoreLockedError

    db = existing_store(db)
    try:
        with ScreenshotStore(db, embedder, None) as store:
            s = store.stats()
    except (StoreError, StoreLockedError) as e:
        fail(str(e))
    con = console
    con.print(f"[bold]{s.db}[/] collection {s.collection} ({s.embedder}, {s.dim}-d): "
              f"{s.count} screenshots, posted {s.first_posted or '?'} .. {s.last_posted or '?'}",
              soft_wrap=True)
    for title, counts in (("platform", s.platforms), ("source", s.sources)):
        table = Table(title, "screenshots")
        for k, n in counts.items():
            table.add_row(k, str(n))
        con.print(table)


@store_app.command("abundance")
def abundance_cmd(
    db: StoreOpt = None,
    embedder: EmbOpt = "minilm",
    radius: Annotated[float, typer.Option("--radius", min=0.0,
                                          help="true L2 radius (the paper: 1.5)")] = 1.5,
    values: Annotated[Path | None, typer.Option("--values", help="values/keywords YAML")] = None,
) -> None:
    """Figure 2 numbers: screenshots within RADIUS of each value's keywords."""
    from rich.table import Table

    from valuespectrum.config import ConfigError
    from valuespectrum.embedders import EmbedderUnavailable, make_embedder
    from valuespectrum.store.retrieval import abundance
    from valuespectrum.store.vector_store import ScreenshotStore, StoreError, StoreLockedError
    from valuespectrum.values import load_values

    db = existing_store(db)
    try:
        catalog = load_values(values)
        emb = make_embedder(embedder)
        with ScreenshotStore(db, embedder, emb.dim) as store:
            ab = abundance(store, emb, catalog, radius=radius)
    except (ConfigError, StoreError, StoreLockedError, EmbedderUnavailable) as e:
        fail(str(e))
    table = Table("value", f"within L2 {radius:g}", "keywords (count)",
                  title=f"{ab.total} screenshots in {db}")
    for value, n in ab.per_value.items():
        kws = ", ".join(f"{k} ({c})" for k, c in ab.per_keyword[value].items())
        table.add_row(value.label, str(n), kws)
    console.print(table)

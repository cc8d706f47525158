"""`vspec corpus ...` and `vspec feed ...`: build corpora and serve the local feed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from valuespectrum.console import command_group, console, fail

corpus_app = command_group("Build, import and inspect feed corpora.")
feed_app = command_group("Serve the local short-video feed.")

CORPUS_HELP = "corpus directory (default: $VSPEC_HOME/corpus/openclipart, VSPEC_HOME=./.vspec)"


def _print_report(report) -> None:
    console.print(
        f"[green]✓[/] {report.n_items} items in {report.out_dir} ({report.seconds:.1f} s); "
        f"skipped {report.skipped_oversized} oversized, {report.skipped_unreadable} unreadable"
        + (f"; {report.missing_metadata} without metadata" if report.missing_metadata else ""),
        highlight=False,
    )


@corpus_app.command("build")
def corpus_build(
    source: Annotated[str, typer.Argument(help="corpus source; only 'openclipart' for now")],
    out: Annotated[Path | None, typer.Option("--output", help=CORPUS_HELP)] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1,
                                              help="seeded sample of N images")] = None,
    seed: Annotated[int, typer.Option("--seed", help="seeds sampling and attributes")] = 0,
    openclipart_dir: Annotated[Path, typer.Option(
        "--source-dir", help="folder holding png/ and svg/")] = Path("/usr/share/openclipart"),
) -> None:
    """Build a corpus from openclipart (title->caption, keywords->hashtags, folder->category)."""
    from valuespectrum.errors import CorpusError
    from valuespectrum.feed.sources import build_openclipart

    if source != "openclipart":
        fail(f"unknown corpus source {source!r}: expected 'openclipart' "
              "(use `vspec corpus import` for your own screenshots)")
    try:
        report = build_openclipart(out, source=openclipart_dir, seed=seed, limit=limit)
    except (CorpusError, OSError) as e:
        fail(str(e))
    _print_report(report)


@corpus_app.command("import")
def corpus_import(
    src: Annotated[Path, typer.Argument(help="folder of screenshots (+ optional CSV) or a CSV")],
    out: Annotated[Path | None, typer.Option(
        "--output", help="corpus directory (default: $VSPEC_HOME/corpus/<src name>)")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Import your own screenshots (CSV columns: image, caption, hashtags, category, ...)."""
    from valuespectrum.feed.corpus import CorpusError, default_corpus_dir
    from valuespectrum.feed.sources import import_corpus

    target = out or default_corpus_dir(src.stem or "imported")
    try:
        report = import_corpus(src, target, seed=seed)
    except (CorpusError, OSError) as e:
        fail(str(e))
    _print_report(report)


@corpus_app.command("stats")
def corpus_stats(
    corpus: Annotated[Path | None, typer.Option("--corpus", help=CORPUS_HELP)] = None,
) -> None:
    """Counts per category and per value tag."""
    from rich.table import Table

    from valuespectrum.feed.corpus import Corpus, CorpusError, default_corpus_dir

    try:
        stats = Corpus.load(corpus or default_corpus_dir()).stats()
    except CorpusError as e:
        fail(str(e))
    console.print(f"{stats['items']} items, {stats['dim']}-d embeddings, {stats['root']}",
                  highlight=False)
    for title, counts in (("category", stats["categories"]), ("value tag", stats["value_tags"])):
        table = Table(title, "items")
        for k, v in counts.items():
            table.add_row(k, str(v))
        console.print(table)
    console.print(f"{stats['untagged']} items without a value tag", highlight=False)


@feed_app.command("serve")
def feed_serve(
    host: Annotated[str, typer.Option("--host", help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535,
                                      help="0 picks a free port")] = 8000,
    corpus: Annotated[Path | None, typer.Option("--corpus", help=CORPUS_HELP)] = None,
) -> None:
    """Serve the feed pages (/tiktok, /cowatch, /random..., one per feed style) until Ctrl-C."""
    import time

    from valuespectrum.feed.corpus import CorpusError, default_corpus_dir
    from valuespectrum.feed.recommenders import STYLES
    from valuespectrum.feed.server import FeedServer

    try:
        server = FeedServer.from_corpus_dir(corpus or default_corpus_dir(), host=host, port=port)
        server.start()
    except (CorpusError, OSError, RuntimeError) as e:
        fail(str(e))
    console.print(f"Serving {len(server.platform.corpus)} posts; open in a browser:",
                  highlight=False)
    for style in STYLES:
        console.print(f"  {server.url}/{style}", highlight=False)
    console.print("Press Ctrl-C to stop.")
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()

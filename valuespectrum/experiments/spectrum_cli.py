"""`vspec spectrum run SPEC.yaml [--resume]`: the Value-Spectrum benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

spectrum_app = typer.Typer(help="The Value-Spectrum benchmark (Table 1, Figures 2-9).",
                           no_args_is_help=True)


def _fail(message: str, code: int = 2) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False,
                               soft_wrap=True, markup=True)
    raise typer.Exit(code)


@spectrum_app.command("run")
def run(
    spec_path: Annotated[Path, typer.Argument(help="spectrum spec (YAML, kind: spectrum)")],
    resume: Annotated[bool, typer.Option("--resume", help="continue an interrupted run")] = False,
    report: Annotated[bool, typer.Option(help="write report.md and figures at the end")] = True,
) -> None:
    """Retrieve images per value keyword, ask every model, write Table 1 and the figures."""
    import os

    # gRPC (pymilvus) logs fork notices when Ray starts workers after the store was used.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    from rich.console import Console

    from valuespectrum.config import ConfigError
    from valuespectrum.experiments.spectrum import SpectrumRun
    from valuespectrum.experiments.spectrum_spec import load_spectrum_spec
    from valuespectrum.feed.corpus import CorpusError
    from valuespectrum.models.base import BackendError
    from valuespectrum.report.spectrum import table1_markdown, write_spectrum_report
    from valuespectrum.store.embedders import EmbedderUnavailable
    from valuespectrum.store.vector_store import StoreError, StoreLockedError

    con = Console()
    try:
        spec = load_spectrum_spec(spec_path)
        summary = SpectrumRun(spec, resume=resume).run()
        out = write_spectrum_report(spec.output_dir) if report else None
    except (ConfigError, CorpusError, StoreError, StoreLockedError, EmbedderUnavailable,
            BackendError, FileNotFoundError) as e:
        _fail(str(e))
    from valuespectrum.report.spectrum import ValueScore

    plain = [a["label"] for a in summary["arms"] if a["strategy"] == "plain"]
    scores = {a: {v: ValueScore(**s) for v, s in per.items()}
              for a, per in summary["scores"].items()}
    con.print(table1_markdown(scores, plain), markup=False, highlight=False)
    con.print(f"results: {spec.output_dir / 'results.parquet'}" + (f"; report: {out}" if out else ""),
              markup=False, highlight=False)
    if summary["stopped"]:
        _fail(f"some models stopped early: {summary['stopped']}; rerun with --resume", code=1)
    if not summary["complete"]:
        _fail("some answers are missing (backend failures); rerun with --resume", code=1)

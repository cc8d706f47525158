"""The `vspec` command line. Subcommands live beside their subsystems and are registered here.

Heavy imports happen inside commands so that `vspec --help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from valuespectrum.config import ConfigError

app = typer.Typer(
    name="vspec",
    help="ValueSpectrum: measure and steer the value preferences of VLM viewers of short-video feeds.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
personas_app = typer.Typer(help="The YAML persona library.", no_args_is_help=True)
app.add_typer(personas_app, name="personas")

from valuespectrum.feed.cli import corpus_app, feed_app  # noqa: E402 - light: typer only

app.add_typer(corpus_app, name="corpus")
app.add_typer(feed_app, name="feed")

from valuespectrum.store.cli import store_app  # noqa: E402 - light: typer only

app.add_typer(store_app, name="store")

from valuespectrum.experiments.spectrum_cli import spectrum_app  # noqa: E402 - light: typer only

app.add_typer(spectrum_app, name="spectrum")

from valuespectrum.models.cli import models_app  # noqa: E402 - light: typer only

app.add_typer(models_app, name="models")

# Off a terminal (CI logs, pipes) rich would wrap tables at 80 columns.
console = Console() if sys.stdout.isatty() else Console(width=160)
err_console = Console(stderr=True) if sys.stderr.isatty() else Console(stderr=True, width=160)


def fail(message: str, code: int = 2) -> None:
    """Print a user-facing error (no traceback) and exit."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@personas_app.command("list")
def personas_list(
    directory: Path = typer.Option(Path("personas"), "--dir", help="persona directory"),
) -> None:
    """List the personas of a directory with their favoured values."""
    from rich.table import Table

    from valuespectrum.personas import PersonaLibrary

    lib = PersonaLibrary(directory)
    try:
        names = lib.names()
        table = Table("name", "values", "description")
        for n in names:
            p = lib.get(n)
            table.add_row(p.name, ", ".join(v.value for v in p.values), p.description)
    except ConfigError as e:
        fail(str(e))
    console.print(table)


@personas_app.command("validate")
def personas_validate(paths: list[Path] = typer.Argument(..., help="persona YAML files")) -> None:
    """Validate persona files; every problem is reported with file, line and field."""
    from valuespectrum.personas import load_persona

    bad = 0
    for path in paths:
        try:
            p = load_persona(path)
        except ConfigError as e:
            bad += 1
            err_console.print(f"[red]✗[/] {e}", highlight=False, soft_wrap=True)
        else:
            console.print(f"[green]✓[/] {path} ({p.name})", highlight=False)
    if bad:
        raise typer.Exit(1)


@app.command("run")
def run_experiment(
    spec_path: Path = typer.Argument(..., help="experiment spec (YAML)"),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="attach to a Ray cluster (default: start Ray locally)"
    ),
    live: bool | None = typer.Option(
        None, "--live/--plain", help="rich live view or plain lines (default: live on a terminal)"
    ),
) -> None:
    """Run (or resume) a persona sweep and print I_avg per model x platform x strategy."""
    from valuespectrum.experiments.progress import SweepProgress
    from valuespectrum.experiments.results import RunLockedError
    from valuespectrum.experiments.runner import SweepRunner
    from valuespectrum.experiments.spec import load_experiment
    from valuespectrum.feed.corpus import CorpusError
    from valuespectrum.report.terminal import print_summary

    try:
        spec, personas = load_experiment(spec_path)
        progress = SweepProgress(console, window=spec.window, live=live)
        runner = SweepRunner(spec, personas, ray_address=ray_address, progress=progress)
        outcome = runner.run()
    except (ConfigError, CorpusError, RunLockedError, FileNotFoundError) as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail(f"interrupted; what was recorded is kept: run `vspec run {spec_path}` again to "
             "resume", code=130)
    print_summary(console, outcome.run_dir)
    console.print(
        f"run directory: {outcome.run_dir} ({outcome.planned} trials, {outcome.skipped} resumed, "
        f"{outcome.wall_s:.0f} s)", highlight=False,
    )
    if outcome.fatal:
        fail(f"the run stopped early: {outcome.fatal}", code=1)
    if any(k != "done" for k in outcome.statuses):
        fail(f"some trials did not finish: {outcome.statuses}; rerun the command to resume", code=1)


@app.command("report")
def report(run_dir: Path = typer.Argument(..., help="a run directory")) -> None:
    """Write RUN_DIR/report.md with its figures (sweep or Value-Spectrum run)."""
    from valuespectrum.report.sweep import write_report

    try:
        out = write_report(run_dir)
    except (FileNotFoundError, ConfigError, KeyError, ValueError) as e:
        fail(str(e))
    console.print(f"wrote {out}")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover - `python -m valuespectrum.cli`
    app()

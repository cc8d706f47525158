"""The `vspec` command line. Subcommands live beside their subsystems and are registered here.

Heavy imports happen inside commands so that `vspec --help` stays fast.
"""

from __future__ import annotations

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

console = Console()
err_console = Console(stderr=True)


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


def main() -> None:  # pragma: no cover - console entry point
    app()

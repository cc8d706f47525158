"""The terminal of every `vspec` command: one console, one error console, one `fail`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console

# Off a terminal (CI logs, pipes) rich would wrap tables at 80 columns.
console = Console() if sys.stdout.isatty() else Console(width=160)
err_console = Console(stderr=True) if sys.stderr.isatty() else Console(stderr=True, width=160)


def command_group(help: str, **options: Any) -> typer.Typer:
    """A `vspec` command group: the only way the package makes a `typer.Typer`.

    Help texts are printed as written (``rich_markup_mode=None``): with typer's default,
    rich markup, a help string such as ``clip:ARCH[/PRETRAINED]`` raised
    ``rich.errors.MarkupError`` and `--help` ended in a traceback; ``[bold]`` would vanish
    silently. Errors (an unknown option) are click's plain two-line usage and one error
    line. `tests/test_cli_help.py` walks every command's `--help`, and
    `tests/test_layout.py` checks that no other module builds a Typer.
    """
    return typer.Typer(help=help, rich_markup_mode=None, no_args_is_help=True,
                       pretty_exceptions_enable=False, **options)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a user-facing error (no traceback) and exit with `code` (2: bad input)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True,
                      markup=True)
    raise typer.Exit(code)


@contextmanager
def user_errors(*more: type[BaseException]) -> Iterator[None]:
    """Turn the errors a user can act on into one `fail` line instead of a traceback.

    A failed write to a run directory (a full disk, a permission) exits with status 1: not
    bad input, and rerunning resumes. Bad specs, corpora, run directories, clusters and
    stores exit with status 2, as do the command's own `more` error types.

    Example:
        with user_errors(EnvError):
            collector.run()
    """
    # imported here: these modules import this one, and `vspec --help` stays fast
    from valuespectrum.cluster import ClusterError
    from valuespectrum.config import ConfigError
    from valuespectrum.feed.corpus import CorpusError
    from valuespectrum.runs import RunError, RunWriteError
    from valuespectrum.store.records import StoreError, StoreLockedError

    try:
        yield
    except RunWriteError as e:
        fail(str(e), code=1)
    except (ConfigError, CorpusError, RunError, ClusterError, StoreError, StoreLockedError,
            *more) as e:
        fail(str(e))

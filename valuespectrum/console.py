"""The terminal of every `vspec` command: one console, one error console, one `fail`."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

from valuespectrum.config import ConfigError
from valuespectrum.errors import (
    ClusterError,
    CorpusError,
    RunError,
    RunWriteError,
    StoreError,
    StoreLockedError,
)

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
def output_to_log(log_path: str | Path | None, what: str = "driver") -> Iterator[None]:
    """While a run runs, this process's fds 1 and 2 go to `log_path`; vspec's lines do not.

    Third-party code in the driver (Ray, a model loaded for a local arm, its progress bars
    and warnings) writes to the process's stdout and stderr; those go to the run's log.
    `console` and `err_console`, when they write to this process's fd 1 / 2, are pointed
    at copies of the terminal's descriptors meanwhile, so the live view, the plain
    progress lines and errors still reach the terminal. Streams that are not fd 1 / 2 (a
    test's captured output) are left alone. Restored on exit, whatever happened.
    Without a path, or when the log cannot be opened, nothing changes.
    """
    if log_path is None:
        yield
        return
    try:
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        yield
        return
    moved: list[tuple[Console, Any]] = []
    saved: dict[int, int] = {}
    try:
        for stream in (sys.stdout, sys.stderr):
            _flush(stream)
        for fd in (1, 2):
            saved[fd] = os.dup(fd)
        for con, fd in ((console, 1), (err_console, 2)):
            if _fileno(con.file) == fd:
                terminal = os.fdopen(os.dup(saved[fd]), "w", buffering=1, encoding="utf-8",
                                     errors="replace")
                moved.append((con, terminal))
                con.file = terminal
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.write(2, f"--- vspec: {what} (pid {os.getpid()}) ---\n".encode())
        yield
    finally:
        os.close(log_fd)
        for stream in (sys.stdout, sys.stderr):
            _flush(stream)
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        for con, terminal in moved:
            con.file = None  # back to sys.stdout / sys.stderr, looked up at each print
            terminal.close()


def _fileno(stream: Any) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation, a closed file
        return None


def _flush(stream: Any) -> None:
    try:
        stream.flush()
    except (AttributeError, OSError, ValueError):
        pass


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
    try:
        yield
    except RunWriteError as e:
        fail(str(e), code=1)
    except (ConfigError, CorpusError, RunError, ClusterError, StoreError, StoreLockedError,
            *more) as e:
        fail(str(e))

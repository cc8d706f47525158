"""Every `vspec` command's `--help` prints its help, and a wrong option is one short error.

The commands are discovered from the app (typer 0.29 vendors click: a group is anything
with `commands`), so a command added later is covered without editing this file.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from valuespectrum.cli import app


def command_paths() -> list[tuple[str, ...]]:
    """Every command and group of the app as its words after `vspec` (the root is ())."""
    out: list[tuple[str, ...]] = []

    def walk(cmd, path: tuple[str, ...]) -> None:
        out.append(path)
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return out


PATHS = command_paths()


def test_the_walk_finds_every_group_and_the_commands_that_once_failed():
    found = {" ".join(p) for p in PATHS}
    assert {"", "run", "collect", "doctor", "store", "store ingest", "store abundance",
            "spectrum run", "corpus build", "feed serve", "models check", "personas list",
            "view", "report"} <= found
    assert len(found) >= 25


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "vspec")
def test_help_exits_0_and_prints_the_commands_usage(path):
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="vspec")
    assert result.exit_code == 0, result.output
    assert result.exception is None
    assert f"Usage: {' '.join(('vspec', *path))} " in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "vspec")
def test_an_unknown_option_is_a_short_error_naming_it_without_a_traceback(path):
    result = CliRunner().invoke(app, [*path, "--no-such-option"], prog_name="vspec")
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # click's usage error, not a crash
    assert "Error: No such option: --no-such-option" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 4, result.output


def test_the_installed_entry_point_prints_collect_help():
    """The command a user types (the issue's first failure), in its own process."""
    p = subprocess.run([sys.executable, "-m", "valuespectrum.cli", "collect", "--help"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "Usage:" in p.stdout and "clip:ARCH[/PRETRAINED]" in p.stdout
    assert p.stderr == ""


def test_help_texts_are_printed_as_written_in_every_group():
    """The markup trap cannot come back: no group parses rich markup in help texts."""
    def groups(t: typer.Typer):
        yield t
        for info in t.registered_groups:
            yield from groups(info.typer_instance)

    assert all(g.rich_markup_mode is None for g in groups(app))

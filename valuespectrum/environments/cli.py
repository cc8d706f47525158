"""`vspec login PLATFORM` and `vspec collect`: real-platform sessions and the collector."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from valuespectrum.console import console, fail, user_errors


def _parse_options(pairs: list[str]) -> dict[str, str | int | float | bool]:
    """KEY=VALUE pairs as environment options (numbers and true/false are typed)."""
    import yaml

    out: dict[str, str | int | float | bool] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--option {pair!r}: expected KEY=VALUE, e.g. --option observation=frames")
        parsed = yaml.safe_load(value) if value else ""
        out[key] = parsed if isinstance(parsed, str | int | float | bool) else value
    return out


def login_command(
    platform: Annotated[str, typer.Argument(help="tiktok | youtube | instagram, or a profile "
                                                 "YAML")],
    account: Annotated[str, typer.Option("--account", help="label of the account (several "
                                         "accounts of one platform get one file each)")] = "",
    output: Annotated[Path | None, typer.Option(
        "--output", help="storage_state file (default $VSPEC_HOME/auth/PLATFORM[-ACCOUNT].json)"
    )] = None,
    start_url: Annotated[str | None, typer.Option("--start-url",
                                                  help="open this page instead of the "
                                                       "profile's login URL")] = None,
) -> None:
    """Log in once in a visible browser; the saved session is used by `platform` runs."""
    import asyncio

    from valuespectrum.config import ConfigError
    from valuespectrum.environments.base import EnvError
    from valuespectrum.environments.login import auth_path, record_login
    from valuespectrum.environments.profiles import load_profile

    try:
        profile = load_profile(platform)
        out = output or auth_path(profile.name, account)
        asyncio.run(record_login(profile, out, start_url=start_url))
    except (ConfigError, EnvError) as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted: nothing was saved", code=130)
    console.print(f"saved the {profile.name} session to {out}; `platform` environments "
                  "use it (option storage_state to choose another file)", highlight=False)


def collect_command(
    n: Annotated[int, typer.Option("-n", "--n", min=1, help="distinct posts to collect")],
    environment: Annotated[str, typer.Option(
        "--environment", help="environment kind: http, playwright, appium-web, platform, "
                              "android")] = "http",
    platform: Annotated[str, typer.Option(
        "--platform", help="feed style (tiktok, youtube, instagram, cowatch, random, or a "
                           "-frozen twin); a real platform's profile for --environment "
                           "platform")] = "tiktok",
    options: Annotated[list[str], typer.Option(
        "--option", help="environment option KEY=VALUE (repeatable), e.g. account=alice")] = [],  # noqa: B006
    output: Annotated[Path | None, typer.Option(
        "--output", help="run directory (default runs/collect-PLATFORM-ENVIRONMENT)")] = None,
    store: Annotated[str | None, typer.Option(
        "--store", help="a milvus-lite file (default $VSPEC_HOME/store/screenshots.db) or a "
                        "Milvus server URI such as http://127.0.0.1:19530")] = None,
    embedder: Annotated[str, typer.Option("--embedder",
                                          help="minilm | clip:ARCH[/PRETRAINED]")] = "minilm",
    corpus: Annotated[Path | None, typer.Option(
        "--corpus", help="corpus of the built-in feed (default $VSPEC_HOME/corpus/openclipart)"
    )] = None,
    feed_url: Annotated[str | None, typer.Option(
        "--feed-url", help="attach to a running feed server instead of starting one")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    skip_prob: Annotated[float, typer.Option("--skip-prob", min=0.0, max=1.0,
                                             help="chance of skipping a post at once")] = 0.5,
    max_dwell: Annotated[float, typer.Option("--max-dwell", min=0.0,
                                             help="longest random dwell (s)")] = 10.0,
    restart: Annotated[bool, typer.Option("--restart", help="start the collection over "
                                          "(the store keeps what it has)")] = False,
) -> None:
    """Random-walk a feed and put each post's start screenshot in the store (resumable)."""
    from pydantic import ValidationError
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from valuespectrum.config import format_validation_error
    from valuespectrum.embedders import EmbedderUnavailable
    from valuespectrum.environments.base import EnvError
    from valuespectrum.environments.collect import Collector, CollectSpec
    from valuespectrum.environments.spec import EnvironmentSpec
    from valuespectrum.store.cli import store_location

    opts = _parse_options(options)
    try:  # the environment's recipe, checked before anything starts
        EnvironmentSpec(kind=environment, feed_url=feed_url or "http://127.0.0.1:1",
                        style=platform, options=opts)
        spec = CollectSpec(n=n, environment=environment, platform=platform, options=opts,
                           seed=seed, skip_prob=skip_prob, max_dwell_s=max_dwell,
                           store=_resolved(store_location(store)), embedder=embedder,
                           corpus=str(corpus.resolve()) if corpus else None, feed_url=feed_url)
    except ValidationError as e:
        fail(format_validation_error(e, "vspec collect"))
    run_dir = output or Path("runs") / f"collect-{platform}-{environment}"
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeRemainingColumn(), console=console,
                  transient=True) as bar:
        task = bar.add_task(f"collect {platform} ({environment})", total=n)
        collector = Collector(spec, run_dir,
                              progress=lambda done, total: bar.update(task, completed=done))
        try:
            with user_errors(EnvError, EmbedderUnavailable):
                report = collector.run(restart=restart)
        except KeyboardInterrupt:
            fail(f"interrupted; what was collected is kept: rerun the same command to resume "
                 f"({run_dir})", code=130)
    console.print(f"{run_dir}: {report}; store {spec.store}", highlight=False, soft_wrap=True)
    if report.exhausted:
        raise typer.Exit(1)


def _resolved(location: str | Path) -> str:
    """A store file as an absolute path; a server URI as given."""
    return str(location.resolve()) if isinstance(location, Path) else location

"""The `vspec` command line. Subcommands live beside their subsystems and are registered here.

`vspec run SPEC` runs either kind of spec (``kind: sweep``, the default, or
``kind: spectrum``) with one behaviour: rerunning the same command resumes, ``--restart``
starts over, a changed plan is refused with what changed. Heavy imports happen inside
commands so that `vspec --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

from valuespectrum.config import ConfigError
from valuespectrum.console import command_group, console, err_console, fail, user_errors
from valuespectrum.launch import run_spec_file

app = command_group(
    "ValueSpectrum: measure and steer the value preferences of VLM viewers of short-video feeds.",
    name="vspec")
personas_app = command_group("The YAML persona library.")
app.add_typer(personas_app, name="personas")

from valuespectrum.feed.cli import corpus_app, feed_app  # noqa: E402 - light: typer only

app.add_typer(corpus_app, name="corpus")
app.add_typer(feed_app, name="feed")

from valuespectrum.store.cli import store_app  # noqa: E402 - light: typer only

app.add_typer(store_app, name="store")

from valuespectrum.spectrum.cli import spectrum_app  # noqa: E402 - light: typer only

app.add_typer(spectrum_app, name="spectrum")

from valuespectrum.models.cli import models_app  # noqa: E402 - light: typer only

app.add_typer(models_app, name="models")

from valuespectrum.view.cli import view_command  # noqa: E402 - light: typer only

app.command("view")(view_command)

PersonaDirOpt = typer.Option(Path("personas"), "--persona-dir", help="persona directory")
RayAddressOpt = typer.Option(
    None, "--ray-address", help="join a Ray cluster (\"auto\" or host:port; default: local Ray)")
RestartOpt = typer.Option(False, "--restart",
                          help="start over: clear the run directory's earlier results")
OutputOpt = typer.Option(None, "--output", help="run directory (default: the spec's `output`)")


@personas_app.command("list")
def personas_list(persona_dir: Path = PersonaDirOpt) -> None:
    """List the personas of a directory with their favoured values."""
    from rich.table import Table

    from valuespectrum.personas import PersonaLibrary

    lib = PersonaLibrary(persona_dir)
    try:
        table = Table("name", "values", "description")
        for n in lib.names():
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
        raise typer.Exit(2)


@personas_app.command("relevance")
def personas_relevance(
    name: str = typer.Argument(..., help="persona name"),
    persona_dir: Path = PersonaDirOpt,
    corpus: Path | None = typer.Option(
        None, "--corpus", help="corpus directory (default: $VSPEC_HOME/corpus/openclipart)"),
    examples: int = typer.Option(10, min=0, help="relevant posts to show (a seeded sample)"),
    seed: int = typer.Option(0, help="seed of the sample of examples"),
) -> None:
    """How many corpus posts the persona's `relevant:` labels pick, by category, with examples."""
    import random
    from collections import Counter

    from rich.table import Table

    from valuespectrum.feed.corpus import Corpus, CorpusError, default_corpus_dir
    from valuespectrum.personas import PersonaLibrary, item_folder

    try:
        persona = PersonaLibrary(persona_dir).get(name)
        loaded = Corpus.load(corpus or default_corpus_dir())
    except (ConfigError, CorpusError) as e:
        fail(str(e))
    if persona.relevant is None:
        fail(f"persona '{name}' has no `relevant:` labels (docs/sweeps.md#relevance-labels)")
    hits = [it for it in loaded.items if persona.relevant.matches(it)]
    console.print(f"[bold]{name}[/]: {len(hits):,} of {len(loaded):,} posts relevant "
                  f"({len(hits) / len(loaded):.1%}) in {loaded.root}", highlight=False)
    by_cat = Counter(it.category for it in hits)
    totals = loaded.categories()
    table = Table("category", "relevant", "of", "share")
    for cat, n in by_cat.most_common():
        table.add_row(cat, f"{n:,}", f"{totals[cat]:,}", f"{n / totals[cat]:.0%}")
    console.print(table)
    if hits and examples:
        shown = random.Random(seed).sample(hits, min(examples, len(hits)))
        ex = Table("item", "folder", "caption and hashtags", title=f"{len(shown)} examples")
        for it in shown:
            ex.add_row(it.item_id, item_folder(it), it.text)
        console.print(ex)


@app.command("run")
def run_command(
    spec_path: Path = typer.Argument(..., help="a spec (kind: sweep or spectrum), e.g. a saved "
                                               "RUN_DIR/spec.yaml"),
    ray_address: str | None = RayAddressOpt,
    restart: bool = RestartOpt,
    output: Path | None = OutputOpt,
    live: bool | None = typer.Option(
        None, "--live/--plain", help="rich live view or plain lines (default: live on a terminal)"),
    report: bool = typer.Option(True, "--report/--no-report",
                                help="write RUN_DIR/report.md and its figures at the end"),
) -> None:
    """Run (or resume) a sweep or a Value-Spectrum run; print its headline table."""
    run_spec_file(spec_path, ray_address=ray_address, restart=restart, output=output,
                  live=live, report=report)


@app.command("sensitivity")
def sensitivity_command(
    spec_path: Path = typer.Argument(..., help="a sweep spec"),
    param: str = typer.Option(..., "--param", help="PATH=V1,V2,... e.g. "
                              "recommenders.tiktok.warmup_views=0,10,25,50,100"),
    sets: list[str] = typer.Option([], "--set", help="PATH=VALUE held fixed in every run "
                                   "(e.g. environment=http); repeatable"),
    ray_address: str | None = RayAddressOpt,
    restart: bool = RestartOpt,
    output: Path | None = typer.Option(None, "--output", help="folder of the runs (default: "
                                       "the spec's output + '-sensitivity')"),
    live: bool | None = typer.Option(None, "--live/--plain", help="live view or plain lines"),
) -> None:
    """Run a sweep once per value of a parameter; plot the lead contrast, Δ and I_avg."""
    import json

    from valuespectrum.report.terminal import fmt, fmt_ci, fmt_p
    from valuespectrum.sweep.progress import SweepProgress
    from valuespectrum.sweep.sensitivity import run_sensitivity

    try:
        with user_errors(FileNotFoundError):  # the same exits as `vspec run`
            path = run_sensitivity(spec_path, param, sets=sets, output=output,
                                   ray_address=ray_address, restart=restart,
                                   make_progress=lambda s: SweepProgress(
                                       console, window=s.window, live=live))
    except KeyboardInterrupt:
        fail("interrupted; rerun the same command to resume", code=130)
    from rich.table import Table

    result = json.loads(path.read_text())
    t = Table(title=f"sensitivity to {result['parameter']}")
    for col in ("value", "model", "platform", "strategy", "session", "lead vs matched control",
                "p", "Δ [95% CI]", "I_avg % (null)"):
        t.add_column(col)
    for r in result["rows"]:
        c = r["contrast"] or {}
        t.add_row(str(r["value"]), r["model"], r["platform"], r["strategy"],
                  fmt((r.get("session") or {}).get("value"), ".3f"),
                  f"{c.get('estimand', '')} {fmt(c.get('diff'))} {fmt_ci(c.get('ci'))}"
                  if c else "–",
                  (f"{fmt_p(c.get('p_adjusted'))} adj." if c.get("family") == "confirmatory"
                   else f"{fmt_p(c.get('p_value'))} expl.") if c else "–",
                  f"{fmt(r['delta']['value'])} {fmt_ci(r['delta']['ci'])}",
                  f"{fmt(r['i_avg']['value'], '+.1f')} ({fmt(r['i_avg_null'], '+.1f')})")
    console.print(t)
    console.print(f"wrote {path} and {path.with_suffix('.png')}", highlight=False)


@app.command("power")
def power_command(
    source: Path = typer.Argument(..., help="a sweep spec, or a finished pilot run directory "
                                            "(its measured rates are the inputs)"),
    effects: str = typer.Option("0.05,0.10,0.20", "--effects",
                                help="effects on the session yes-rate, comma-separated"),
    trials: int | None = typer.Option(None, "--trials", min=2,
                                      help="trials per cell to report power at (default: "
                                           "the spec's)"),
    target: float = typer.Option(0.8, "--target", min=0.05, max=0.99,
                                 help="power the trials needed should reach"),
    sims: int = typer.Option(400, "--sims", min=50, max=100_000,
                             help="simulated studies per power estimate"),
    shape: str = typer.Option("step", "--shape", help="step: the feed adapts at once; ramp: "
                              "the effect grows linearly over the session (same mean)"),
    base_rate: float | None = typer.Option(None, "--base-rate", help="control arm's yes-rate"),
    between_sd: float | None = typer.Option(None, "--between-sd",
                                            help="SD of trials' yes-rates within the "
                                                 "control arm"),
    treatment_sd: float | None = typer.Option(
        None, "--treatment-sd", help="SD of trials' yes-rates within the learning arm "
        "(default: a pilot's measured one; for a spec, the control's)"),
    pair_corr: float | None = typer.Option(None, "--pair-corr",
                                           help="correlation of a pair's two trials"),
    lag1: float | None = typer.Option(None, "--lag1", help="lag-1 correlation of answers"),
    seed: int = typer.Option(0, "--seed", help="seed of the simulation"),
) -> None:
    """Power of a sweep's declared analysis, and the trials it needs, by simulation."""
    from rich.table import Table

    from valuespectrum.report.contrast_rows import ESTIMAND_LABELS
    from valuespectrum.sweep.power_plan import (
        family_size,
        inputs_from_run,
        inputs_from_spec,
        power_table,
    )
    from valuespectrum.sweep.reread import saved_sweep_spec
    from valuespectrum.sweep.spec import load_sweep_spec

    overrides = {"base_rate": base_rate, "between_sd": between_sd, "pair_corr": pair_corr,
                 "lag1": lag1, "treatment_sd": treatment_sd}
    try:
        with user_errors(FileNotFoundError):
            values = [float(e) for e in effects.split(",") if e.strip()]
            if shape not in ("step", "ramp"):
                raise ConfigError(f"--shape: expected step or ramp, got {shape!r}")
            if source.is_dir():
                spec = saved_sweep_spec(source)
                inputs = inputs_from_run(source, spec, **overrides)
            else:
                spec = load_sweep_spec(source)
                inputs = inputs_from_spec(spec, **overrides)
            rows = power_table(spec, inputs, values, trials=trials, target=target, sims=sims,
                               shape=shape, seed=seed)
    except ValueError as e:
        fail(f"{source}: {e}")
    plan = spec.analysis
    console.print(
        f"{spec.name}: {ESTIMAND_LABELS.get(plan.estimand, plan.estimand)}, {plan.reading}, "
        f"α {plan.alpha:g}, Holm over {family_size(spec)} confirmatory contrast(s); "
        f"{spec.scrolls} scrolls; effect shape {shape}; {sims} simulated studies per figure "
        f"(seed {seed})", markup=False, highlight=False)
    spread = ("the same in the learning arm" if inputs.treatment_sd is None
              else f"{inputs.treatment_sd:.3f} in the learning arm")
    console.print(f"inputs ({inputs.source}): control yes-rate {inputs.base_rate:.3f}, SD "
                  f"between trials {inputs.between_sd:.3f} ({spread}), pair correlation "
                  f"{inputs.pair_corr:.2f}, lag-1 correlation {inputs.lag1:.2f}",
                  markup=False, highlight=False)
    t = Table("effect", f"power at {rows[0]['trials']} trials per cell" if rows else "power",
              f"trials per cell for {target:.0%}")
    for r in rows:
        t.add_row(f"{r['effect']:+.3f}", f"{r['power']:.0%}",
                  str(r["trials_for_target"]) if r["trials_for_target"] is not None
                  else "more than 1000")
    console.print(t)


@app.command("report")
def report_command(
    run_dir: Path = typer.Argument(..., help="a run directory"),
    analysis: list[str] = typer.Option(
        [], "--analysis", help="re-read a sweep another way, e.g. estimand=delta or "
        "reading=unpaired,window=25 (repeatable): written to RUN_DIR/exploratory/..., every "
        "table labelled exploratory"),
) -> None:
    """Write RUN_DIR/report.md with its figures (sweep or Value-Spectrum run)."""
    from valuespectrum.engine.registry import write_report
    from valuespectrum.report.sweep import write_sweep_report

    # a missing or damaged file of the run (RunReadError, a RunError) is one line naming it
    with user_errors(FileNotFoundError, KeyError, ValueError):
        if analysis:
            from valuespectrum.report.terminal import print_summary
            from valuespectrum.sweep.reread import reread

            folder = reread(run_dir, analysis)
            out = write_sweep_report(run_dir, folder)
            print_summary(console, folder)
        else:
            out = write_report(run_dir)
    console.print(f"wrote {out}", markup=False, highlight=False)
    note = versions_note(run_dir)
    if note:
        console.print(note, markup=False, highlight=False, soft_wrap=True)


def versions_note(run_dir: Path) -> str | None:
    """One line naming what differs between the run's versions.json and this environment."""
    from valuespectrum.engine.reader import RunReader
    from valuespectrum.errors import RunReadError
    from valuespectrum.runs import RunDirectory
    from valuespectrum.versions import run_versions, versions_changes

    reader = RunReader(run_dir)
    path = reader.path(RunDirectory.VERSIONS)
    if not path.exists():
        return f"note: {path} is missing: the versions this run was computed with are unknown"
    try:
        recorded = reader.json(RunDirectory.VERSIONS)
    except (OSError, RunReadError) as e:
        return f"note: {e}: the run's versions are unknown"
    changes = versions_changes(recorded, run_versions())
    if not changes:
        return None
    shown = "; ".join(changes[:8]) + (f"; and {len(changes) - 8} more" if len(changes) > 8 else "")
    return (f"note: this run was computed under other versions than the ones reading it now "
            f"(run -> now): {shown}")


from valuespectrum.environments import cli as env_cli  # noqa: E402 - light: typer only

app.command("login")(env_cli.login_command)
app.command("collect")(env_cli.collect_command)

from valuespectrum.doctor import doctor_command  # noqa: E402 - light: stdlib only

app.command("doctor")(doctor_command)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover - `python -m valuespectrum.cli`
    app()

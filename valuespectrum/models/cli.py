"""`vspec models ...`: probe a model spec and show the price table (typer only at import)."""

from __future__ import annotations

from pathlib import Path

import typer

from valuespectrum.console import command_group
from valuespectrum.models.check import DEFAULT_SAMPLE

models_app = command_group("Model backends: probe a spec, show prices.")


def _probe_png(caption: str) -> bytes:
    """A small phone-shaped screenshot with the caption drawn on it."""
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (390, 844), (24, 24, 32))
    ImageDraw.Draw(img).text((20, 760), caption, fill=(240, 240, 240))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@models_app.command("check")
def check(
    spec: str = typer.Argument(..., help="model spec, e.g. openai:gpt-4o or embed:minilm"),
    strategy: str = typer.Option("simple", help="a registered strategy (plain, simple, isq, "
                                                "caption_llm)"),
    persona: str = typer.Option("pet_owner", help="persona name ('' for none)"),
    persona_dir: Path = typer.Option(Path("personas"), "--persona-dir"),
    image: Path | None = typer.Option(None, help="screenshot PNG to send (default: a probe)"),
    caption: str = typer.Option("Golden retriever puppy playing in the snow #dog #puppy",
                                help="visible text of the probe post"),
    base_url: str | None = typer.Option(None, help="OpenAI-compatible endpoint"),
    api_key_env: str | None = typer.Option(None, help="env var holding the API key"),
    sample: int | None = typer.Option(
        None, min=0, help="corpus posts to check against the persona's relevance labels "
        f"(default {DEFAULT_SAMPLE} for CPU viewers; API and served models only when given: "
        "each post is a paid call); 0: the probe only"),
    seed: int = typer.Option(0, help="seed of the sample"),
    corpus: Path | None = typer.Option(
        None, "--corpus", help="corpus directory (default: $VSPEC_HOME/corpus/openclipart)"),
) -> None:
    """Send one probe decision through SPEC's backend (answer, latency, usage), then, with a
    labelled persona, a seeded sample of the corpus: the viewer's yes-rate on relevant and
    other posts, and the precision and recall of its yes."""
    import asyncio

    from valuespectrum.config import ConfigError
    from valuespectrum.console import console, fail
    from valuespectrum.feed.corpus import Corpus, CorpusError, default_corpus_dir
    from valuespectrum.models import BackendError, ModelSpec, build_backend
    from valuespectrum.models.check import check_viewer
    from valuespectrum.models.providers import PROVIDERS
    from valuespectrum.personas import PersonaLibrary
    from valuespectrum.strategies import make_strategy
    from valuespectrum.types import Observation, VisibleText

    try:
        data = {"spec": spec, "retries": 1}
        if base_url:
            data["base_url"] = base_url
        if api_key_env:
            data["api_key_env"] = api_key_env
        model = ModelSpec.parse(data, source="--spec")
        who = PersonaLibrary(persona_dir).get(persona) if persona else None
        png = image.read_bytes() if image else _probe_png(caption)
        decider = make_strategy(strategy)
    except (ConfigError, OSError, ValueError) as e:
        fail(str(e))
    obs = Observation(screenshot_png=png, text=VisibleText(caption=caption))
    provider = PROVIDERS[model.provider]
    n = sample if sample is not None else (DEFAULT_SAMPLE if provider.local else 0)
    loaded = None
    if n and who is not None and who.relevant is not None:
        try:
            loaded = Corpus.load(corpus or default_corpus_dir())
        except CorpusError as e:
            fail(f"{e} (or pass --sample 0 for the probe only)")

    async def run():
        backend = build_backend(model)
        try:
            d = await decider.decide(obs, who, backend)
            if loaded is None:
                return d, None
            with console.status(f"checking {n} posts ...") as status:
                result = await check_viewer(
                    backend, decider, who, loaded, spec=model.spec, strategy_name=strategy,
                    reads_pixels=provider.reads_pixels(model.target), n=n, seed=seed,
                    progress=lambda i, k: status.update(f"checking posts: {i}/{k}"))
            return d, result
        finally:
            await backend.aclose()

    try:
        d, result = asyncio.run(run())
    except (BackendError, ValueError) as e:
        fail(str(e), code=1)
    verdict = {True: "yes", False: "no", None: "invalid"}[d.yes]
    console.print(f"[green]✓[/] {model.spec} ({model.label}) answered [bold]{verdict}[/] "
                  f"in {d.latency_s * 1e3:.0f} ms; tokens in/out {d.usage.input_tokens}/"
                  f"{d.usage.output_tokens}, cost ${d.usage.cost_usd:.5f}", highlight=False)
    for key, text in d.answers.items():
        console.print(f"  [dim]{key}:[/] {text}", highlight=False)
    if who is not None and who.relevant is None and n:
        console.print(f"persona '{who.name}' has no `relevant:` labels: no viewer check "
                      "(docs/sweeps.md#relevance-labels)", highlight=False)
    if result is not None:
        print_check(result, loaded.root)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


def print_check(r, root) -> None:
    """The viewer check as printed by `vspec models check`."""
    from valuespectrum.console import console

    console.print(
        f"\nviewer check: {r.spec} as {r.persona} ({r.strategy}), {r.relevant_n + r.other_n} "
        f"posts of {root}, seed-stratified: {r.relevant_n} of its {r.corpus_relevant:,} "
        f"relevant posts, {r.other_n} of its {r.corpus_other:,} others", highlight=False)
    console.print(f"  yes-rate on relevant posts  {_pct(r.yes_rate_relevant):>6} "
                  f"({r.relevant_yes}/{r.relevant_n})", highlight=False)
    console.print(f"  yes-rate on other posts     {_pct(r.yes_rate_other):>6} "
                  f"({r.other_yes}/{r.other_n})", highlight=False)
    console.print(f"  [bold]precision[/] of its yes      {_pct(r.precision):>6} "
                  f"(on the corpus: the sampled others stand for all {r.corpus_other:,})",
                  highlight=False)
    console.print(f"  [bold]recall[/] of its yes         {_pct(r.recall):>6}", highlight=False)
    console.print(f"  yes-rate on the corpus      {_pct(r.corpus_yes_rate):>6}; invalid answers "
                  f"{r.invalid}; {r.seconds / max(1, r.relevant_n + r.other_n) * 1e3:.0f} ms "
                  "a decision", highlight=False)


@models_app.command("prices")
def prices() -> None:
    """The packaged price table (USD per 1M tokens)."""
    from importlib import resources

    import yaml
    from rich.table import Table

    from valuespectrum.console import console

    table_data = yaml.safe_load(
        resources.files("valuespectrum.data").joinpath("prices.yaml").read_text("utf-8"))
    table = Table("model", "input $/1M", "output $/1M", title=f"prices {table_data['version']}")
    for name, p in table_data["models"].items():
        table.add_row(name, f"{p['input_per_mtok']:g}", f"{p['output_per_mtok']:g}")
    console.print(table)

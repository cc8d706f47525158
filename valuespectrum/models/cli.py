"""`vspec models ...`: probe a model spec and show the price table (typer only at import)."""

from __future__ import annotations

from pathlib import Path

import typer

from valuespectrum.console import command_group

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
) -> None:
    """Send one probe decision through SPEC's backend; report answer, latency and usage."""
    import asyncio

    from valuespectrum.config import ConfigError
    from valuespectrum.console import console, fail
    from valuespectrum.models import BackendError, ModelSpec, build_backend
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
    except (ConfigError, OSError) as e:
        fail(str(e))
    obs = Observation(screenshot_png=png, text=VisibleText(caption=caption))

    async def probe():
        backend = build_backend(model)
        try:
            return await make_strategy(strategy).decide(obs, who, backend)
        finally:
            await backend.aclose()

    try:
        d = asyncio.run(probe())
    except (BackendError, ValueError) as e:
        fail(str(e), code=1)
    verdict = {True: "yes", False: "no", None: "invalid"}[d.yes]
    console.print(f"[green]✓[/] {model.spec} ({model.label}) answered [bold]{verdict}[/] "
                  f"in {d.latency_s * 1e3:.0f} ms; tokens in/out {d.usage.input_tokens}/"
                  f"{d.usage.output_tokens}, cost ${d.usage.cost_usd:.5f}", highlight=False)
    for key, text in d.answers.items():
        console.print(f"  [dim]{key}:[/] {text}", highlight=False)


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

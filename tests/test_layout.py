"""The package's layout rules, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "valuespectrum"


def imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_agents_import_shared_types_not_the_pipelines():
    for path in (PKG / "agents").glob("*.py"):
        bad = {m for m in imports(path)
               if m.startswith(("valuespectrum.sweep", "valuespectrum.spectrum"))}
        assert not bad, f"{path.name} imports {bad}"


def test_embedders_feed_models_and_store_do_not_import_each_other_for_embedders():
    assert not {m for m in imports(PKG / "embedders.py") if m.startswith("valuespectrum")}


def test_the_library_never_sets_hub_offline_itself():
    for path in PKG.rglob("*.py"):
        assert "HF_HUB_OFFLINE" not in path.read_text(), path


def test_the_experiments_alias_is_gone():
    """`valuespectrum.experiments` was an alias of `valuespectrum.metrics` whose name collided
    with the top-level `experiments/` folder of spec files (issue 24)."""
    assert not list((PKG / "experiments").glob("*.py"))  # a stale __pycache__ may stay


def test_one_fail_helper_and_one_ray_init():
    sources = {p: p.read_text() for p in PKG.rglob("*.py")}
    assert [p.name for p, s in sources.items() if "def fail(" in s or "def _fail(" in s] \
        == ["console.py"]
    assert [p.name for p, s in sources.items() if "ray.init(" in s] == ["cluster.py"]


def test_every_command_group_is_made_by_command_group():
    """Its help is printed as written (no rich markup); see console.command_group."""
    makers = [p.name for p in PKG.rglob("*.py") if "typer.Typer(" in p.read_text()]
    assert makers == ["console.py"]

"""No import cycles among the package's modules, counted by an AST walk.

Every ``import`` and ``from ... import`` statement counts, wherever it stands: at module top,
inside a function, or under ``if TYPE_CHECKING:`` (a hidden import is still a dependency).
An edge goes to the module imported: ``import valuespectrum.x.y`` is an edge to
``valuespectrum.x.y``; ``from pkg import name`` is an edge to ``pkg.name`` when that is a module,
else to ``pkg`` (its ``__init__``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PKG = Path(__file__).resolve().parents[1] / "valuespectrum"


def module_names(root: Path) -> dict[str, Path]:
    """Every module under the package directory ``root``, by dotted name (packages by their name)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name a ``from`` import refers to (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(root: Path) -> nx.DiGraph:
    """The module graph of the package at ``root``: an edge for every internal import."""
    modules = module_names(root)
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                pkg = _resolve(name, is_package, node)
                targets = [f"{pkg}.{alias.name}" if f"{pkg}.{alias.name}" in modules else pkg
                           for alias in node.names]
            for target in targets:
                if target in modules and target != name:
                    graph.add_edge(name, target)
    return graph


def import_cycles(root: Path) -> list[list[str]]:
    """The strongly connected components of more than one module, each sorted, largest first."""
    comps = [sorted(c) for c in nx.strongly_connected_components(import_graph(root)) if len(c) > 1]
    return sorted(comps, key=lambda c: (-len(c), c))


def describe(graph: nx.DiGraph, cycles: list[list[str]]) -> str:
    lines = []
    for comp in cycles:
        sub = graph.subgraph(comp)
        lines.append(f"{len(comp)} modules: " + ", ".join(comp))
        lines += [f"    {a} -> {b}" for a, b in sorted(sub.edges)]
    return "\n".join(lines)


def test_the_package_has_no_import_cycles():
    cycles = import_cycles(PKG)
    assert not cycles, (f"{len(cycles)} import cycle(s):\n"
                        + describe(import_graph(PKG), cycles))


def test_the_graph_sees_every_kind_of_internal_import():
    graph = import_graph(PKG)
    assert graph.number_of_nodes() > 100
    # cli.py imports its subcommands' modules; an edge to each shows absolute imports are read
    assert graph.has_edge("valuespectrum.cli", "valuespectrum.console")


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_the_checker_finds_a_cycle_hidden_in_a_function(tmp_path):
    pkg = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.b import thing\n",
        "pkg/b.py": "thing = 1\n\ndef late():\n    from . import a\n    return a\n",
        "pkg/c.py": "import pkg.a as alias\n",
    })
    assert import_cycles(pkg) == [["pkg.a", "pkg.b"]]


def test_the_checker_resolves_relative_imports_and_package_names(tmp_path):
    pkg = _write(tmp_path, {
        "pkg/__init__.py": "from .sub.x import X\n",
        "pkg/sub/__init__.py": "",
        # `from .. import X` names an attribute of pkg, so the edge goes to pkg itself
        "pkg/sub/x.py": "X = 1\n\ndef f():\n    from .. import X as again\n    return again\n",
        "pkg/sub/y.py": "import pkg.sub.x\nfrom ..sub import x\n",
    })
    graph = import_graph(pkg)
    assert graph.has_edge("pkg", "pkg.sub.x") and graph.has_edge("pkg.sub.x", "pkg")
    assert graph.has_edge("pkg.sub.y", "pkg.sub.x")
    assert import_cycles(pkg) == [["pkg", "pkg.sub.x"]]
    assert "pkg -> pkg.sub.x" in describe(graph, import_cycles(pkg))


def test_the_checker_passes_an_acyclic_package(tmp_path):
    pkg = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\n",
        "pkg/b.py": "import os\nfrom .c import z\n",
        "pkg/c.py": "z = 0\n",
    })
    assert import_cycles(pkg) == []
    assert set(import_graph(pkg).edges) == {("pkg.a", "pkg.b"), ("pkg.b", "pkg.c")}

"""Branches on the run kind outside the task registry, counted by an AST walk (issue 24).

A branch on the kind is a comparison with the string ``"sweep"`` or ``"spectrum"`` (``==``,
``!=``, ``in`` a tuple of them, ...), a ``case "sweep":``, or an ``isinstance`` check against a
class named ``Sweep...`` or ``Spectrum...`` (the viewer's sources and readers, the specs).
The task registry, ``valuespectrum/engine/``, is the one place meant to know the kinds; the rest
of the package asks a task or a source and never the kind.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "valuespectrum"
KINDS = {"sweep", "spectrum"}
KIND_CLASS = re.compile(r"\b(Sweep|Spectrum)[A-Za-z_]*\b")
#: Branches allowed outside the registry (issue 24: "Branches on the run kind outside the
#: task registry are <= 2").
ALLOWED = 2


def _constants(node: ast.expr) -> set[object]:
    if isinstance(node, ast.Constant):
        return {node.value}
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return {e.value for e in node.elts if isinstance(e, ast.Constant)}
    return set()


def kind_branches(root: Path, skip: tuple[str, ...] = ("engine",)) -> list[str]:
    """``path:line: code`` of each branch on the run kind in the package at `root`, leaving out
    its subpackages named in `skip`."""
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] in skip:
            continue
        hits = []
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            hit = False
            if isinstance(node, ast.Compare):
                hit = any(_constants(c) & KINDS for c in (node.left, *node.comparators))
            elif isinstance(node, ast.match_case):
                hit = any(isinstance(p, ast.MatchValue) and _constants(p.value) & KINDS
                          for p in ast.walk(node.pattern))
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id == "isinstance" and len(node.args) == 2):
                hit = KIND_CLASS.search(ast.unparse(node.args[1])) is not None
            if hit:
                shown = node.pattern if isinstance(node, ast.match_case) else node
                hits.append((shown.lineno, ast.unparse(shown)))
        found += [f"{root.name}/{rel}:{line}: {code}" for line, code in sorted(hits)]
    return found


def test_branches_on_the_run_kind_outside_the_registry_are_at_most_two():
    found = kind_branches(PKG)
    print("\n".join(found))
    assert len(found) <= ALLOWED, (f"{len(found)} branches on the run kind outside "
                                   f"valuespectrum/engine/ (at most {ALLOWED}):\n"
                                   + "\n".join(found))


def test_the_viewer_asks_its_sources_not_the_kind():
    """The viewer's one dispatch is where it opens a run (view/sources.py)."""
    found = [f for f in kind_branches(PKG) if f.startswith("valuespectrum/view/")
             and not f.startswith("valuespectrum/view/sources.py:")]
    assert not found, "the viewer branches on the run kind:\n" + "\n".join(found)


def test_the_counter_finds_every_form_of_branch(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "engine").mkdir(parents=True)
    (pkg / "engine" / "registry.py").write_text('def f(k):\n    return k == "sweep"\n')
    (pkg / "a.py").write_text(
        'def f(src, spec, kind):\n'
        '    if kind == "sweep":\n'                              # 2
        '        return 1\n'
        '    if spec.get("kind", "sweep") != "spectrum":\n'     # 4
        '        return 2\n'
        '    if kind not in ("sweep", "spectrum"):\n'           # 6
        '        return 3\n'
        '    if isinstance(src, (SweepSource, int)):\n'         # 8
        '        return 4\n'
        '    match kind:\n'
        '        case "spectrum":\n'                            # 11
        '            return 5\n'
        '    return {"sweep": 6}[kind] if kind == "poll" else isinstance(src, RunSource)\n')
    found = kind_branches(pkg)
    assert [f.split(":")[1] for f in found] == ["2", "4", "6", "8", "11"], found

"""No module of skig imports one that imports it back, directly or through others, at module or function level."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SKIG = Path(__file__).resolve().parents[1] / "skig"


def module_files(package: Path) -> dict[str, Path]:
    """Every module of ``package`` by dotted name (a package by its own name, for its ``__init__.py``)."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported(name: str, path: Path, node: ast.AST, modules: dict[str, Path]) -> list[str]:
    """The modules one import statement (or ``importlib.import_module("...")`` call) names.

    ``from a import b`` names ``a.b`` when that is a module, else ``a``; relative imports resolve from ``name``.
    """
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        if node.level:
            base = f"{base}.{node.module}" if node.module else base
        else:
            base = node.module
        return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "import_module"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return [node.args[0].value]
    return []


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its body: top level, functions, classes, branches."""
    modules = module_files(package)
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets = {target for node in ast.walk(tree) for target in imported(name, path, node, modules)}
        graph[name] = {target for target in targets if target in modules and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import that leads back to a module on the current import path, as the closed path (depth-first)."""
    found: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "on path"
        path.append(node)
        for step in sorted(graph[node]):
            if state.get(step) == "on path":
                found.append([*path[path.index(step) :], step])
            elif step not in state:
                visit(step, path)
        path.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def test_skig_has_no_import_cycle():
    found = cycles(import_graph(SKIG))
    assert not found, "modules import each other: " + "; ".join(" -> ".join(cycle) for cycle in found)


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph(SKIG)
    # reporting/_html.py imports the distributed package inside report(), the engines' registry imports
    # skig.spark inside a function.
    assert "skig._distributed" in graph["skig.reporting._html"]
    assert {"skig.spark", "skig.dask"} <= graph["skig._distributed._engines"]
    assert "skig._distributed._backend" in graph["skig.spark"]


@pytest.mark.parametrize("where", ["module", "function", "import_module"])
def test_a_cycle_is_found(tmp_path, where):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from .sub import b\n")
    back = {
        "module": "from .. import a\n",
        "function": "def f():\n    from ..a import g\n    return g\n",
        "import_module": "import importlib\n\ndef f():\n    return importlib.import_module('pkg.a')\n",
    }[where]
    (package / "sub" / "b.py").write_text(back)
    (package / "c.py").write_text("from .a import x\n")  # imports into the cycle, not part of it
    assert cycles(import_graph(package)) == [["pkg.a", "pkg.sub.b", "pkg.a"]]

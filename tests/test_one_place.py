"""One concept, one place: method and rule names are interpreted only where they are defined, and the Explainer's
docstring says the defaults its signature has."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import skig
from skig.engine import METHODS, QUADRATURE_RULES

PACKAGE = Path(skig.__file__).parent
METHOD_NAMES = set(METHODS)
RULE_NAMES = {*QUADRATURE_RULES, "exact"}


def _in_methods(path: Path) -> bool:
    return path.parent.name == "methods" and path.parent.parent.name == "engine"


# Where the names are defined and interpreted: the methods (each knows its own name and what rules it accepts), the
# quadrature rules' module, and the plan that resolves rule="auto" and "exact" once at fit.
INTERPRETERS = {
    "methods": _in_methods,
    "rules": lambda path: (
        _in_methods(path) or path.relative_to(PACKAGE).as_posix() in ("engine/_quadrature.py", "_plan.py")
    ),
}


def _literals(node: ast.AST) -> set[str]:
    """The string constants of a compared value: a literal, or a tuple, list or set of literals."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return {value for item in node.elts for value in _literals(item)}
    return set()


def comparisons(source: str, names: set[str]) -> list[tuple[int, str]]:
    """(line, names) of every ``==``, ``!=``, ``in``, ``not in`` or ``match`` case against one of ``names``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            values = [node.left, *node.comparators]
            hits = set().union(*(_literals(value) for value in values)) & names
        elif isinstance(node, ast.match_case):
            hits = {getattr(p, "value", None) for p in ast.walk(node.pattern) if isinstance(p, ast.Constant)} & names
        else:
            continue
        if hits:
            found.append((node.lineno if hasattr(node, "lineno") else node.pattern.lineno, ", ".join(sorted(hits))))
    return found


def test_the_finder_sees_every_form_of_comparison():
    source = (
        'if method == "ig": pass\n'
        'if "guided" != name: pass\n'
        'if rule in ("auto", "exact"): pass\n'
        'if m not in {"vargrad"}: pass\n'
        'match rule:\n    case "gausslegendre": pass\n'
        'x = {"ig": 1}\n'  # a mapping is no comparison
        'if kind == "identity": pass\n'
    )
    assert [line for line, _ in comparisons(source, METHOD_NAMES | RULE_NAMES)] == [1, 2, 3, 4, 6]


@pytest.mark.parametrize("kind", ["methods", "rules"])
def test_no_name_is_compared_outside_where_it_is_defined(kind):
    names = METHOD_NAMES if kind == "methods" else RULE_NAMES
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if INTERPRETERS[kind](path):
            continue
        for line, hit in comparisons(path.read_text(encoding="utf-8"), names):
            offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line} compares against {hit}")
    assert not offenders, (
        "ask the registry (METHODS[name].<attribute>) or the plan (explainer.plan_) instead:\n" + "\n".join(offenders)
    )


def _documented_defaults(docstring: str) -> dict[str, str]:
    """``name : type, default=value`` lines of a numpydoc Parameters section (continuation lines joined)."""
    section = docstring.split("Parameters\n    ----------\n", 1)[1].split("\n\n    Attributes", 1)[0]
    section = section.replace("\\\n", " ")
    defaults = {}
    for line in section.splitlines():
        match = re.match(r"^    (\w+) : .*default=(.+?)\s*$", line)
        if match:
            defaults[match.group(1)] = match.group(2)
    return defaults


def test_every_documented_default_is_the_signatures():
    documented = _documented_defaults(skig.Explainer.__doc__)
    signature = inspect.signature(skig.Explainer.__init__).parameters
    keyword = [name for name, p in signature.items() if p.default is not inspect.Parameter.empty]
    assert set(documented) == set(keyword), "every parameter with a default documents it, and only those"
    for name, text in documented.items():
        assert ast.literal_eval(text) == signature[name].default, f"{name}: docstring says {text}"

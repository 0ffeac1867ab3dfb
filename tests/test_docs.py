"""The documentation site builds with warnings as errors, and its API reference lists every public name."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _require_sphinx():
    for name in ("sphinx", "numpydoc", "myst_parser"):
        try:
            importlib.import_module(name)
        except ImportError:
            if os.environ.get("CI"):
                raise
            pytest.skip(f"{name} is not installed (pip install -e '.[docs]')")


def _listed_in_the_reference() -> dict[str, set[str]]:
    """``{module: names}`` listed under each ``.. currentmodule::`` of docs/api.rst."""
    listed: dict[str, set[str]] = {}
    module = None
    for line in (DOCS / "api.rst").read_text().splitlines():
        found = re.match(r"\.\. currentmodule:: (\S+)", line)
        if found:
            module = found.group(1)
        elif module and re.match(r"   [A-Za-z_][\w.]*$", line):
            listed.setdefault(module, set()).add(line.strip())
    return listed


@pytest.mark.parametrize("module", ["skig", "skig.plots", "skig.spark", "skig.dask"])
def test_the_api_reference_lists_every_public_name(module):
    if module in ("skig.spark", "skig.dask"):
        pytest.importorskip("pyspark" if module == "skig.spark" else "dask.dataframe")
    public = set(importlib.import_module(module).__all__)
    # Modules are documented through their own section, the version in the page title.
    public -= {"__version__", "plots", "spark", "dask"}
    missing = sorted(public - _listed_in_the_reference().get(module, set()))
    assert not missing, f"docs/api.rst does not list {missing} of {module}.__all__"


def test_the_site_builds_without_warnings(tmp_path):
    _require_sphinx()
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-q",
        "-b",
        "html",
        "-d",
        str(tmp_path / "doctrees"),
    ]
    result = subprocess.run([*command, str(DOCS), str(tmp_path / "html")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    html = (tmp_path / "html" / "generated" / "skig.Explainer.html").read_text()
    # numpydoc rendered the Parameters section of the docstring.
    assert "Parameters" in html and "n_steps" in html
    assert (tmp_path / "html" / "user_guide.html").exists()

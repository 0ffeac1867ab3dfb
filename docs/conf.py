"""Sphinx configuration: the Markdown guides (MyST) and an API reference generated from the numpydoc docstrings.

Build with ``python -m sphinx -W -b html docs docs/_build/html`` after ``pip install -e ".[docs]"``;
``tests/test_docs.py`` builds it with warnings as errors.
"""

from __future__ import annotations

import skig

project = "skig"
author = "The skig developers"
copyright = "the skig developers"
release = version = skig.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "images"]

# The guides link to each other by file name and to sections by their heading's anchor.
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]
suppress_warnings = ["myst.header"]

autosummary_generate = True
autodoc_default_options = {"members": False}
# numpydoc lists a class's methods and attributes itself; autosummary stubs for them would duplicate it.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# No network at build time: intersphinx has no inventories to fetch; cross-references to numpy or pandas stay text.
intersphinx_mapping: dict = {}

html_theme = "alabaster"
html_title = f"skig {release}"

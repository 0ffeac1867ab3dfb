"""Every example in skig's docstrings runs and prints what the docstring says it prints."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import skig

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(skig.__path__, "skig.") if not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_print_what_they_say(name):
    try:
        module = importlib.import_module(name)
    except ImportError as error:  # an extra that is not installed (Spark, Dask)
        pytest.skip(f"{name} cannot be imported here: {error}")
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs=vars(module).copy()):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples in {name} failed (see above)"

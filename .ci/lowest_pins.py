"""Print a pip constraints file pinning every dependency of skig (and its test extra) to the lowest version that
pyproject.toml allows, so that the lowest pins are what .ci/lowest installs and tests, and cannot drift from it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: the TOML reader pip carries
    from pip._vendor import tomli as tomllib

project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
requirements = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
for requirement in requirements:
    found = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*>=\s*([0-9][0-9A-Za-z.]*)", requirement.strip())
    if found is None:
        sys.exit(f"{requirement!r}: every dependency needs a lowest version ('name>=X') for .ci/lowest to test")
    name, version = found.groups()
    if name != "ruff":  # the linter does not run in the lowest environment
        print(f"{name}=={version}")

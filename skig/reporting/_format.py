"""Numbers written for people: plain decimals (never ``3.9e-05``), with the unit of the output space explained.

Probabilities read as percentages and their changes as percentage points; log-odds and raw outputs as 3 decimals.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import pandas as pd

#: Smallest magnitude written as a number; anything smaller (but not 0) reads "< 0.000001": at that size a number
#: says "float rounding", and more zeros only make it harder to read.
_SMALLEST = 1e-6


def plain(value: float, places: int = 3, *, signed: bool = False) -> str:
    """``value`` with ``places`` decimals, or with 2 significant digits when it is smaller than that shows.

    Never scientific notation: ``plain(3.924e-05)`` is ``"0.000039"``. Thousands are separated by commas.

    Examples
    --------
    >>> plain(1234.5678), plain(0.5, 1), plain(3.924e-05), plain(-0.02, signed=True), plain(0.0)
    ('1,234.568', '0.5', '0.000039', '-0.020', '0.000')
    """
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return ("+" if signed else "") + "inf" if value > 0 else "-inf"
    sign = "+" if signed else ""
    magnitude = abs(value)
    if magnitude == 0 or magnitude >= 0.5 * 10.0**-places:
        return f"{value:{sign},.{places}f}"
    if magnitude < _SMALLEST:
        return f"< {_SMALLEST:.6f}"
    digits = -math.floor(math.log10(magnitude)) + 1
    return f"{value:{sign},.{digits}f}"


class Units:
    """How to write levels (a prediction, a base value) and changes (an attribution, a delta) of one output space.

    Parameters
    ----------
    output : {"probability", "logit", "raw"}
        The explained output space.

    Examples
    --------
    >>> units = Units("probability")
    >>> units.level(0.1234), units.change(0.0412), units.change(3.924e-05), units.change_unit
    ('12.3%', '+4.1 pp', '+0.0039 pp', 'percentage points (pp) of probability')
    >>> Units("logit").level(-1.23456), Units("logit").change(0.5)
    ('-1.235', '+0.500')
    """

    def __init__(self, output: str) -> None:
        self.output = output

    @property
    def level_unit(self) -> str:
        return {"probability": "percent", "logit": "log-odds"}.get(self.output, "units of the model output")

    @property
    def change_unit(self) -> str:
        return {"probability": "percentage points (pp) of probability", "logit": "log-odds"}.get(
            self.output, "units of the model output"
        )

    def level(self, value: float) -> str:
        """A prediction or base value: ``12.3%`` for a probability, 3 decimals otherwise."""
        if self.output == "probability":
            return plain(100 * value, 1) + "%"
        return plain(value, 3)

    def change(self, value: float, *, signed: bool = True) -> str:
        """An attribution, a difference or a completeness error: ``+4.1 pp`` for a probability, 3 decimals else."""
        if self.output == "probability":
            return plain(100 * value, 1, signed=signed) + " pp"
        return plain(value, 3, signed=signed)


def count(value: int) -> str:
    """A count with thousands separators: ``1,114``."""
    return f"{int(value):,}"


def proportion(value: float) -> str:
    """A share as a percentage with one decimal: ``0.253`` is ``25.3%``."""
    return plain(100 * value, 1) + "%"


def p_value(value: float) -> str:
    """A p-value to 3 decimals, ``< 0.001`` below that."""
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def raw_value(value) -> str:
    """A feature's raw value as a person reads it: ``23,500``, ``0.1235``, ``owner``; missing values as ``missing``, an
    empty string as ``''``."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "missing"
    if isinstance(value, str) and not value.strip():
        return repr(value)  # an empty or blank category reads '' rather than nothing
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, Integral):
        return count(value)
    if isinstance(value, Real):
        value = float(value)
        if value.is_integer() and abs(value) < 1e15:
            return f"{value:,.0f}"
        magnitude = abs(value)
        if magnitude < _SMALLEST:
            return "0"
        return plain(value, max(0, 3 - math.floor(math.log10(magnitude))))
    return str(value)


def outcome_text(exp, outcome: str | None = None) -> str:
    """What the explained output is, in words: "the probability of default" when the outcome is named (``outcome``,
    else ``exp.outcome``), else from the output space and class: "the probability of class 1"."""
    named = outcome if outcome is not None else exp.outcome
    if named is not None:
        return named if named.lower().startswith(("the ", "a ", "an ")) else f"the {named}"
    what = {"probability": "the probability", "logit": "the log-odds"}.get(exp.output, "the model output")
    if exp.target is None:
        return what
    targets = exp.target.unique()
    if len(targets) == 1:
        return f"{what} of class {targets[0]}" if exp.output != "raw" else f"{what} (output {targets[0]})"
    return f"{what} of each row's predicted class"

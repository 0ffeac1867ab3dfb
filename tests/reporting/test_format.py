"""Numbers for people: plain decimals with units, never scientific notation."""

from __future__ import annotations

import numpy as np
import pytest

from skig.reporting._format import Units, p_value, plain, raw_value


@pytest.mark.parametrize(
    "value, places, expected",
    [
        (3.924e-05, 3, "0.000039"),
        (0.0, 3, "0.000"),
        (1234.5678, 3, "1,234.568"),
        (-0.0004, 3, "-0.00040"),
        (2e-9, 3, "< 0.000001"),
        (0.04, 1, "0.040"),
        (float("nan"), 3, "NaN"),
    ],
)
def test_plain(value, places, expected):
    assert plain(value, places) == expected


def test_no_scientific_notation_over_many_magnitudes():
    for exponent in range(-15, 12):
        for units in (Units("probability"), Units("logit"), Units("raw")):
            for text in (units.level(10.0**exponent), units.change(-(10.0**exponent)), raw_value(10.0**exponent)):
                assert "e" not in text.replace("pp", ""), text


def test_probability_levels_are_percentages_and_changes_percentage_points():
    units = Units("probability")
    assert units.level(0.0846) == "8.5%"
    assert units.change(-0.084) == "-8.4 pp" and units.change(0.084, signed=False) == "8.4 pp"
    assert units.change(3.924e-05) == "+0.0039 pp"
    assert Units("logit").level(-2.0) == "-2.000" and Units("raw").change(12.5) == "+12.500"


def test_raw_values_and_p_values():
    assert raw_value(23500) == "23,500" and raw_value(np.int64(7)) == "7" and raw_value(4000.0) == "4,000"
    assert raw_value(0.123456) == "0.1235" and raw_value(np.nan) == "missing" and raw_value(None) == "missing"
    assert raw_value("owner") == "owner" and raw_value(True) == "True" and raw_value("") == "''"
    assert p_value(0.0004) == "< 0.001" and p_value(0.0437) == "0.044"

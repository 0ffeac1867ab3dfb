import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex, to_rgba

from skig.plots._common import (
    BLUE,
    GREY,
    RED,
    collapse_features,
    feature_order,
    format_attribution,
    format_number,
    format_value,
    point_colors,
    red_blue,
)


@pytest.mark.parametrize(
    "value, text",
    [
        (1250, "1,250"),
        (1250.0, "1,250"),
        (1250.5, "1,250"),
        (1234567.0, "1,234,567"),
        (0.123456, "0.123"),
        (0.5, "0.5"),
        (-12345.678, "-12,346"),
        (3.14159, "3.14"),
        (0.000123456, "0.000123"),
        (0, "0"),
        (-0.0, "0"),
    ],
)
def test_numbers_have_thousands_separators_and_three_significant_digits(value, text):
    assert format_number(value) == text


def test_attributions_are_signed_with_two_significant_digits():
    assert [format_attribution(v) for v in (0.05204, -0.2, 1.234, -1234.5, 0.0)] == [
        "+0.052",
        "-0.2",
        "+1.2",
        "-1,234",
        "0",
    ]


@pytest.mark.parametrize(
    "value, text",
    [
        (np.nan, "missing"),
        (None, "missing"),
        (pd.NA, "missing"),
        ("rent", "rent"),
        (True, "True"),
        (np.int64(5), "5"),
        ("", "''"),  # an empty category reads as one, not as nothing
        ("  ", "'  '"),
    ],
)
def test_raw_values_are_formatted_for_reading(value, text):
    assert format_value(value) == text


def test_feature_order_is_by_mean_absolute_attribution_and_stable_on_ties():
    values = pd.DataFrame({"a": [0.1, -0.1], "b": [-1.0, 1.0], "c": [0.1, 0.1], "d": [0.0, 0.5]})
    assert feature_order(values) == ["b", "d", "a", "c"]


def test_collapse_sums_the_least_important_features_into_one_last_column():
    values = pd.DataFrame({"a": [1.0, 2.0], "b": [-3.0, 0.5], "c": [0.5, -0.5], "d": [0.1, 0.2]})
    frame, shown = collapse_features(values, 3)
    assert shown == ["b", "a"]
    assert list(frame.columns) == ["b", "a", "Sum of 2 other features"]
    np.testing.assert_allclose(frame["Sum of 2 other features"], [0.6, -0.3])
    frame, shown = collapse_features(values, 4, label="{n} other features")
    assert list(frame.columns) == shown == ["b", "a", "c", "d"]


@pytest.mark.parametrize("max_display", [0, -1, 2.5, True, "10"])
def test_max_display_must_be_a_positive_integer(max_display):
    with pytest.raises(ValueError, match="max_display must be a positive integer"):
        collapse_features(pd.DataFrame({"a": [1.0]}), max_display)


def test_colormaps_run_from_shap_blue_to_shap_red():
    assert to_hex(red_blue()(0.0)) == BLUE
    assert to_hex(red_blue()(1.0)) == RED
    np.testing.assert_allclose(red_blue(white_middle=True)(0.5), 1.0, atol=0.01)
    assert to_hex(red_blue()(np.nan)) == GREY


def test_point_colors_grey_for_missing_and_one_colour_per_category():
    colors = point_colors(pd.Series(["rent", "owner", np.nan, "rent"]))
    assert list(colors.legend) == ["owner", "rent"]
    assert colors.has_missing
    np.testing.assert_allclose(colors.rgba[2], to_rgba(GREY))
    np.testing.assert_allclose(colors.rgba[0], colors.rgba[3])
    assert not np.allclose(colors.rgba[0], colors.rgba[1])


def test_numeric_point_colors_are_trimmed_at_the_5th_and_95th_percentiles():
    values = pd.Series(np.r_[np.arange(100.0), np.nan, 1e9])
    colors = point_colors(values)
    assert colors.norm.vmax < 100
    np.testing.assert_allclose(colors.rgba[-1], to_rgba(RED))
    np.testing.assert_allclose(colors.rgba[0], to_rgba(BLUE))
    np.testing.assert_allclose(colors.rgba[-2], to_rgba(GREY))
    assert colors.legend == {}


def test_importing_skig_plots_does_not_import_pyplot():
    code = "import sys, skig, skig.plots; assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'"
    subprocess.run([sys.executable, "-c", code], check=True)

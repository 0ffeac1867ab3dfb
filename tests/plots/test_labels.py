"""Labels skig invents ("other", "missing", bins) never merge with, or read as, a user's value of the same text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

import skig
from skig.plots import InventedLabel, bar, beeswarm, cohorts, force, scatter
from skig.plots._common import OTHER_COLOR, point_colors

# Largest first: "other" is a real, large category; "missing" and "other (pooled)" are real too.
COUNTS = {
    "debt": 60,
    "other": 50,
    "car": 40,
    "missing": 30,
    "other (pooled)": 25,
    "house": 20,
    "1": 15,
    "boat": 6,
    "wedding": 5,
    "medical": 4,
}


@pytest.fixture
def loans():
    """Loan purposes with users' values named like skig's labels, NaN, and the number 1 beside the string "1"."""
    rng = np.random.default_rng(3)
    purpose = [name for name, count in COUNTS.items() for _ in range(count)] + [np.nan] * 7 + [1] * 9
    n = len(purpose)
    order = rng.permutation(n)
    data = pd.DataFrame(
        {"purpose": pd.Series(purpose, dtype=object).iloc[order].to_numpy(), "income": rng.uniform(1, 9, n)},
        index=pd.Index(rng.permutation(np.arange(7000, 7000 + n)), name="loan"),
    )
    # Distinct attributions, so that a drawn point is traced back to its row by its x position.
    values = pd.DataFrame(
        {"purpose": rng.permutation(np.linspace(-1, 1, n)), "income": rng.normal(0, 0.3, n)}, index=data.index
    )
    base = pd.Series(0.1, index=data.index)
    return skig.Explanation(values, base, values.sum(axis=1) + base, data)


def _assert_partition(groups, exp):
    """Every row is in exactly one cohort."""
    labels = np.concatenate([part.values.index.to_numpy() for part in groups.values()])
    assert len(labels) == len(exp) and set(labels) == set(exp.values.index)


@pytest.mark.parametrize("max_cohorts", [4, 8, 20])
def test_cohorts_keep_users_other_and_missing_apart_from_skigs(loans, max_cohorts):
    groups = cohorts(loans, "purpose", max_cohorts=max_cohorts)
    _assert_partition(groups, loans)
    assert len(set(groups)) == len(groups)
    purpose = loans.data["purpose"]
    for name, part in groups.items():
        values = part.data["purpose"]
        if isinstance(name, InventedLabel):
            continue
        # A user's category is a cohort of exactly its rows: the real "other" keeps its 50, "missing" its 30.
        (value,) = set(values)
        assert len(part) == int((purpose.map(lambda v, value=value: type(v) is type(value) and v == value)).sum())
    invented = {name.kind: name for name in groups if isinstance(name, InventedLabel)}
    assert invented["missing"] == "missing (no value)"
    assert groups[invented["missing"]].data["purpose"].isna().all() and len(groups[invented["missing"]]) == 7
    assert len(groups["other"]) == 50 and set(groups["other"].data["purpose"]) == {"other"}
    if max_cohorts < 12:
        # "other" and "other (pooled)" are users' values: skig's pool takes the next free name.
        assert invented["pooled"] == "other (pooled 2)"
    else:
        assert groups["1"].data["purpose"].tolist() == [1] * 9 and set(groups["'1'"].data["purpose"]) == {"1"}


def test_bins_never_share_a_name_and_missing_is_last():
    values = np.array([1.0001, 1.0002, 1.0003, 1.0004] * 5 + [np.nan])
    data = pd.DataFrame({"x": values})
    frame = pd.DataFrame({"x": np.linspace(-1, 1, len(values))})
    exp = skig.Explanation(frame, pd.Series(0.0, index=frame.index), frame["x"], data)
    groups = cohorts(exp, "x", bins=[1.00015, 1.00025])
    assert list(groups) == ["x <= 1.00015", "1.00015 < x <= 1.00025", "x > 1.00025", "missing"]
    _assert_partition(groups, exp)


def _legend(ax) -> dict[str, str]:
    legend = ax.get_legend()
    return {
        text.get_text(): to_hex(handle.get_markerfacecolor())
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True)
        if handle.get_marker() not in ("", "None", None)
    }


def _expected_label(value, legend):
    if isinstance(value, float) and np.isnan(value):
        return "missing (no value)"
    text = "'1'" if value == "1" else "1" if value == 1 else value
    return text if text in legend else "other (pooled 2)"


@pytest.mark.parametrize("max_categories", [3, 8])
def test_beeswarm_points_have_the_colour_their_legend_entry_says(loans, max_categories):
    ax = beeswarm(loans, max_categories=max_categories)
    legend = _legend(ax)
    # The real "missing" is named (8 categories) or pooled (3): skig's name for NaN differs from it either way.
    assert "other" in legend and "missing (no value)" in legend and ("missing" in legend) == (max_categories == 8)
    assert len(set(legend)) == len(legend)
    (points,) = [c for c in ax.collections if c.get_label() == "_purpose"]
    x = points.get_offsets()[:, 0]
    colors = [to_hex(color) for color in points.get_facecolors()]
    row_of = {float(value): label for label, value in loans.values["purpose"].items()}
    for position, value in enumerate(x):
        raw = loans.data.loc[row_of[float(value)], "purpose"]
        assert colors[position] == legend[_expected_label(raw, legend)], raw


def test_scatter_legend_and_columns_keep_users_values_apart(loans):
    ax = scatter(loans, "income", color="purpose", max_categories=8)
    legend = _legend(ax)
    colors = [to_hex(color) for color in ax.collections[0].get_facecolors()]
    for position, raw in enumerate(loans.data["purpose"]):
        assert colors[position] == legend[_expected_label(raw, legend)], raw
    assert legend["other (pooled 2)"] == OTHER_COLOR and legend["other"] != OTHER_COLOR

    ax = scatter(loans, "purpose")
    names = [label.get_text() for label in ax.get_xticklabels()]
    assert len(set(names)) == len(names) == len(COUNTS) + 2
    assert names[-1] == "missing (no value)" and "missing" in names and "1" in names and "'1'" in names


def test_point_colors_of_numbers_as_strings():
    values = pd.Series(["1", 1, "1", 2.0, None], dtype=object)
    colors = point_colors(values)
    assert set(colors.legend) == {"1", "'1'", "2"} and colors.missing == "missing"
    rgba = [to_hex(color) for color in colors.rgba]
    assert rgba[0] == rgba[2] == colors.legend["'1'"] and rgba[1] == colors.legend["1"] != rgba[0]


def test_bar_colours_skigs_cohorts_by_kind_not_by_text(loans):
    groups = cohorts(loans, "purpose", max_cohorts=4)
    ax = bar(groups)
    texts = [text.get_text() for text in ax.get_legend().get_texts()]
    assert texts == [f"{name} (n={len(part)})" for name, part in groups.items()]
    colors = {
        text.get_text(): to_hex(handle.get_facecolor())
        for handle, text in zip(ax.get_legend().legend_handles, ax.get_legend().get_texts(), strict=True)
    }
    assert colors["other (n=50)"] != OTHER_COLOR
    assert colors[f"other (pooled 2) (n={len(groups['other (pooled 2)'])})"] == OTHER_COLOR


def test_a_feature_called_completeness_gap_is_drawn_as_a_feature():
    values = pd.DataFrame({"completeness gap": [0.3], "Income": [-0.1]})
    data = pd.DataFrame({"completeness gap": [5.0], "Income": [1000.0]})
    exp = skig.Explanation(values, pd.Series([0.0]), pd.Series([0.5]), data)  # delta 0.3: a visible gap
    ax = force(exp)
    texts = [text.get_text() for text in ax.texts]
    assert "completeness gap\n= 5" in texts and "completeness gap (delta)" in texts
    assert sum(to_hex(patch.get_facecolor()) == "#777777" for patch in ax.patches) == 1

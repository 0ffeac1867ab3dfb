import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
from conftest import SUB_GRADES
from matplotlib.colors import to_rgba

from skig.plots import scatter
from skig.plots._common import BLUE, GREY, MAX_CATEGORIES


def test_numeric_feature_against_its_attribution(exp, render):
    ax = scatter(exp, "Income")
    render(ax)
    present = exp.data["Income"].notna().to_numpy()
    points = ax.collections[0].get_offsets()
    np.testing.assert_allclose(points[:, 0], exp.data["Income"][present])
    np.testing.assert_allclose(points[:, 1], exp.values["Income"][present])
    assert np.allclose(ax.collections[0].get_facecolors(), to_rgba(BLUE))
    assert ax.get_xlabel() == "Income"


def test_missing_numeric_values_are_grey_ticks_left_of_the_data(exp):
    ax = scatter(exp, "Income")
    missing = ax.collections[1]
    assert len(missing.get_offsets()) == exp.data["Income"].isna().sum() == 2
    assert np.all(missing.get_offsets()[:, 0] < exp.data["Income"].min())
    np.testing.assert_allclose(missing.get_offsets()[:, 1], exp.values["Income"][exp.data["Income"].isna()])
    assert np.allclose(missing.get_facecolors(), to_rgba(GREY)) or np.allclose(missing.get_edgecolors(), to_rgba(GREY))


def test_categorical_feature_is_jittered_around_named_positions(exp, ticks, render):
    ax = scatter(exp, "Home")
    render(ax)
    assert ticks(ax, "x") == ["mortgage", "owner", "rent", "missing"]
    points = ax.collections[0].get_offsets()
    assert len(points) == len(exp)
    position = exp.data["Home"].map({"mortgage": 0, "owner": 1, "rent": 2}).fillna(3).to_numpy()
    assert np.all(np.abs(points[:, 0] - position) <= 0.3)
    assert np.ptp(points[position == 2, 0]) > 0  # jittered, not stacked
    grey = np.all(np.isclose(ax.collections[0].get_facecolors(), to_rgba(GREY)), axis=1)
    assert grey.sum() == 1 and position[grey][0] == 3


def test_colour_by_a_categorical_feature_has_a_legend(exp):
    ax = scatter(exp, "Income", color="Home")
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "Home"
    assert [text.get_text() for text in legend.get_texts()] == ["mortgage", "owner", "rent", "missing"]
    colors = ax.collections[0].get_facecolors()
    assert len(np.unique(colors, axis=0)) == 4


def test_colour_by_a_numeric_feature_has_a_colour_bar(exp):
    ax = scatter(exp, "Home", color="Age")
    colorbars = [axes for axes in ax.figure.axes if axes is not ax]
    assert len(colorbars) == 1 and colorbars[0].get_ylabel() == "Age"
    assert len(np.unique(ax.collections[0].get_facecolors(), axis=0)) > 10


def test_unknown_feature_is_named(exp):
    with pytest.raises(KeyError, match="unknown feature 'Salary'"):
        scatter(exp, "Salary")


def _written(ax, axis="x"):
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [label for label in labels if label.get_text()]


def _no_two_overlap(ax):
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    boxes = sorted((label.get_window_extent(renderer) for label in _written(ax)), key=lambda box: box.x0)
    return all(left.x1 <= right.x0 for left, right in zip(boxes[:-1], boxes[1:], strict=False))


def test_fifty_states_are_all_named_vertically_on_a_figure_wide_enough(lending):
    ax = scatter(lending, "addr_state")
    names = sorted(lending.data["addr_state"].unique())
    assert [label.get_text() for label in _written(ax)] == names
    assert {label.get_rotation() for label in _written(ax)} == {90}
    assert _no_two_overlap(ax)


def test_category_names_are_thinned_on_a_narrow_axes_and_never_run_together(lending):
    figure, ax = plt.subplots(figsize=(6.5, 5), layout="constrained")
    scatter(lending, "addr_state", ax=ax)
    names = sorted(lending.data["addr_state"].unique())
    written = [label.get_text() for label in _written(ax)]
    assert 10 < len(written) < len(names) and written[0] == names[0] and written[-1] == names[-1]
    # Every category keeps a tick: a minor one where its name is left out.
    assert sorted({*ax.get_xticks(), *ax.get_xticks(minor=True)}) == list(range(len(names)))
    assert _no_two_overlap(ax)


def test_ordered_categories_keep_their_order_on_the_x_axis(lending):
    ax = scatter(lending, "sub_grade")
    present = [grade for grade in SUB_GRADES if grade in set(lending.data["sub_grade"])]
    assert [label.get_text() for label in _written(ax)] == present
    # Each row sits in its grade's column: x (without jitter) is the grade's rank among those present.
    x = np.round(ax.collections[0].get_offsets()[:, 0])
    np.testing.assert_array_equal(x, lending.data["sub_grade"].map({g: i for i, g in enumerate(present)}).to_numpy())
    assert _no_two_overlap(ax)


def test_colour_bar_writes_the_feature_s_own_numbers(lending):
    ax = scatter(lending, "sub_grade", color="annual_inc")
    ax.figure.canvas.draw()
    colorbar = next(axes for axes in ax.figure.axes if axes is not ax)
    texts = [label.get_text() for label in colorbar.get_yticklabels() if label.get_text()]
    assert len(texts) >= 3
    assert all(re.fullmatch(r"\d{1,3}(,\d{3})+", text) for text in texts), texts  # "50,000", not "5" and "1e4"
    assert colorbar.yaxis.get_offset_text().get_text() == ""
    low, high = colorbar.get_ylim()
    assert low < 30_000 and high > 100_000


def test_colour_by_many_categories_names_the_most_frequent_and_other(lending):
    ax = scatter(lending, "int_rate", color="addr_state")
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "addr_state"
    top = lending.data["addr_state"].value_counts().index[:MAX_CATEGORIES].tolist()
    assert [text.get_text() for text in legend.get_texts()] == [*top, "other"]
    assert len(np.unique(ax.collections[0].get_facecolors(), axis=0)) == MAX_CATEGORIES + 1

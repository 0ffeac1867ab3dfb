import numpy as np
import pytest
from matplotlib.colors import to_rgba

from skig.plots import scatter
from skig.plots._common import BLUE, GREY


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
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["mortgage", "owner", "rent", "Home missing"]
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

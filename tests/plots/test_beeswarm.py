import numpy as np
from matplotlib.colors import to_rgba

from skig.plots import beeswarm
from skig.plots._beeswarm import swarm_offsets
from skig.plots._common import GREY


def _grey(collection):
    return np.all(np.isclose(collection.get_facecolors(), to_rgba(GREY)), axis=1)


def test_one_row_of_points_per_feature_sorted_by_importance(exp, importance_order, ticks, render):
    ax = beeswarm(exp, max_display=5)
    render(ax)
    assert ticks(ax)[::-1] == [*importance_order[:4], "Sum of 4 other features"]
    assert len(ax.collections) == 5
    for rank, collection in enumerate(ax.collections):
        offsets = collection.get_offsets()
        assert len(offsets) == len(exp)
        # Points sit on their feature's row (row 4 is the top), swarmed within it.
        assert np.all(np.abs(offsets[:, 1] - (4 - rank)) < 0.4)
        if rank < 4:
            np.testing.assert_allclose(np.sort(offsets[:, 0]), np.sort(exp.values[importance_order[rank]]))
    np.testing.assert_allclose(
        np.sort(ax.collections[4].get_offsets()[:, 0]), np.sort(exp.values[importance_order[4:]].sum(axis=1))
    )
    assert _grey(ax.collections[4]).all()


def test_missing_values_are_drawn_grey_not_dropped(exp):
    ax = beeswarm(exp)
    income, home = ax.collections[0], ax.collections[1]
    assert _grey(income).sum() == exp.data["Income"].isna().sum() == 2
    assert _grey(home).sum() == exp.data["Home"].isna().sum() == 1


def test_numeric_features_are_coloured_low_to_high_with_a_colour_bar(exp):
    ax = beeswarm(exp)
    income = ax.collections[0]
    colors = income.get_facecolors()
    x = income.get_offsets()[:, 0]
    # In this fixture Income's attribution does not depend on its value, so map points back through their values.
    values = exp.data["Income"].to_numpy()
    by_attribution = dict(zip(exp.values["Income"].round(12), values, strict=True))
    point_values = np.array([by_attribution[round(v, 12)] for v in x])
    low, high = np.nanargmin(point_values), np.nanargmax(point_values)
    assert colors[low][2] > colors[low][0]  # blue
    assert colors[high][0] > colors[high][2]  # red
    colorbars = [axes for axes in ax.figure.axes if axes is not ax]
    assert len(colorbars) == 1
    assert colorbars[0].get_ylabel() == "Feature value"
    assert [t.get_text() for t in colorbars[0].get_yticklabels()] == ["Low", "High"]


def test_categories_get_one_colour_each_and_a_legend(exp):
    ax = beeswarm(exp)
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["Home = mortgage", "Home = owner", "Home = rent", "missing"]
    home = ax.collections[1]
    assert len(np.unique(home.get_facecolors(), axis=0)) == 4


def test_swarm_spreads_equal_values_above_and_below_the_row():
    offsets = swarm_offsets(np.zeros(5))
    assert len(np.unique(offsets)) == 5
    assert offsets.max() > 0 > offsets.min()
    assert np.all(np.abs(offsets) < 0.4)
    spread = swarm_offsets(np.linspace(0, 1, 5))
    np.testing.assert_allclose(spread, 0)

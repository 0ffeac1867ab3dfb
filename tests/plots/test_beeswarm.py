import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex, to_rgba
from matplotlib.figure import Figure

from skig.plots import beeswarm
from skig.plots._beeswarm import ROW_HEIGHT, swarm_offsets
from skig.plots._common import GREY, MAX_CATEGORIES, OTHER_COLOR, SEQUENTIAL, SEQUENTIAL_END


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


def test_categories_get_one_colour_each_and_a_legend_line_per_feature(exp, legend_lines):
    ax = beeswarm(exp)
    assert legend_lines(ax) == [
        ["Home", "mortgage", "owner", "rent", "missing"],
        ["Income", "missing", "", "", ""],  # a numeric feature's missing values are named too
    ]
    home = ax.collections[1]
    assert len(np.unique(home.get_facecolors(), axis=0)) == 4


def test_swarm_spreads_equal_values_above_and_below_the_row():
    offsets = swarm_offsets(np.zeros(5))
    assert len(np.unique(offsets)) == 5
    assert offsets.max() > 0 > offsets.min()
    assert np.all(np.abs(offsets) < 0.4)
    spread = swarm_offsets(np.linspace(0, 1, 5))
    np.testing.assert_allclose(spread, 0)


def _rows_of_points(ax, exp, feature):
    """The collection of ``feature``'s row (its tick label's position, top row first)."""
    labels = [label.get_text() for label in ax.get_yticklabels()][::-1]
    return ax.collections[labels.index(feature)]


def test_ordered_category_runs_along_a_sequential_map_in_its_order(lending, legend_lines):
    ax = beeswarm(lending)
    sub_grade = _rows_of_points(ax, lending, "sub_grade")
    # Attribution 0.02 per grade step, centred on position 17: each point's grade comes back from its x.
    codes = np.round(sub_grade.get_offsets()[:, 0] / 0.02 + 17).astype(int)
    expected = colormaps[SEQUENTIAL](np.linspace(0, SEQUENTIAL_END, 35))[codes]
    np.testing.assert_allclose(sub_grade.get_facecolors(), expected, atol=1 / 255)
    assert len(np.unique(sub_grade.get_facecolors(), axis=0)) == len(np.unique(codes))  # no colour repeats
    # The legend names evenly spaced levels of the whole order, first and last included.
    line = next(line for line in legend_lines(ax) if line[0] == "sub_grade")
    assert [text for text in line if text][1:] == ["A1", "B3", "C5", "E1", "F3", "G5"]


def test_many_categories_are_the_most_frequent_and_other(lending, legend_lines):
    ax = beeswarm(lending)
    counts = lending.data["addr_state"].value_counts()
    line = next(line for line in legend_lines(ax) if line[0] == "addr_state")
    assert [text for text in line if text][1:] == [*counts.index[:MAX_CATEGORIES], "other"]
    handles = {text.get_text(): handle for text, handle in zip(ax.get_legend().get_texts(), _handles(ax), strict=True)}
    named = [to_hex(handles[state].get_markerfacecolor()) for state in counts.index[:MAX_CATEGORIES]]
    assert len(set(named)) == MAX_CATEGORIES and not {OTHER_COLOR, to_hex(GREY)} & set(named)
    # Every state beyond the top ones is drawn light grey, and the row has no more colours than the legend names.
    state = _rows_of_points(ax, lending, "addr_state")
    assert len(np.unique(state.get_facecolors(), axis=0)) == MAX_CATEGORIES + 1
    other = lending.data["addr_state"].isin(counts.index[MAX_CATEGORIES:]).sum()
    assert np.all(np.isclose(state.get_facecolors(), to_rgba(OTHER_COLOR)), axis=1).sum() == other


def _handles(ax):
    return ax.get_legend().legend_handles


def _extent(artist, renderer):
    return artist.get_window_extent(renderer)


@pytest.mark.parametrize("report_like", [False, True])
def test_legend_sits_below_the_axis_label_without_squashing_the_rows(lending, report_like):
    if report_like:  # as the HTML report draws: a bare Figure of its own size, then tight_layout
        figure = Figure(figsize=(9, 6))
        FigureCanvasAgg(figure)
        ax = beeswarm(lending, ax=figure.add_subplot())
        figure.tight_layout()
    else:
        ax = beeswarm(lending)
        figure = ax.figure
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    legend = _extent(ax.get_legend(), renderer)
    below = [_extent(ax.xaxis.label, renderer), *(_extent(t, renderer) for t in ax.get_xticklabels() if t.get_text())]
    assert all(legend.y1 < box.y0 for box in below)  # entirely under the axis label and the tick labels
    assert legend.y0 >= 0 and legend.x0 >= 0 and legend.x1 <= figure.bbox.width  # inside the figure
    rows_inches = ax.get_window_extent(renderer).height / figure.dpi
    assert rows_inches >= (len(ax.collections) * ROW_HEIGHT if not report_like else 0.6 * 6)


def test_max_categories_is_bounded_by_the_palette(lending):
    with pytest.raises(ValueError, match="max_categories must be an integer from 1 to 8"):
        beeswarm(lending, max_categories=9)

import pytest
from matplotlib.axes import Axes

import skig
import skig.plots
from skig.plots import PlotAccessor
from skig.plots._common import format_number

CALLS = {
    "bar": ((), {"max_display": 3}),
    "beeswarm": ((), {"max_display": 3}),
    "scatter": (("Income",), {"color": "Age"}),
    "heatmap": ((), {"order": "cluster"}),
    "decision": ((), {}),
    "waterfall": ((), {"row": 101}),  # an index label of the fixture (100, 101, ...)
    "force": ((), {"row": 101}),
}


@pytest.mark.parametrize("method", CALLS)
def test_each_plot_is_a_method_of_the_accessor(method, exp):
    args, kwargs = CALLS[method]
    ax = getattr(PlotAccessor(exp), method)(*args, **kwargs)
    assert isinstance(ax, Axes)


@pytest.mark.parametrize("method", ["waterfall", "force", "bar", "decision"])
def test_row_taking_methods_take_an_index_label(method, lending):
    label = lending.values.index[7]  # shuffled labels 1000..1299: never a position
    ax = getattr(lending.plot, method)(row=label)
    if method in ("waterfall", "force"):  # its prediction
        assert f"f(x) = {format_number(lending.predictions[label])}" in [text.get_text() for text in ax.texts]
    else:  # its values in the labels
        assert f"addr_state = {lending.data.loc[label, 'addr_state']}" in [t.get_text() for t in ax.get_yticklabels()]


def test_accessor_passes_its_explanation(exp, ticks):
    ax = PlotAccessor(exp).bar(max_display=2)
    assert ticks(ax)[::-1] == ["Income", "Sum of 7 other features"]


@pytest.mark.skipif(not hasattr(skig.Explanation, "plot"), reason="accessor wired by lead")
def test_explanation_plot_and_cohorts_are_wired(exp, ticks):
    assert isinstance(exp.plot, PlotAccessor)
    ax = exp.plot.beeswarm(max_display=3)
    assert ticks(ax)[::-1] == ["Income", "Home", "Sum of 6 other features"]
    groups = exp.cohorts("Home")
    assert list(groups) == ["mortgage", "owner", "rent", "missing"]
    assert skig.plots.bar(groups).get_legend() is not None

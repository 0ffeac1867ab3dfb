"""What every plot promises: it draws on the Axes it is given, returns it, and shows only when asked."""

import matplotlib.pyplot as plt
import pytest

import skig.plots

PLOTS = {
    "bar": lambda exp, **kw: skig.plots.bar(exp, **kw),
    "bar_cohorts": lambda exp, **kw: skig.plots.bar(skig.plots.cohorts(exp, "Home"), **kw),
    "beeswarm": lambda exp, **kw: skig.plots.beeswarm(exp, **kw),
    "waterfall": lambda exp, **kw: skig.plots.waterfall(exp.iloc[0], **kw),
    "scatter": lambda exp, **kw: skig.plots.scatter(exp, "Income", color="Home", **kw),
    "heatmap": lambda exp, **kw: skig.plots.heatmap(exp, **kw),
    "decision": lambda exp, **kw: skig.plots.decision(exp, **kw),
    "force": lambda exp, **kw: skig.plots.force(exp.iloc[0], **kw),
}


@pytest.fixture
def no_show(monkeypatch):
    def refuse():
        raise AssertionError("plt.show() was called without show=True")

    monkeypatch.setattr(plt, "show", refuse)


@pytest.mark.parametrize("name", PLOTS)
def test_draws_on_the_given_axes_and_returns_it(name, exp, no_show, render):
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 5))
    ax = PLOTS[name](exp, ax=right)
    assert ax is right
    assert ax.has_data() or ax.images or ax.patches
    assert not left.has_data()
    render(ax, name)


@pytest.mark.parametrize("name", PLOTS)
def test_new_figure_without_show_by_default(name, exp, no_show, render):
    before = set(plt.get_fignums())
    ax = PLOTS[name](exp)
    assert len(set(plt.get_fignums()) - before) == 1
    render(ax, name)


@pytest.mark.parametrize("name", ["bar", "waterfall"])
def test_show_true_calls_plt_show(name, exp, monkeypatch):
    calls = []
    monkeypatch.setattr(plt, "show", lambda: calls.append(1))
    ax = PLOTS[name](exp, show=True)
    assert calls == [1]
    assert ax is not None

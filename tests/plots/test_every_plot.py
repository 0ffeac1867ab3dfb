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


@pytest.mark.parametrize("name", PLOTS)
def test_dollar_signs_in_the_users_names_and_values_are_drawn_as_written(name, exp, no_show):
    """A feature called "debt ($) / income ($)", a category "owner ($)" and an outcome with dollars: matplotlib would
    read each "$...$" as math (the dollars gone, the rest in italics); every text with a dollar is drawn plain."""
    import matplotlib

    dollars = "debt ($) / income ($)"
    values = exp.values.rename(columns={"Debt": dollars})
    data = exp.data.rename(columns={"Debt": dollars}).assign(Home=exp.data["Home"].replace("owner", "owner ($) ($)"))
    renamed = skig.Explanation(values, exp.base_values, exp.predictions, data, output="raw", outcome="loss ($) in $")
    ax = PLOTS[name](renamed)
    ax.figure.canvas.draw()
    texts = [text for text in ax.figure.findobj(matplotlib.text.Text) if "$" in text.get_text()]
    assert texts, "no text with a dollar was drawn"
    assert all(not text.get_parse_math() for text in texts), [t.get_text() for t in texts if t.get_parse_math()]

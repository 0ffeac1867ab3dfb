"""exp.to_shap() feeds SHAP's own plots, categorical columns and missing values included."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

import skig

shap = pytest.importorskip("shap")


@pytest.fixture
def shap_exp(exp):
    return exp.to_shap()


def _drawn(render, name):
    ax = plt.gcf().axes[0]  # SHAP may add twin axes (waterfall) or a colour bar after the main one
    assert ax.has_data() or ax.patches or ax.images
    render(ax, name)


def test_beeswarm(shap_exp, render):
    shap.plots.beeswarm(shap_exp, max_display=5, show=False)
    _drawn(render, "beeswarm")


def test_bar(shap_exp, render):
    shap.plots.bar(shap_exp, max_display=5, show=False)
    _drawn(render, "bar")


@pytest.mark.parametrize("row", [3, 5])  # row 3: Income missing; row 5: Home missing
def test_waterfall_of_a_row_with_missing_values(exp, row, render):
    shap.plots.waterfall(exp.iloc[row].to_shap(), show=False)
    _drawn(render, f"waterfall{row}")


def test_scatter_coloured_by_a_categorical_column(shap_exp, render):
    shap.plots.scatter(shap_exp[:, "Income"], color=shap_exp[:, "Home"], show=False)
    _drawn(render, "scatter")


def test_heatmap(shap_exp, render):
    shap.plots.heatmap(shap_exp, max_display=5, show=False)
    _drawn(render, "heatmap")


def test_decision_legacy_api(exp, shap_exp, render):
    base_value = float(np.mean(shap_exp.base_values))
    shap.plots.decision(
        base_value, shap_exp.values, shap_exp.display_data, feature_names=shap_exp.feature_names, show=False
    )
    _drawn(render, "decision")
    plt.close("all")
    shap.plots.decision(base_value, exp.values.to_numpy(), exp.data, show=False)
    _drawn(render, "decision_frame")


@pytest.fixture
def inexact(lending):
    """The lending explanation with a completeness error: predictions 0.03 above base value + attributions."""
    return skig.Explanation(
        lending.values,
        lending.base_values,
        lending.predictions + 0.03,
        lending.data,
        base_value_label=lending.base_value_label,
    )


def test_shap_waterfall_and_force_end_at_skig_s_prediction_despite_delta(inexact, render):
    label = inexact.values.index[7]  # a label of the shuffled index, not a position
    row = inexact.loc[label]
    prediction = inexact.predictions[label]
    assert row.delta.item() == pytest.approx(-0.03)
    shap.plots.waterfall(row.to_shap(), show=False)
    ticks = [tick.get_text() for axes in plt.gcf().axes for tick in axes.get_xticklabels()]
    assert "$ = " + f"{prediction:.3f}" + "$" in ticks  # SHAP's "f(x) = ..." mark
    render(plt.gcf().axes[0], "waterfall_delta")
    plt.close("all")
    shap_row = row.to_shap()
    shap.plots.force(shap_row.base_values, shap_row.values, matplotlib=True, show=False)
    assert f"{prediction:.2f}" in [text.get_text() for text in plt.gcf().axes[0].texts]

import numpy as np
import pytest
from matplotlib.colors import to_hex

from skig.plots import bar, cohorts
from skig.plots._common import BLUE, OTHER_COLOR, RED


def test_global_bars_are_mean_absolute_attributions_sorted_by_importance(exp, importance_order, ticks, render):
    ax = bar(exp, max_display=5)
    render(ax)
    assert len(ax.patches) == 5
    assert ticks(ax)[::-1] == [*importance_order[:4], "Sum of 4 other features"]
    # Bars are drawn bottom to top; read them top to bottom.
    widths = [patch.get_width() for patch in ax.patches][::-1]
    means = exp.values.abs().mean()
    np.testing.assert_allclose(widths[:4], means[importance_order[:4]])
    np.testing.assert_allclose(widths[4], means[importance_order[4:]].sum())
    assert {to_hex(patch.get_facecolor()) for patch in ax.patches} == {RED}


def test_all_features_shown_when_they_fit(exp, importance_order, ticks):
    ax = bar(exp, max_display=20)
    assert len(ax.patches) == 8
    assert ticks(ax)[::-1] == importance_order


def test_cohorts_are_grouped_side_by_side_with_a_legend(exp, importance_order, ticks, render):
    groups = cohorts(exp, "Home")
    ax = bar(groups, max_display=4)
    render(ax)
    assert len(ax.patches) == 4 * len(groups)
    assert ticks(ax)[::-1] == [*importance_order[:3], "Sum of 5 other features"]
    sizes = {name: len(part) for name, part in groups.items()}
    assert [text.get_text() for text in ax.get_legend().get_texts()] == [
        f"{name} (n={size})" for name, size in sizes.items()
    ]
    # Each cohort's bars are its own mean |attribution|, one colour per cohort.
    for container, part in zip(ax.containers, groups.values(), strict=True):
        widths = [patch.get_width() for patch in container][::-1]
        np.testing.assert_allclose(widths[:3], part.values.abs().mean()[importance_order[:3]])
        assert len({to_hex(patch.get_facecolor()) for patch in container}) == 1
    assert len({to_hex(container[0].get_facecolor()) for container in ax.containers}) == len(groups)


def test_cohorts_must_explain_the_same_features(exp):
    other = exp.iloc[:5]
    other.values = other.values.drop(columns="f3")
    with pytest.raises(ValueError, match="same features"):
        bar({"a": exp, "b": other})
    with pytest.raises(ValueError, match="at least one"):
        bar({})


def test_one_row_draws_signed_attributions_with_values(applicant, ticks, render):
    ax = bar(applicant, max_display=4)
    render(ax)
    assert ticks(ax)[::-1] == ["Income = 1,250", "Age = 35", "Home = rent", "Sum of 4 other features"]
    widths = [patch.get_width() for patch in ax.patches][::-1]
    np.testing.assert_allclose(widths, [0.3, -0.2, 0.1, -0.05 + 0.004 - 0.003 + 0.002])
    colors = [to_hex(patch.get_facecolor()) for patch in ax.patches][::-1]
    assert colors == [RED, BLUE, RED, BLUE]


def test_many_cohorts_stay_readable_with_the_legend_beside_the_bars(lending, render):
    groups = cohorts(lending, "addr_state")
    ax = bar(groups)
    render(ax)
    legend = ax.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == [
        f"{name} (n={len(part)})" for name, part in groups.items()
    ]
    colors = [to_hex(container[0].get_facecolor()) for container in ax.containers]
    assert len(set(colors)) == len(groups) == 8 and colors[-1] == OTHER_COLOR
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    assert legend.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1  # covers no bar


def test_row_is_an_index_label_on_a_shuffled_index(lending, ticks):
    label = lending.values.index[7]  # a label that is not the position
    assert lending.values.index.get_loc(label) != label - 1000
    ax = bar(lending, row=label, max_display=10)
    row = lending.loc[label]
    order = row.values.iloc[0].abs().sort_values(ascending=False).index
    np.testing.assert_allclose([p.get_width() for p in ax.patches][::-1], row.values.iloc[0][order])
    assert f"sub_grade = {row.data['sub_grade'].iloc[0]}" in ticks(ax)
    assert ticks(bar(lending.loc[label])) == ticks(ax)
    with pytest.raises(KeyError, match="use exp.iloc"):
        bar(lending, row=7)

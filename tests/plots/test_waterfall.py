import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

import skig
from skig.plots import waterfall
from skig.plots._common import BLUE, GREY, RED, format_number


def _tip(patch):
    """Where an arrow points: its rightmost x for an increase, leftmost for a decrease."""
    xs = patch.get_xy()[:, 0]
    return xs[2]


def test_arrows_walk_from_base_value_to_prediction(applicant, ticks, render):
    ax = waterfall(applicant, max_display=4)
    render(ax)
    # Bottom to top: the collapsed features, then Home, Age, Income.
    assert ticks(ax) == ["4 other features", "Home = rent", "Age = 35", "Income = 1,250"]
    assert len(ax.patches) == 4
    colors = [to_hex(patch.get_facecolor()) for patch in ax.patches]
    assert colors == [BLUE, RED, BLUE, RED]
    prediction = applicant.predictions.item()
    assert _tip(ax.patches[-1]) == pytest.approx(prediction)
    assert ax.patches[0].get_xy()[:, 0].max() == pytest.approx(0.2)
    np.testing.assert_allclose([_tip(p) for p in ax.patches], 0.2 + np.cumsum([-0.047, 0.1, -0.2, 0.3]))


def test_labels_values_and_marks(applicant):
    ax = waterfall(applicant)
    texts = [text.get_text() for text in ax.texts]
    assert {"+0.3", "-0.2", "+0.1", "-0.05"} <= set(texts)
    assert "f(x) = 0.353" in texts
    assert "f(baseline) = 0.2" in texts  # exp.base_value_label, the default
    assert len(ax.patches) == 7
    assert ax.get_yticklabels()[3].get_text() == "Debt = missing"


def test_multi_row_explanation_needs_a_row(exp, ticks):
    with pytest.raises(ValueError, match=r"pass exp\.loc\[label\] or row=label"):
        waterfall(exp)
    label = exp.values.index[3]  # row= is an index label, never a position
    ax = waterfall(exp, row=label, max_display=3)
    assert ticks(ax)[0] == "6 other features"
    assert ax.get_yticklabels()[2].get_text().startswith(exp.loc[label].values.abs().iloc[0].idxmax())


def test_a_visible_completeness_gap_is_closed_by_a_grey_arrow():
    values = pd.DataFrame({"a": [0.3], "b": [-0.1]})
    exp = skig.Explanation(values, pd.Series([0.1]), pd.Series([0.35]), pd.DataFrame({"a": [1], "b": [2]}), is_row=True)
    ax = waterfall(exp)
    assert [label.get_text() for label in ax.get_yticklabels()][0] == "completeness gap"
    assert to_hex(ax.patches[0].get_facecolor()) == GREY
    assert _tip(ax.patches[-1]) == pytest.approx(0.35)


def test_row_is_an_index_label_on_a_shuffled_index(lending, ticks):
    label = lending.values.index[7]  # labels 1000..1299 shuffled: label - 1000 is another row's position
    wrong = lending.iloc[label - 1000]
    assert not np.isclose(wrong.predictions.item(), lending.predictions[label])
    for ax in (waterfall(lending, row=label), waterfall(lending.loc[label]), waterfall(lending.iloc[7])):
        texts = [text.get_text() for text in ax.texts]
        assert f"f(x) = {format_number(lending.predictions[label])}" in texts
        assert _tip(ax.patches[-1]) == pytest.approx(lending.predictions[label])
        row = lending.data.loc[label]
        assert f"sub_grade = {row['sub_grade']}" in ticks(ax) and f"addr_state = {row['addr_state']}" in ticks(ax)
    with pytest.raises(KeyError, match="use exp.iloc"):
        waterfall(lending, row=7)


def test_base_value_is_named_as_what_it_is(lending, applicant):
    texts = [text.get_text() for text in waterfall(lending.iloc[0]).texts]
    assert "E[f(background)] = 0.15" in texts and not any("E[f(X)]" in text for text in texts)
    assert "f(baseline) = 0.2" in [text.get_text() for text in waterfall(applicant).texts]

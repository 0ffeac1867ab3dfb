import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

import skig
from skig.plots import force
from skig.plots._common import BLUE, GREY, RED, format_number


def _span(patch):
    xs = patch.get_xy()[:, 0]
    return xs.min(), xs.max()


def test_increases_left_and_decreases_right_meet_at_the_prediction(applicant, render):
    ax = force(applicant)
    render(ax)
    prediction = applicant.predictions.item()
    colors = [to_hex(patch.get_facecolor()) for patch in ax.patches]
    assert colors == [RED] * 4 + [BLUE] * 3
    increases, decreases = ax.patches[:4], ax.patches[4:]
    # The largest arrows are nearest f(x); the sides tile [f(x) - sum of increases, f(x) + sum of decreases].
    assert _span(increases[0]) == pytest.approx((prediction - 0.3, prediction))
    assert _span(decreases[0]) == pytest.approx((prediction, prediction + 0.2))
    assert min(_span(p)[0] for p in increases) == pytest.approx(prediction - 0.406)
    assert max(_span(p)[1] for p in decreases) == pytest.approx(prediction + 0.253)


def test_marks_and_feature_labels(applicant):
    ax = force(applicant, max_display=2)
    texts = [text.get_text() for text in ax.texts]
    assert "f(x) = 0.353" in texts
    assert "f(baseline) = 0.2" in texts  # exp.base_value_label, the default
    assert "Income\n= 1,250" in texts and "Age\n= 35" in texts
    assert not any(text.startswith("Home") for text in texts)


def test_completeness_gap_is_a_grey_arrow(exp):
    values = pd.DataFrame({"a": [0.3], "b": [-0.1]})
    row = skig.Explanation(values, pd.Series([0.1]), pd.Series([0.2]), pd.DataFrame({"a": [1], "b": [2]}))
    ax = force(row)
    assert to_hex(ax.patches[-1].get_facecolor()) == GREY
    assert max(_span(p)[1] for p in ax.patches) == pytest.approx(0.2 + 0.1 + 0.1)
    ax = force(exp, row=exp.values.index[0])
    assert len(ax.patches) == np.count_nonzero(exp.values.iloc[0])


def test_row_is_an_index_label_on_a_shuffled_index(lending):
    label = lending.values.index[7]
    assert not np.isclose(lending.iloc[label - 1000].predictions.item(), lending.predictions[label])
    for ax in (force(lending, row=label), force(lending.loc[label])):
        texts = [text.get_text() for text in ax.texts]
        assert f"f(x) = {format_number(lending.predictions[label])}" in texts
        assert f"int_rate\n= {format_number(lending.data.loc[label, 'int_rate'])}" in texts
        assert "E[f(background)] = 0.15" in texts

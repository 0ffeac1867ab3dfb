import numpy as np

from skig.plots import decision


def test_one_path_per_row_from_base_value_to_prediction(exp, importance_order, ticks, render):
    ax = decision(exp, max_display=5)
    render(ax)
    paths = ax.lines[1:]
    assert len(paths) == len(exp)
    for path, base, prediction in zip(paths, exp.base_values, exp.predictions, strict=True):
        x, y = path.get_xdata(), path.get_ydata()
        assert x[0] == base
        np.testing.assert_allclose(x[-1], prediction)
        np.testing.assert_array_equal(y, np.arange(6))
    # Least important at the bottom, most important at the top.
    assert ticks(ax) == ["Sum of 4 other features", *importance_order[:4][::-1]]


def test_steps_follow_the_attributions_in_importance_order(exp, importance_order):
    ax = decision(exp)
    x = ax.lines[1].get_xdata()
    steps = np.diff(x)
    np.testing.assert_allclose(steps, exp.values.iloc[0][importance_order[::-1]].to_numpy())


def test_one_row_labels_carry_its_values(applicant, ticks):
    ax = decision(applicant, max_display=4)
    assert ticks(ax)[::-1] == ["Income = 1,250", "Age = 35", "Home = rent", "Sum of 4 other features"]


def test_row_is_an_index_label_on_a_shuffled_index(lending, ticks):
    label = lending.values.index[7]
    assert not np.isclose(lending.iloc[label - 1000].predictions.item(), lending.predictions[label])
    for ax in (decision(lending, row=label), decision(lending.loc[label])):
        assert len(ax.lines) == 2
        np.testing.assert_allclose(ax.lines[1].get_xdata()[-1], lending.predictions[label])
        assert f"addr_state = {lending.data.loc[label, 'addr_state']}" in ticks(ax)


def test_base_value_is_named_under_the_axis(lending, exp):
    assert "E[f(background)] = 0.15" in [text.get_text() for text in decision(lending.iloc[:30]).texts]
    exp.base_values.iloc[:20] = 0.3  # rows explained for two classes start from two base values
    assert "mean f(baseline) = 0.25" in [text.get_text() for text in decision(exp).texts]

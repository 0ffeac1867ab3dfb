import numpy as np
import pandas as pd
import pytest

import skig
from skig.plots import heatmap


def test_matrix_of_attributions_ordered_by_prediction(exp, importance_order, ticks, render):
    ax = heatmap(exp, max_display=4)
    render(ax)
    matrix = ax.images[0].get_array()
    assert matrix.shape == (4, len(exp))
    order = np.argsort(exp.predictions.to_numpy())
    np.testing.assert_allclose(matrix[0], exp.values[importance_order[0]].to_numpy()[order])
    np.testing.assert_allclose(matrix[3], exp.values[importance_order[3:]].sum(axis=1).to_numpy()[order])
    assert ticks(ax) == ["f(x)", *importance_order[:3], "Sum of 5 other features"]
    # The f(x) line above the matrix rises (y decreases: the axis is inverted) with the prediction.
    fx = ax.lines[-1].get_ydata()
    assert np.all(np.diff(fx) <= 0) and np.all(fx < -0.4)
    assert len(ax.patches) == 4  # importance bars at the right


def test_cluster_order_puts_similar_rows_together():
    rng = np.random.default_rng(1)
    pattern = np.where(np.arange(12) % 2 == 0, 1.0, -1.0)[:, None] * np.array([1.0, -1.0, 0.5])
    values = pd.DataFrame(pattern + 0.01 * rng.normal(size=(12, 3)), columns=["a", "b", "c"])
    exp = skig.Explanation(values, pd.Series(np.zeros(12)), values.sum(axis=1), values.copy())
    ax = heatmap(exp, order="cluster")
    first_row = ax.images[0].get_array()[0]
    # Two clusters of six: the sign of feature a changes exactly once along the x axis.
    assert np.count_nonzero(np.diff(np.sign(first_row))) == 1


def test_explicit_order_and_bad_order(exp):
    order = np.arange(len(exp))[::-1]
    ax = heatmap(exp, order=order, max_display=20)
    np.testing.assert_allclose(ax.images[0].get_array()[0], exp.values["Income"].to_numpy()[::-1])
    with pytest.raises(ValueError, match="order must be one of"):
        heatmap(exp, order="random")
    with pytest.raises(ValueError, match="permutation"):
        heatmap(exp, order=[0, 0, 1])

"""A row's gradient must not depend on where it sits in its pass (see skig/engine/_invariant.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import skig
from skig.engine._invariant import RowInvariantProducts


def _input_gradients(forward, x: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    with RowInvariantProducts():
        out = forward(x)
    (grad,) = torch.autograd.grad(out.sum(), x)
    return grad


@pytest.mark.parametrize("form", ["linear", "matmul", "module"])
@pytest.mark.parametrize("n_features", [3, 6, 10, 30])
def test_input_gradients_do_not_depend_on_a_rows_position(form, n_features):
    torch.manual_seed(0)
    layer = torch.nn.Linear(n_features, 64).requires_grad_(False)
    second = torch.randn(64, 1)
    weight = layer.weight

    def forward(x):
        if form == "linear":
            hidden = F.linear(x, weight, layer.bias)
        elif form == "matmul":
            hidden = x @ weight.T + layer.bias
        else:
            hidden = layer(x)
        return torch.tanh(hidden) @ second

    rows = torch.randn(400, n_features)
    whole = _input_gradients(forward, rows)
    for offset in range(1, 17):
        for size in (16, 48, 96):
            part = _input_gradients(forward, rows[offset : offset + size])
            assert torch.equal(part, whole[offset : offset + size]), (offset, size)


def test_forward_values_and_gradients_are_the_products_of_autograd():
    torch.manual_seed(1)
    layer = torch.nn.Linear(6, 64).double().requires_grad_(False)
    x = torch.randn(50, 6, dtype=torch.float64, requires_grad=True)
    plain = torch.tanh(layer(x) + x @ layer.weight[:, :6].T).sum()
    (expected,) = torch.autograd.grad(plain, x)
    with RowInvariantProducts():
        moded = torch.tanh(layer(x) + x @ layer.weight[:, :6].T).sum()
    (got,) = torch.autograd.grad(moded, x)
    assert torch.equal(moded, plain)
    torch.testing.assert_close(got, expected, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("n_steps", [7, 9])
def test_odd_step_counts_give_each_row_the_numbers_it_gets_alone(n_steps):
    """Odd step counts put a row's points at every parity of a pass; a float32 net reading 6 features."""
    torch.manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Linear(6, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1))
    X = np.random.RandomState(0).normal(size=(41, 6)).astype(np.float32)
    explainer = skig.Explainer(model, n_steps=n_steps, rule="gausslegendre").fit(X)
    whole = explainer.explain(X).values.to_numpy()
    for row in (0, 1, 5, 40):
        alone = explainer.explain(X[row : row + 1]).values.to_numpy()
        np.testing.assert_array_equal(alone[0], whole[row])

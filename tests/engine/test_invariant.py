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


class _NarrowLayers(torch.nn.Module):
    """Hidden layers of 5 to 11 units after inner dimensions that are not multiples of 8: with MKL on some CPUs
    (AMD EPYC, float32) such products rounded a row by its neighbours, forward and backward."""

    def __init__(self, hidden: int, sequential: bool):
        super().__init__()
        self.sequential = sequential
        self.net = torch.nn.Sequential(
            torch.nn.Linear(8, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, 6),
            torch.nn.ReLU(),
            torch.nn.Linear(6, 2),
        )
        generator = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.8)

    def forward(self, x):
        if self.sequential:
            return self.net(x)
        return self.net(torch.cat([x[:, :4], torch.relu(x[:, 4:])], 1))  # not a chain: the general exact engine


@pytest.mark.parametrize("hidden", [5, 9, 10])
@pytest.mark.parametrize("sequential, rule", [(True, "exact"), (False, "exact"), (True, "gausslegendre")])
def test_narrow_layers_give_each_row_the_numbers_it_gets_alone(hidden, sequential, rule):
    X = np.random.RandomState(0).normal(size=(40, 8)).astype(np.float32)
    explainer = skig.Explainer(_NarrowLayers(hidden, sequential).eval(), rule=rule, n_steps=24, target=1).fit(X)
    whole = explainer.explain(X).values.to_numpy()
    alone = np.vstack([explainer.explain(X[[i]]).values.to_numpy() for i in range(len(X))])
    np.testing.assert_array_equal(alone, whole)


@pytest.mark.parametrize("n_in", [30, 32, 5])
def test_bound_steps_give_the_numbers_of_the_steps(n_in):
    """``Affine.bound`` (the weight's forms looked up once, for the passes) computes what ``forward`` and ``backward``
    do, bit for bit, with an inner dimension padded or not."""
    from skig.engine.exact._steps import Affine, Scale

    torch.manual_seed(0)
    layer = torch.nn.Linear(n_in, 11)
    affine = Affine(layer.weight.detach(), layer.bias.detach())
    x, grad = torch.randn(48, n_in), torch.randn(48, 11)
    forward, backward = affine.bound(torch.float32)
    assert torch.equal(forward(x), affine.forward(x)) and torch.equal(backward(grad), affine.backward(grad))
    scale = Scale(torch.rand(n_in), torch.randn(n_in))
    forward, backward = scale.bound(torch.float64)
    assert torch.equal(forward(x), scale.forward(x))
    assert torch.equal(backward(x.double()), scale.backward(x.double()))

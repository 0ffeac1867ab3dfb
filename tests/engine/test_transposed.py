"""The transposed weights the row-invariant backward caches (skig/engine/_invariant.py): made once, never stale."""

from __future__ import annotations

import copy

import torch

from skig.engine._invariant import RowInvariantProducts, transposed


def _gradient(layer: torch.nn.Linear, x: torch.Tensor, form: str) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    with RowInvariantProducts():
        out = layer(x) if form == "module" else x @ layer.weight.T + layer.bias
    (grad,) = torch.autograd.grad((out * torch.arange(out.shape[1], dtype=out.dtype)).sum(), x)
    return grad


def test_transposed_is_made_once_per_weight_and_equals_the_transpose():
    weight = torch.randn(7, 5)
    first = transposed(weight)
    assert first is transposed(weight)
    assert first.is_contiguous() and torch.equal(first, weight.t())


def test_an_in_place_change_of_the_weight_is_seen():
    torch.manual_seed(0)
    layer = torch.nn.Linear(5, 4).double().requires_grad_(False)
    x = torch.randn(16, 5, dtype=torch.float64)
    for form in ("module", "matmul"):
        _gradient(layer, x, form)  # caches the transpose
        with torch.no_grad():
            layer.weight.mul_(-3.0)
        expected = torch.arange(4, dtype=torch.float64) @ layer.weight
        torch.testing.assert_close(_gradient(layer, x, form), expected.expand(16, 5), rtol=1e-14, atol=1e-14)


def test_a_copied_module_does_not_take_its_originals_entry():
    layer = torch.nn.Linear(3, 2).requires_grad_(False)
    transposed(layer.weight)
    twin = copy.deepcopy(layer)
    with torch.no_grad():
        twin.weight.copy_(torch.randn(2, 3))
    assert torch.equal(transposed(twin.weight), twin.weight.t())
    assert torch.equal(transposed(layer.weight), layer.weight.t())

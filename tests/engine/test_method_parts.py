"""Engine pieces of the IG family, without the Explainer: allocation, Sobol pairs, aggregation, rules, refinement."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skig.engine import (
    aggregate_samples,
    allocate,
    expected_paths,
    functional_relu_calls,
    gradient_rule,
    guided_integrated_gradients,
    noisy_copies,
    refine_steps,
    sobol_points,
)


@pytest.mark.parametrize(
    "weights, total, minimum",
    [([0.5, 0.25, 0.25], 8, 1), ([0.97, 0.01, 0.01, 0.01], 8, 2), ([1 / 3] * 3, 10, 1), ([0.2] * 5, 5, 1)],
)
def test_allocate_is_proportional_with_a_minimum(weights, total, minimum):
    counts = allocate(np.array(weights), total, minimum)
    assert counts.sum() == total and counts.min() >= minimum
    ideal = total * np.array(weights)
    assert np.all((counts <= np.maximum(np.ceil(ideal), minimum)) & (counts >= np.minimum(np.floor(ideal), minimum)))


def test_allocate_refuses_too_few_points():
    with pytest.raises(ValueError, match="cannot give each of 4 strata 2 point"):
        allocate(np.full(4, 0.25), 7, minimum=2)


def test_sobol_points_are_a_net_per_row_and_independent_across_rows():
    points = sobol_points(16, seed=0, keys=np.arange(50, dtype=np.uint64)).numpy()
    assert points.shape == (50, 16, 2) and (points > 0).all() and (points < 1).all()
    for row in points:
        # A (0, 4, 2)-net: one point in each 1/16 strip of either coordinate and in each 1/4 x 1/4 square.
        for axis in (0, 1):
            np.testing.assert_array_equal(np.sort(np.floor(row[:, axis] * 16)), np.arange(16))
        squares = np.floor(row[:, 0] * 4) * 4 + np.floor(row[:, 1] * 4)
        np.testing.assert_array_equal(np.sort(squares), np.arange(16))
    assert len({tuple(np.round(row[:, 0], 12)) for row in points}) == 50  # each row has its own shift
    # Marginally uniform: over rows, a point's position is spread over [0, 1), not fixed.
    assert 0.4 < points[:, 0, 0].mean() < 0.6 and points[:, 0, 0].std() > 0.2


def test_expected_paths_switch_to_exact_strata_from_two_points_per_background_row():
    inputs, background = torch.randn(3, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    weights = torch.tensor([0.4, 0.3, 0.1, 0.1, 0.1], dtype=torch.float64)
    targets = torch.zeros(3, dtype=torch.long)
    keys = np.arange(3, dtype=np.uint64)
    exact = expected_paths(inputs, background, weights, targets, n_samples=20, rule="gausslegendre", seed=0, keys=keys)
    assert exact.start_index.ndim == 1  # shared by all rows: deterministic
    np.testing.assert_array_equal(np.bincount(exact.start_index.numpy()), [8, 6, 2, 2, 2])
    per_row = torch.zeros(5, dtype=torch.float64).index_add_(0, exact.start_index, exact.weight)
    torch.testing.assert_close(per_row, weights)
    sampled = expected_paths(inputs, background, weights, targets, n_samples=8, rule="gausslegendre", seed=0, keys=keys)
    assert sampled.start_index.shape == (3, 8) and sampled.alpha.shape == (3, 8)
    torch.testing.assert_close(sampled.weight.sum(), torch.tensor(1.0, dtype=torch.float64))


def test_sobol_pairs_follow_the_background_weights():
    background = torch.zeros(3, 2, dtype=torch.float64)
    weights = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64)
    paths = expected_paths(
        torch.ones(400, 2, dtype=torch.float64),
        background,
        weights,
        torch.zeros(400, dtype=torch.long),
        n_samples=4,
        rule="gausslegendre",
        seed=1,
        keys=np.arange(400, dtype=np.uint64),
    )
    # Four stratified points per row over weights (1/2, 1/4, 1/4): exactly 2, 1 and 1 of them.
    counts = torch.stack([(paths.start_index == j).sum(1) for j in range(3)], 1)
    assert (counts == torch.tensor([2, 1, 1])).all()


def test_noisy_copies_and_aggregates():
    inputs = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    std = torch.tensor([0.0, 1.0, 10.0], dtype=torch.float64)
    copies = noisy_copies(inputs, std, 500, 0, np.arange(2, dtype=np.uint64)).reshape(2, 500, 3)
    assert copies.dtype == torch.float32
    np.testing.assert_array_equal(copies[:, :, 0], inputs[:, None, 0].expand(2, 500))
    np.testing.assert_allclose(copies.std(1)[:, 1:].numpy(), [[1, 10], [1, 10]], rtol=0.1)
    values = torch.tensor([[1.0, -2.0], [3.0, 2.0], [0.0, 0.0], [4.0, 4.0]], dtype=torch.float64)
    torch.testing.assert_close(
        aggregate_samples(values, 2, "smoothgrad"), torch.tensor([[2.0, 0.0], [2.0, 2.0]]).double()
    )
    torch.testing.assert_close(
        aggregate_samples(values, 2, "smoothgrad_sq"), torch.tensor([[5.0, 4.0], [8.0, 8.0]]).double()
    )
    torch.testing.assert_close(aggregate_samples(values, 2, "vargrad"), torch.tensor([[1.0, 4.0], [4.0, 4.0]]).double())
    with pytest.raises(ValueError, match="how must be one of"):
        aggregate_samples(values, 2, "median")


def test_guided_path_moves_small_gradient_features_first():
    # A separable f gives every path the same attributions (each feature's integral is its own); the trapezoid
    # is exact for a gradient linear in the moving feature.
    def separable(points, _targets):
        return 10 * points[:, 0] + 0.1 * points[:, 1] ** 2

    inputs, starts = torch.tensor([[1.0, 2.0]], dtype=torch.float64), torch.zeros(1, 2, dtype=torch.float64)
    targets = torch.zeros(1, dtype=torch.long)
    values = guided_integrated_gradients(
        separable, inputs, starts, targets, n_steps=16, fraction=0.5, max_dist=1.0, max_points=100
    )
    torch.testing.assert_close(values, torch.tensor([[10.0, 0.4]], dtype=torch.float64))

    def product(points, _targets):
        return points[:, 0] * points[:, 1] * 5 + points[:, 0] * 20

    values = guided_integrated_gradients(
        product, inputs, starts, targets, n_steps=64, fraction=0.5, max_dist=1.0, max_points=100
    )
    # x1 (gradient 5 x0 = 0 at the start) moves all the way first, so x0 then collects the whole product term.
    torch.testing.assert_close(values, torch.tensor([[30.0, 0.0]], dtype=torch.float64), atol=0.5, rtol=0)
    torch.testing.assert_close(values.sum(), torch.tensor(30.0, dtype=torch.float64), atol=1e-9, rtol=0)


def test_refine_steps_recomputes_only_failing_groups():
    calls = []
    exact = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    needs = torch.tensor([8, 32, 8, 16, 64, 16])  # groups 0-1 belong to row 0, 2-3 to row 1, 4-5 to row 2

    def attribute(groups, n_steps):
        calls.append((groups.tolist(), n_steps))
        error = torch.where(needs[groups] <= n_steps, 0.0, 1.0).double()
        return torch.stack([exact[groups // 2] + error, torch.zeros(len(groups), dtype=torch.float64)], 1)

    rows = torch.tensor([0, 0, 1, 1, 2, 2])
    values, steps = refine_steps(
        attribute,
        exact[rows],
        torch.zeros(6, dtype=torch.float64),
        rows,
        3,
        tol=0.01,
        start_steps=8,
        max_steps=32,
        eps=1e-16,
    )
    assert calls == [([0, 1, 2, 3, 4, 5], 8), ([0, 1, 2, 3, 4, 5], 16), ([0, 1, 4, 5], 32)]
    assert steps.tolist() == [32, 16, 32]
    torch.testing.assert_close(values[:, 0], torch.tensor([1.0, 1.0, 2.0, 2.0, 4.0, 3.0], dtype=torch.float64))


class _Net(torch.nn.Module):
    def __init__(self, functional=False):
        super().__init__()
        self.linear = torch.nn.Linear(3, 4)
        self.relu = torch.nn.ReLU()
        self.functional = functional

    def forward(self, x):
        hidden = self.relu(self.linear(x))
        return torch.relu(hidden - 0.1).sum(1) if self.functional else hidden.sum(1)


def test_functional_relu_calls_counts_only_calls_outside_relu_modules():
    probe = torch.randn(4, 3)
    assert functional_relu_calls(_Net(), probe) == 0
    assert functional_relu_calls(_Net(functional=True), probe) == 1
    net = _Net()
    assert not net.relu._forward_hooks and not net.relu._forward_pre_hooks


@pytest.mark.parametrize("rule", ["deconv", "guided_backprop"])
def test_gradient_rule_hooks_are_removed_also_on_error(rule):
    net = _Net()
    with pytest.raises(RuntimeError, match="boom"), gradient_rule(net, rule):
        assert len(net.relu._forward_hooks) == 1 and len(net.relu._forward_pre_hooks) == 1
        raise RuntimeError("boom")
    assert not net.relu._forward_hooks and not net.relu._forward_pre_hooks


def test_rules_on_one_relu():
    relu = torch.nn.ReLU()
    x = torch.tensor([-1.0, 2.0, -3.0, 4.0], requires_grad=True)
    upstream = torch.tensor([5.0, -6.0, -7.0, 8.0])
    expected = {
        "standard": [0.0, -6.0, 0.0, 8.0],
        "deconv": [5.0, 0.0, 0.0, 8.0],
        "guided_backprop": [0.0, 0.0, 0.0, 8.0],
    }
    for rule, grad in expected.items():
        with gradient_rule(relu, rule):
            (result,) = torch.autograd.grad(relu(x), x, upstream)
        np.testing.assert_array_equal(result.numpy(), grad)
    with pytest.raises(ValueError, match="gradient_rule must be one of"), gradient_rule(relu, "lrp"):
        pass

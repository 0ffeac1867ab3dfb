"""rule='exact' and rule='auto' through the Explainer: exact completeness on ReLU nets, a closed form with known
kinks, agreement with dense quadrature, and clear refusals where exact integration does not apply."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import skig


def relu_net(seed=0, widths=(6, 16, 16, 2), dtype=torch.float64):
    torch.manual_seed(seed)
    layers = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=False):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1]).to(dtype)


@pytest.fixture
def X():
    return np.random.RandomState(0).normal(size=(40, 6))


def test_one_dimensional_relu_with_known_kinks_matches_its_closed_form():
    # f(x) = relu(x - 1) - relu(x - 3) on the path 0 -> 4: slope 1 on [1, 3], 0 elsewhere; IG = f(4) - f(0) = 2.
    model = torch.nn.Sequential(torch.nn.Linear(1, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1)).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0], [1.0]]))
        model[0].bias.copy_(torch.tensor([-1.0, -3.0]))
        model[2].weight.copy_(torch.tensor([[1.0, -1.0]]))
        model[2].bias.zero_()
    explainer = skig.Explainer(model, baseline=np.zeros((1, 1)), rule="exact", output="raw").fit(np.zeros((4, 1)))
    exp = explainer.explain(np.array([[4.0], [2.0], [0.5]]))
    np.testing.assert_allclose(exp.values.to_numpy()[:, 0], [2.0, 1.0, 0.0], atol=1e-12)
    assert exp.n_steps.tolist() == [3, 2, 1]  # linear segments crossed: two kinks, one kink, none


@pytest.mark.parametrize("output", ["raw", "logit", "probability"])
def test_relu_net_is_complete_to_float64_precision_and_agrees_with_dense_quadrature(X, output):
    model = relu_net()
    exact = skig.Explainer(model, output=output, target=1).fit(X)
    assert exact.rule_ == "exact"  # rule="auto" picks it on a ReLU net
    exp = exact.explain(X)
    gap = (exp.predictions - exp.base_values).abs()
    assert (exp.delta.abs() <= 1e-10 * gap + 1e-13).all()
    dense = skig.Explainer(model, output=output, target=1, rule="gausslegendre", n_steps=1024).fit(X).explain(X)
    np.testing.assert_allclose(exp.values.to_numpy(), dense.values.to_numpy(), atol=2e-4)
    assert (exp.n_steps >= 1).all() and exp.n_steps.max() > 1


def test_float32_net_is_complete_to_float32_rounding(X):
    exp = skig.Explainer(relu_net(dtype=torch.float32), output="probability", target=1).fit(X).explain(X)
    gap = (exp.predictions - exp.base_values).abs()
    assert (exp.delta.abs() <= 1e-5 * gap + 1e-6).all()


@pytest.mark.parametrize("method, params", [("smoothgrad", {"n_samples": 3}), ("expected", {"n_samples": 64})])
def test_other_straight_line_methods_integrate_each_line_exactly(X, method, params):
    baseline = {"baseline": "kmeans", "n_baselines": 8} if method == "expected" else {}
    model = relu_net()
    exact = skig.Explainer(model, method=method, rule="exact", random_state=0, **params, **baseline).fit(X)
    dense = skig.Explainer(model, method=method, n_steps=256, random_state=0, **params, **baseline)
    dense.set_params(rule="gausslegendre") if method != "expected" else dense.set_params(n_samples=8 * 128)
    np.testing.assert_allclose(
        exact.explain(X[:10]).values.to_numpy(), dense.fit(X).explain(X[:10]).values.to_numpy(), atol=5e-3
    )


def test_batching_does_not_change_exact_results(X):
    model = relu_net()
    small = skig.Explainer(model, batch_size=7).fit(X).explain(X)
    large = skig.Explainer(model, batch_size=100_000).fit(X).explain(X)
    np.testing.assert_allclose(small.values.to_numpy(), large.values.to_numpy(), rtol=1e-12, atol=1e-14)


def test_smooth_nets_fall_back_and_exact_names_the_unsupported_layer(X):
    tanh = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    assert skig.Explainer(tanh).fit(X).rule_ == "gausslegendre"
    with pytest.raises(ValueError, match=r"piecewise-linear.*Tanh"):
        skig.Explainer(tanh, rule="exact").fit(X)


@pytest.mark.parametrize("params", [{"method": "guided"}, {"gradient_rule": "deconv"}])
def test_exact_is_refused_where_paths_are_not_true_gradients_on_lines_and_auto_falls_back(X, params):
    with pytest.raises(ValueError, match="rule='exact' integrates the true gradient along straight lines"):
        skig.Explainer(relu_net(), rule="exact", **params).fit(X)
    assert skig.Explainer(relu_net(), **params).fit(X).rule_ == "gausslegendre"


def test_the_users_model_comes_back_untouched(X):
    model = relu_net().train()
    before = [p.detach().clone() for p in model.parameters()], [p.requires_grad for p in model.parameters()]
    skig.Explainer(model).fit(X).explain(X)
    assert model.training and [p.requires_grad for p in model.parameters()] == before[1]
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), before[0], strict=True))

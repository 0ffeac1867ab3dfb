"""The plan fit resolves: one integrator per explainer, the module read once per fit, settings that size the work
changeable after fit, the exact engine an explicit choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError
from torch import nn

import skig
from skig.engine import AdaptiveSteps, ExactIntegration, FixedSteps
from skig.engine.exact import _trace, exact_path_integrals, read_module
from skig.models import PredictionOnly


def relu_net(seed=0, width=16):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 1))


class Skip(nn.Module):
    """Piecewise-linear but no chain: a skip connection."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.a, self.b = nn.Linear(4, 8), nn.Linear(8, 4)
        self.out = nn.Linear(4, 1)

    def forward(self, x):
        return self.out(x + self.b(torch.relu(self.a(x))))


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).normal(size=(60, 4))


@pytest.mark.parametrize(
    ("model", "params", "kind", "rule"),
    [
        (relu_net, {}, ExactIntegration, "exact"),
        (Skip, {}, ExactIntegration, "exact"),
        (relu_net, {"rule": "riemann_middle", "n_steps": 9}, FixedSteps, "riemann_middle"),
        (relu_net, {"gradient_rule": "guided_backprop"}, FixedSteps, "gausslegendre"),
        (relu_net, {"method": "guided"}, FixedSteps, "gausslegendre"),
        (lambda: nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)), {"n_steps": "auto"}, AdaptiveSteps, None),
    ],
)
def test_fit_resolves_one_integrator(X, model, params, kind, rule):
    explainer = skig.Explainer(model(), **params).fit(X)
    integrator = explainer.plan_.integrator
    assert type(integrator) is kind
    assert explainer.rule_ == integrator.rule == (rule or "gausslegendre")
    if kind is FixedSteps:
        assert integrator.n_steps == params.get("n_steps", 64)


def test_the_exact_engine_is_chosen_at_fit(X):
    assert skig.Explainer(relu_net()).fit(X).plan_.integrator.engine == "chain"
    assert skig.Explainer(Skip()).fit(X).plan_.integrator.engine == "general"


def test_the_module_is_read_once_per_fit_not_per_call_or_block(X, monkeypatch):
    explainer = skig.Explainer(relu_net(), batch_size=64, baseline="kmeans", n_baselines=5, random_state=0).fit(X)
    reads = []
    traced = _trace.ForwardTracer.__init__
    monkeypatch.setattr(_trace.ForwardTracer, "__init__", lambda *a, **k: reads.append(k) or traced(*a, **k))
    explainer.explain(X)  # 60 rows x 5 baselines: several blocks of lines
    explainer.set_params(method="ig")  # unchanged: the plan stands
    explainer.explain(X[:7])
    assert reads == []  # no forward pass traced: no check, no chain read, no recorded pass


def test_a_module_whose_weights_changed_is_read_again_and_explained_as_it_is(X):
    model = relu_net()
    explainer = skig.Explainer(model).fit(X)
    with torch.no_grad():
        model[0].weight.mul_(-2.0)
    changed = explainer.explain(X[:9])
    fresh = skig.Explainer(model).fit(X).explain(X[:9])
    np.testing.assert_array_equal(changed.values, fresh.values)
    np.testing.assert_array_equal(changed.predictions, fresh.predictions)
    assert float(changed.delta.abs().max()) < 1e-5


def test_the_reading_fits_only_the_weights_it_was_read_from():
    module = relu_net()
    rows = torch.randn(4, 4)
    reading = read_module(module, rows, rows.flip(0))
    assert reading.engine == "chain" and reading.fits(module)
    other = relu_net(seed=3)
    assert not reading.fits(other)
    assert read_module(Skip(), rows, rows).fits(Skip())  # the general engine reads the module at every pass


def test_the_engine_is_an_explicit_choice():
    module = relu_net().double()
    ends = torch.randn(20, 4, dtype=torch.float64)
    starts = torch.zeros_like(ends)
    targets = torch.zeros(20, dtype=torch.long)

    def pick(raw, targets):
        return raw.gather(1, targets.view(-1, 1)).squeeze(1)

    chain, chain_segments = exact_path_integrals(module, pick, starts, ends, targets, max_points=64, engine="chain")
    general, segments = exact_path_integrals(module, pick, starts, ends, targets, max_points=64, engine="general")
    np.testing.assert_allclose(chain.numpy(), general.numpy(), rtol=1e-10, atol=1e-12)
    assert torch.equal(chain_segments, segments)
    with pytest.raises(ValueError, match="engine='chain' needs a module that is a chain"):
        exact_path_integrals(Skip().double(), pick, starts, ends, targets, max_points=64, engine="chain")
    with pytest.raises(ValueError, match="engine must be one of"):
        exact_path_integrals(module, pick, starts, ends, targets, max_points=64, engine="fast")


def test_settings_that_size_the_work_change_after_fit_and_the_checked_ones_need_fit(X):
    tanh = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    explainer = skig.Explainer(tanh, n_steps=8).fit(X)
    plan = explainer.plan_
    sixteen = explainer.set_params(n_steps=16).explain(X[:5])
    assert (sixteen.n_steps == 16).all()
    assert explainer.plan_ is plan  # the fitted plan is kept; explain resolves the change
    refit = skig.Explainer(tanh, n_steps=16).fit(X).explain(X[:5])
    np.testing.assert_array_equal(sixteen.values, refit.values)
    explainer.set_params(n_steps=1, rule="riemann_trapezoid")
    with pytest.raises(ValueError, match="rule='riemann_trapezoid' changed since fit"):
        explainer.explain(X[:5])
    explainer.set_params(rule="auto", n_steps=8, method="smoothgrad")
    with pytest.raises(ValueError, match="method='smoothgrad' changed since fit.*call fit again"):
        explainer.explain(X[:5])


def test_batch_size_is_read_once_into_a_budget(X):
    explainer = skig.Explainer(relu_net(), batch_size=123).fit(X)
    assert explainer.plan_.budget.max_points(torch.device("cpu")) == 123
    auto = skig.Explainer(relu_net()).fit(X).plan_.budget
    assert auto.batch_size == "auto" and auto.bytes_per_point > 0 and auto.max_points(torch.device("cpu")) >= 64


def test_expected_ig_under_exact_integration_reports_segments_not_pairs(X):
    params = {"method": "expected", "baseline": "kmeans", "n_baselines": 4, "n_samples": 8, "random_state": 0}
    # rule="auto" is Gauss-Legendre for Expected IG (its auto_exact is false: the sampling error dominates).
    assert skig.Explainer(relu_net(), **params).fit(X).rule_ == "gausslegendre"
    expected = skig.Explainer(relu_net(), **params, rule="exact").fit(X)
    assert expected.rule_ == "exact"
    exp = expected.explain(X[:6])
    # With at least as many pairs as background rows every background row is one exact line, as IG over them.
    ig = skig.Explainer(relu_net(), baseline=expected.encoded_baseline_, baseline_weights=expected.baseline_weights_)
    reference = ig.fit(X).explain(X[:6])
    np.testing.assert_array_equal(exp.n_steps, reference.n_steps)
    assert (exp.n_steps >= 4).all() and not (exp.n_steps == 8).all()


def test_points_per_row_and_labels_come_from_the_registry(X):
    tanh = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    for method, expected in [("ig", 10), ("smoothgrad", 3 * 10), ("expected", 3), ("guided", 11)]:
        params = {"method": method, "n_steps": 10, "n_samples": 3, "random_state": 0}
        if method == "expected":
            params |= {"baseline": "sample", "n_baselines": 4}
        explainer = skig.Explainer(tanh, **params).fit(X)
        assert explainer.plan_.points_per_row(1) == expected
        assert explainer.plan_.method.label


def test_a_pickled_explainer_keeps_its_plan_and_its_numbers(X):
    import pickle

    explainer = skig.Explainer(relu_net()).fit(X)
    restored = pickle.loads(pickle.dumps(explainer))
    assert restored.plan_ == explainer.plan_
    assert restored.plan_.integrator.reading.fits(PredictionOnly(restored.adapter_.module))
    np.testing.assert_array_equal(restored.explain(X[:5]).values, explainer.explain(X[:5]).values)


def test_interactions_integrate_expected_ig_exactly_where_auto_would_not(X):
    # rule="auto" is Gauss-Legendre for Expected IG, but a ReLU net's Hessian is zero almost everywhere: with
    # interactions the plan integrates exactly, attributions included, as rule="exact" does.
    params = {"method": "expected", "baseline": "kmeans", "n_baselines": 4, "n_samples": 8, "random_state": 0}
    auto = skig.Explainer(relu_net(), **params).fit(X)
    assert auto.rule_ == "gausslegendre"
    with_interactions = auto.explain(X[:5], interactions=True)
    exact = skig.Explainer(relu_net(), **params, rule="exact").fit(X).explain(X[:5])
    np.testing.assert_array_equal(with_interactions.values.to_numpy(), exact.values.to_numpy())
    np.testing.assert_array_equal(with_interactions.n_steps, exact.n_steps)
    assert auto.explain(X[:5]).n_steps.tolist() == [8] * 5  # without interactions: its pairs, by Gauss-Legendre


@pytest.mark.parametrize(
    ("make", "rule"),
    [(relu_net, "exact"), (Skip, "exact"), (lambda: nn.Sequential(nn.Linear(4, 3), nn.Tanh()), "gausslegendre")],
)
def test_fit_traces_the_module_once_to_choose_the_integrator(X, make, rule, monkeypatch):
    # fit's own checks (gradients, lookups) run the module untraced; choosing the integrator is one traced pass, which
    # both finds the violations and reads the engine.
    reads = []
    traced = _trace.ForwardTracer.__init__
    monkeypatch.setattr(_trace.ForwardTracer, "__init__", lambda *a, **k: reads.append(k) or traced(*a, **k))
    explainer = skig.Explainer(make()).fit(X)
    assert len(reads) == 1
    assert explainer.rule_ == rule


@pytest.mark.parametrize(
    ("name", "value"), [("batch_size", 0), ("tol", -1.0), ("n_steps", 2.5), ("max_steps", "many"), ("n_threads", 0)]
)
def test_a_setting_changed_after_fit_is_held_to_fits_constraints(X, name, value):
    explainer = skig.Explainer(nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1))).fit(X)
    before, fitted = explainer.explain(X[:5]).values, explainer.get_params()[name]
    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter of Explainer must be"):
        explainer.set_params(**{name: value}).explain(X[:5])
    explainer.set_params(**{name: fitted})
    pd.testing.assert_frame_equal(explainer.explain(X[:5]).values, before)

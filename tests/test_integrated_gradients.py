"""IG against analytic ground truth and against Captum on identical settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import skig
from skig.engine import QUADRATURE_RULES as RULES
from skig.engine import quadrature


class Quadratic(torch.nn.Module):
    """f(x) = sum_i a_i x_i^2 + c x_0 x_1: its IG has a closed form for every quadrature rule."""

    def __init__(self, a, c):
        super().__init__()
        self.a = torch.nn.Parameter(torch.as_tensor(a, dtype=torch.float64))
        self.c = torch.nn.Parameter(torch.tensor(c, dtype=torch.float64))

    def forward(self, x):
        return ((self.a * x**2).sum(1) + self.c * x[:, 0] * x[:, 1]).unsqueeze(1)


def _linear(n_features=5, n_outputs=1):
    torch.manual_seed(3)
    return torch.nn.Linear(n_features, n_outputs).double()


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("baseline", ["zero", "mean", "median"])
def test_linear_model_ig_is_weight_times_difference(rule, baseline, X):
    model = _linear()
    exp = skig.Explainer(model, baseline=baseline, rule=rule, n_steps=4).fit(X).explain(X[:10])
    reference = {"zero": np.zeros(5), "mean": X.mean(0), "median": np.median(X, 0)}[baseline]
    expected = model.weight.detach().numpy()[0] * (X[:10] - reference)
    np.testing.assert_allclose(exp.values.to_numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(exp.delta, 0, atol=1e-12)


@pytest.mark.parametrize("rule", RULES)
def test_quadratic_model_matches_closed_form_for_every_rule(rule, X):
    a, c = np.array([0.5, -1.0, 2.0, 0.3, 1.5]), 0.7
    n_steps = 5
    exp = skig.Explainer(Quadratic(a, c), baseline="median", rule=rule, n_steps=n_steps).fit(X).explain(X[:8])
    x, b = X[:8], np.median(X, 0)
    alphas, weights = quadrature(rule, n_steps)
    mean_alpha = weights @ alphas  # the gradient is linear along the path, so only the mean alpha matters
    along = b + (x - b) * mean_alpha
    gradient = 2 * a * along
    gradient[:, 0] += c * along[:, 1]
    gradient[:, 1] += c * along[:, 0]
    np.testing.assert_allclose(exp.values.to_numpy(), gradient * (x - b), rtol=1e-10, atol=1e-12)
    if rule in ("gausslegendre", "riemann_middle", "riemann_trapezoid"):
        # Rules exact for linear integrands give exact completeness on a quadratic.
        np.testing.assert_allclose(exp.delta, 0, atol=1e-10)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("n_outputs, target", [(1, None), (3, 2), (3, None)])
def test_agrees_with_captum_on_identical_settings(rule, n_outputs, target, X, mlp):
    from captum.attr import IntegratedGradients

    model = mlp(5, n_outputs, dtype=torch.float64)
    n_steps = 16
    explainer = skig.Explainer(model, baseline="mean", rule=rule, n_steps=n_steps, target=target, output="raw")
    exp = explainer.fit(X).explain(X[:12])
    inputs = torch.as_tensor(X[:12])
    captum_target = torch.as_tensor(exp.target.to_numpy()) if n_outputs > 1 else 0
    theirs = IntegratedGradients(model).attribute(
        inputs, baselines=torch.as_tensor(X.mean(0, keepdims=True)), target=captum_target, n_steps=n_steps, method=rule
    )
    # Captum's trapezoid weights sum to (n-1)/n (ours to 1), and Captum rounds step sizes and Riemann alphas to
    # float32 even for a float64 model: agreement is to float32 rounding, not float64.
    theirs = theirs.numpy() * (n_steps / (n_steps - 1) if rule == "riemann_trapezoid" else 1.0)
    np.testing.assert_allclose(exp.values.to_numpy(), theirs, rtol=1e-6, atol=1e-9)


def test_multiclass_default_target_is_the_predicted_class(X, mlp):
    model = mlp(5, 4, dtype=torch.float64)
    exp = skig.Explainer(model).fit(X).explain(X)
    predicted = model(torch.as_tensor(X)).argmax(1).numpy()
    np.testing.assert_array_equal(exp.target.to_numpy(), predicted)
    assert len(set(predicted)) > 1  # the test means something only if rows differ


def test_completeness_error_shrinks_as_steps_grow(X, mlp):
    for seed in range(3):
        model = mlp(5, 1, seed=seed, dtype=torch.float64)
        errors = [
            skig.Explainer(model, n_steps=n, rule="riemann_middle").fit(X).explain(X).delta.abs().max()
            for n in (2, 8, 32)
        ]
        assert errors[0] > errors[1] > errors[2]
        assert errors[2] < errors[0] / 50  # midpoint error falls as 1 / n^2


def test_delta_predictions_and_base_values_are_what_they_claim(X, mlp):
    model = mlp(5, 1, dtype=torch.float64)
    exp = skig.Explainer(model, baseline="zero", n_steps=8).fit(X).explain(X[:6])
    with torch.no_grad():
        np.testing.assert_allclose(exp.predictions, model(torch.as_tensor(X[:6]))[:, 0].numpy(), rtol=1e-12)
        assert exp.base_values.unique() == pytest.approx(model(torch.zeros(1, 5, dtype=torch.float64)).item())
    np.testing.assert_allclose(exp.delta, exp.values.sum(axis=1) + exp.base_values - exp.predictions, atol=0)
    assert np.abs(exp.delta).max() > 0  # 8 steps on an MLP are not exact: delta reports it


def test_several_baselines_average_ig_from_each(X, mlp):
    model = mlp(5, 1, dtype=torch.float64)
    rows = X[[3, 7, 11]]
    together = skig.Explainer(model, baseline=rows, n_steps=8).fit(X).explain(X[:5])
    separately = [skig.Explainer(model, baseline=row, n_steps=8).fit(X).explain(X[:5]) for row in rows]
    np.testing.assert_allclose(together.values, np.mean([e.values for e in separately], axis=0), atol=1e-12)
    np.testing.assert_allclose(together.base_values, np.mean([e.base_values for e in separately], axis=0))
    np.testing.assert_allclose(together.delta, np.mean([e.delta for e in separately], axis=0), atol=1e-12)


@pytest.mark.parametrize("batch_size", [1, 7, 50, 1000])
def test_results_do_not_depend_on_how_points_are_batched(batch_size, X, mlp):
    model = mlp(5, 3, dtype=torch.float64)
    reference = skig.Explainer(model, n_steps=10, baseline=X[:2]).fit(X).explain(X[:9])
    chunked = skig.Explainer(model, n_steps=10, baseline=X[:2], batch_size=batch_size).fit(X).explain(X[:9])
    np.testing.assert_allclose(chunked.values, reference.values, atol=1e-12)


def test_float32_module_matches_float64_closely(X, mlp):
    model64 = mlp(5, 1, dtype=torch.float64)
    model32 = mlp(5, 1, dtype=torch.float32)
    exp32 = skig.Explainer(model32).fit(X).explain(X[:10])
    exp64 = skig.Explainer(model64).fit(X).explain(X[:10])
    np.testing.assert_allclose(exp32.values, exp64.values, atol=1e-4)
    assert exp32.values.dtypes.unique().tolist() == [np.float64]


def test_dataframe_input_keeps_index_and_names(mlp):
    import pandas as pd

    frame = pd.DataFrame(np.random.RandomState(0).normal(size=(20, 5)), columns=list("abcde"), index=range(100, 120))
    exp = skig.Explainer(mlp(5, 1)).fit(frame).explain(frame.iloc[5:9])
    assert list(exp.values.index) == [105, 106, 107, 108]
    assert exp.feature_names == list("abcde")
    pd.testing.assert_frame_equal(exp.data, frame.iloc[5:9])
    assert list(exp.base_values.index) == list(exp.delta.index) == [105, 106, 107, 108]


@pytest.mark.parametrize("nullable", [False, True], ids=["numpy-dtypes", "with-a-nullable-column"])
def test_frame_of_mixed_number_dtypes_reads_as_its_float64_matrix(mlp, nullable):
    """A module reading a DataFrame of ints, bools, float32 and float64 (numpy dtypes take a shortcut past
    check_array; a nullable column the long way) gets exactly the numbers of the same matrix as a float64 array."""
    import pandas as pd

    rng = np.random.RandomState(4)
    frame = pd.DataFrame(
        {
            "count": rng.randint(0, 9, 30),
            "flag": rng.rand(30) > 0.5,
            "ratio": rng.normal(size=30).astype(np.float32),
            "amount": rng.normal(size=30),
            "small": rng.randint(0, 3, 30).astype(np.uint8),
        }
    )
    if nullable:
        frame["count"] = frame["count"].astype("Int64")
    matrix = frame.astype(np.float64).to_numpy()
    model = mlp(5, 1)
    from_frame = skig.Explainer(model, n_steps=8).fit(frame).explain(frame.iloc[:6])
    from_matrix = skig.Explainer(model, n_steps=8).fit(matrix).explain(matrix[:6])
    np.testing.assert_array_equal(from_frame.values.to_numpy(), from_matrix.values.to_numpy())
    np.testing.assert_array_equal(from_frame.predictions.to_numpy(), from_matrix.predictions.to_numpy())
    # A column of text is still refused by name.
    with pytest.raises(ValueError, match="column 'amount'"):
        skig.Explainer(model).fit(frame.astype({"amount": str}).assign(amount="high"))
    # Names that are numpy strings are not str, as for scikit-learn: no feature_names_in_ (pandas' own string labels
    # take a shortcut that must not change this).
    numpy_names = frame.set_axis(pd.Index([np.str_(name) for name in frame.columns], dtype=object), axis=1)
    assert not hasattr(skig.Explainer(model).fit(numpy_names), "feature_names_in_")
    assert hasattr(skig.Explainer(model).fit(frame), "feature_names_in_")


def test_explain_is_deterministic(X, mlp):
    explainer = skig.Explainer(mlp(5, 2), n_steps=12).fit(X)
    first, second = explainer.explain(X), explainer.explain(X)
    np.testing.assert_array_equal(first.values, second.values)

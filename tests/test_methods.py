"""The IG family through the Explainer: SmoothGrad, Expected IG, Guided IG, gradient rules and adaptive steps.

Each method is checked against a closed form, a reference tool on identical settings, or an identity it must keep.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import skig
from skig.engine._gradients import padded_rows


def _linear(n_features=5, seed=3):
    torch.manual_seed(seed)
    return torch.nn.Linear(n_features, 1).double()


def _weights(model):
    return model.weight.detach().numpy()[0]


class Quadratic(torch.nn.Module):
    """f(x) = sum_i a_i x_i^2: E f(x + noise) - f(x) = sum_i a_i sigma_i^2, and 2-point Gauss-Legendre is exact."""

    def __init__(self, a):
        super().__init__()
        self.a = torch.nn.Parameter(torch.as_tensor(a, dtype=torch.float64))

    def forward(self, x):
        return (self.a * x**2).sum(1, keepdim=True)


class ReluNet(torch.nn.Module):
    """A float64 ReLU MLP; ``inplace`` and ``functional`` choose how the ReLUs are written."""

    def __init__(self, n_features=5, n_outputs=1, inplace=False, functional=None, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.first = torch.nn.Linear(n_features, 12).double()
        self.second = torch.nn.Linear(12, 12).double()
        self.last = torch.nn.Linear(12, n_outputs).double()
        self.relu1, self.relu2 = torch.nn.ReLU(inplace=inplace), torch.nn.ReLU(inplace=inplace)
        self.functional = functional
        self.fail = False

    def forward(self, x):
        if self.fail:
            raise RuntimeError("model failed on purpose")
        hidden = self.relu1(self.first(x))
        hidden = self.second(hidden)
        if self.functional == "torch.relu":
            hidden = torch.relu(hidden)
        elif self.functional == "F.relu":
            hidden = torch.nn.functional.relu(hidden)
        elif self.functional == "Tensor.relu":
            hidden = hidden.relu()
        else:
            hidden = self.relu2(hidden)
        return self.last(hidden)


def _state(module):
    hook_dicts = [name for name in vars(module) if name.startswith("_") and name.endswith("hooks") or "hooks_" in name]
    return (
        [sub.training for sub in module.modules()],
        [param.requires_grad for param in module.parameters()],
        [param.device for param in module.parameters()],
        [(name, dict(getattr(sub, name))) for sub in module.modules() for name in hook_dicts],
        [param.detach().clone() for param in module.parameters()],
    )


def _assert_same_state(before, after):
    assert before[:4] == after[:4]
    for old, new in zip(before[4], after[4], strict=True):
        torch.testing.assert_close(old, new, rtol=0, atol=0)


# ------------------------------------------------------------------------------------------------- SmoothGrad
class TestSmoothGrad:
    def test_no_noise_equals_ig(self, X, mlp):
        model = mlp(5, 1, dtype=torch.float64)
        ig = skig.Explainer(model, n_steps=8).fit(X).explain(X[:6])
        for method, expected in [
            ("smoothgrad", ig.values),
            ("smoothgrad_sq", ig.values**2),
            ("vargrad", 0 * ig.values),
        ]:
            exp = skig.Explainer(model, method=method, noise_level=0.0, n_samples=3, n_steps=8).fit(X).explain(X[:6])
            np.testing.assert_allclose(exp.values, expected, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(exp.predictions, ig.predictions)

    def test_variants_share_noise_and_vargrad_is_their_difference(self, X, mlp):
        model = mlp(5, 1, dtype=torch.float64)
        params = dict(n_samples=8, n_steps=8, noise_level=0.5, random_state=0)
        mean, square, variance = (
            skig.Explainer(model, method=method, **params).fit(X).explain(X[:6]).values
            for method in ("smoothgrad", "smoothgrad_sq", "vargrad")
        )
        assert (variance.to_numpy() >= 0).all() and (variance.to_numpy() > 0).any()
        np.testing.assert_allclose(variance, square - mean**2, atol=1e-12)

    def test_noise_scales_with_each_columns_spread(self, X):
        # Columns 1000x apart: a noise level relative to each column perturbs both alike; a linear model sees it.
        X = X * np.array([1.0, 1000.0, 1.0, 1.0, 1.0])
        model = _linear()
        explainer = skig.Explainer(model, method="smoothgrad", noise_level=0.3, n_samples=256, random_state=0)
        exp = explainer.fit(X).explain(X[:20])
        np.testing.assert_allclose(explainer.noise_scale_, X.std(0))
        # Attribution minus the noise-free one is w * mean(noise): its spread is noise_level * std / sqrt(n).
        noise_means = (exp.values.to_numpy() - _weights(model) * (X[:20] - X.mean(0))) / _weights(model)
        ratio = noise_means.std(0) / (0.3 * X.std(0) / np.sqrt(256))
        np.testing.assert_allclose(ratio, 1.0, atol=0.4)

    def test_delta_is_the_smoothing_offset_when_quadrature_is_exact(self, X):
        a = np.array([0.5, -1.0, 2.0, 0.3, 1.5])
        explainer = skig.Explainer(
            Quadratic(a), method="smoothgrad", n_steps=2, noise_level=0.2, n_samples=4096, random_state=0
        )
        # Rows at the origin: f(x + noise) - f(x) = sum_i a_i noise_i^2 has no first-order term to add variance.
        rows = np.zeros((3, 5))
        exp = explainer.fit(X).explain(rows)
        np.testing.assert_allclose(exp.predictions, 0)  # predictions are f(x), not the smoothed output
        offset = (a * (0.2 * explainer.noise_scale_) ** 2).sum()  # E f(x + noise) - f(x)
        np.testing.assert_allclose(exp.delta, offset, rtol=0.1)
        assert abs(offset) > 0.05

    def test_squared_variants_report_delta_as_the_bare_identity(self, X, mlp):
        exp = skig.Explainer(mlp(5, 1), method="smoothgrad_sq", random_state=0, n_samples=4).fit(X).explain(X[:5])
        np.testing.assert_allclose(exp.delta, exp.values.sum(axis=1) + exp.base_values - exp.predictions)
        assert (exp.values.to_numpy() >= 0).all()


# ------------------------------------------------------------------------------------------------ Expected IG
class TestExpected:
    def test_linear_model_is_weight_times_distance_to_weighted_background_mean(self, X):
        model = _linear()
        explainer = skig.Explainer(model, method="expected", baseline="kmeans", n_baselines=5, n_samples=16)
        exp = explainer.fit(X).explain(X[:8])
        weights = explainer.baseline_weights_
        assert len(np.unique(weights)) > 1  # cluster sizes differ: the weighting is exercised
        centre = weights @ explainer.encoded_baseline_.to_numpy()
        np.testing.assert_allclose(exp.values, _weights(model) * (X[:8] - centre), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(exp.delta, 0, atol=1e-12)

    def test_sobol_pairs_visit_every_background_row_once_at_n_samples_equal_to_its_size(self, X):
        # 16 Sobol points over 16 equally weighted rows: one per row, so even the sampled estimate is exact here.
        model = _linear()
        explainer = skig.Explainer(model, method="expected", baseline="sample", n_baselines=16, n_samples=16)
        exp = explainer.set_params(random_state=4).fit(X).explain(X[:8])
        centre = explainer.encoded_baseline_.to_numpy().mean(0)
        np.testing.assert_allclose(exp.values, _weights(model) * (X[:8] - centre), rtol=1e-10, atol=1e-12)

    def test_single_background_row_equals_ig_from_that_row(self, X, mlp):
        model = mlp(5, 1, dtype=torch.float64)
        expected = skig.Explainer(model, method="expected", baseline=X[7], n_samples=12).fit(X).explain(X[:6])
        ig = skig.Explainer(model, baseline=X[7], n_steps=12).fit(X).explain(X[:6])
        np.testing.assert_allclose(expected.values, ig.values, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(expected.base_values, ig.base_values)

    def test_linear_model_matches_shap_linear_explainer(self, X):
        import shap

        model = _linear()
        explainer = skig.Explainer(model, method="expected", baseline="sample", n_baselines=10, random_state=0)
        exp = explainer.fit(X).explain(X[:8])
        background = explainer.encoded_baseline_.to_numpy()
        reference = shap.LinearExplainer((_weights(model), model.bias.item()), background)
        np.testing.assert_allclose(exp.values, reference.shap_values(X[:8]), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(exp.base_values, reference.expected_value)

    def test_background_estimators_and_user_weights(self, X, mlp):
        model = mlp(5, 1, dtype=torch.float64)
        sampled = skig.Explainer(model, method="expected", baseline="sample", n_baselines=7, random_state=1).fit(X)
        rows = sampled.encoded_baseline_.to_numpy()
        assert rows.shape == (7, 5) and all((X == row).all(1).any() for row in rows)
        np.testing.assert_allclose(sampled.baseline_weights_, 1 / 7)
        everything = skig.Explainer(model, method="expected", baseline="sample", n_baselines=100).fit(X)
        assert len(everything.encoded_baseline_) == len(X)
        kmeans = skig.Explainer(model, method="expected", baseline="kmeans", n_baselines=4, random_state=0).fit(X)
        labels = np.argmin(((X[:, None] - kmeans.encoded_baseline_.to_numpy()[None]) ** 2).sum(2), 1)
        np.testing.assert_allclose(kmeans.baseline_weights_, np.bincount(labels, minlength=4) / len(X))
        given = skig.Explainer(model, method="expected", baseline=X[:3], baseline_weights=[2, 1, 1]).fit(X)
        np.testing.assert_allclose(given.baseline_weights_, [0.5, 0.25, 0.25])
        exp = given.explain(X[:4])
        with torch.no_grad():
            outputs = model(torch.as_tensor(X[:3]))[:, 0].numpy()
        np.testing.assert_allclose(exp.base_values, outputs @ [0.5, 0.25, 0.25])

    def test_stratified_pairs_beat_independent_draws(self, X, mlp):
        # Same budget, same model: the scrambled Sobol pairs must be clearly closer to the dense expectation than
        # (background row, alpha) pairs drawn independently, as Captum's GradientShap draws them.
        from captum.attr import GradientShap

        model = mlp(5, 1, dtype=torch.float64)
        background = X[:32]
        dense = skig.Explainer(model, baseline=background, n_steps=64, rule="riemann_middle").fit(X)
        reference = dense.explain(X[32:]).values.to_numpy()
        ours, theirs = [], []
        for seed in range(3):
            exp = skig.Explainer(model, method="expected", baseline=background, n_samples=32, random_state=seed)
            ours.append(np.sqrt(((exp.fit(X).explain(X[32:]).values.to_numpy() - reference) ** 2).mean()))
            torch.manual_seed(seed)
            captum = GradientShap(model).attribute(
                torch.as_tensor(X[32:]), baselines=torch.as_tensor(background), n_samples=32, stdevs=0.0, target=0
            )
            theirs.append(np.sqrt(((captum.numpy() - reference) ** 2).mean()))
        assert np.mean(ours) < np.mean(theirs) / 1.5

    def test_pipeline_background_lives_in_encoded_space(self):
        from sklearn.neural_network import MLPRegressor
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        rng = np.random.RandomState(0)
        frame = pd.DataFrame(rng.normal(size=(80, 3)) * [1, 100, 10] + [0, 500, 5], columns=["a", "b", "c"])
        pipe = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(8,), max_iter=300, random_state=0))
        pipe.fit(frame, frame.sum(axis=1))
        explainer = skig.Explainer(pipe, method="expected", baseline="kmeans", n_baselines=4, random_state=0)
        exp = explainer.fit(frame).explain(frame.iloc[:5])
        assert list(explainer.encoded_baseline_.columns) == list(explainer.encoded_feature_names_)
        centre = explainer.baseline_weights_ @ explainer.encoded_baseline_.to_numpy()
        np.testing.assert_allclose(centre, 0, atol=1e-9)  # the weighted centroids average to the scaled mean
        assert list(exp.values.index) == [0, 1, 2, 3, 4]


# ------------------------------------------------------------------------------------------------- Guided IG
class TestGuided:
    def test_completeness_is_tight(self, X, mlp):
        # The trapezoid along the guided path: the reference implementation's left-Riemann sum misses by ~1e-2.
        model = mlp(5, 1, dtype=torch.float64)
        exp = skig.Explainer(model, method="guided", n_steps=256, max_dist=1.0).fit(X).explain(X[:10])
        assert exp.delta.abs().max() < 3e-4 * (exp.predictions - exp.base_values).abs().mean()

    @pytest.mark.parametrize("max_dist", [0.02, 1.0])
    def test_linear_model_equals_ig(self, max_dist, X):
        model = _linear()
        guided = skig.Explainer(model, method="guided", n_steps=7, max_dist=max_dist).fit(X).explain(X[:10])
        ig = skig.Explainer(model, n_steps=7).fit(X).explain(X[:10])
        np.testing.assert_allclose(guided.values, ig.values, rtol=1e-10, atol=1e-12)

    def test_no_deviation_is_trapezoid_ig_on_the_straight_line(self, X, mlp):
        model = mlp(5, 1, dtype=torch.float64)
        guided = skig.Explainer(model, method="guided", n_steps=8, max_dist=0.0).fit(X).explain(X[:10])
        ig = skig.Explainer(model, n_steps=9, rule="riemann_trapezoid").fit(X).explain(X[:10])
        np.testing.assert_allclose(guided.values, ig.values, rtol=1e-10, atol=1e-12)

    def test_the_path_leaves_the_straight_line(self, X, mlp):
        model = mlp(5, 1, dtype=torch.float64)
        guided = skig.Explainer(model, method="guided", n_steps=64, max_dist=1.0).fit(X).explain(X[:10])
        ig = skig.Explainer(model, n_steps=64).fit(X).explain(X[:10])
        assert np.abs(guided.values.to_numpy() - ig.values.to_numpy()).max() > 1e-2

    def test_several_baselines_average_guided_ig_from_each(self, X, mlp):
        model = mlp(5, 1, dtype=torch.float64)
        params = dict(method="guided", n_steps=16, max_dist=0.5)
        together = skig.Explainer(model, baseline=X[:2], baseline_weights=[3, 1], **params).fit(X).explain(X[5:9])
        single = [skig.Explainer(model, baseline=row, **params).fit(X).explain(X[5:9]).values for row in X[:2]]
        np.testing.assert_allclose(together.values, 0.75 * single[0] + 0.25 * single[1], atol=1e-12)


# ------------------------------------------------------------------------------------------- gradient rules
class TestGradientRules:
    @pytest.mark.parametrize("rule", ["deconv", "guided_backprop"])
    def test_equal_standard_ig_without_relu(self, rule, X, mlp):
        model = mlp(5, 2, dtype=torch.float64)
        standard = skig.Explainer(model, n_steps=8).fit(X).explain(X[:6])
        modified = skig.Explainer(model, n_steps=8, gradient_rule=rule).fit(X).explain(X[:6])
        np.testing.assert_allclose(modified.values, standard.values, rtol=1e-12, atol=1e-14)

    @pytest.mark.parametrize("rule, captum_name", [("deconv", "Deconvolution"), ("guided_backprop", "GuidedBackprop")])
    def test_one_step_at_the_row_equals_captum_times_distance(self, rule, captum_name, X):
        import captum.attr

        model = ReluNet(n_outputs=3)
        explainer = skig.Explainer(
            model, gradient_rule=rule, n_steps=1, rule="riemann_right", baseline="mean", target=2, output="raw"
        )
        exp = explainer.fit(X).explain(X[:10])
        captum_values = getattr(captum.attr, captum_name)(model).attribute(torch.as_tensor(X[:10]), target=2)
        np.testing.assert_allclose(exp.values, captum_values.numpy() * (X[:10] - X.mean(0)), rtol=1e-10, atol=1e-12)
        standard = skig.Explainer(model, n_steps=1, rule="riemann_right", target=2, output="raw").fit(X).explain(X[:10])
        assert np.abs(exp.values.to_numpy() - standard.values.to_numpy()).max() > 1e-3  # the rule changed something

    @pytest.mark.parametrize("rule", ["deconv", "guided_backprop"])
    def test_inplace_relu_gives_the_same_attributions(self, rule, X):
        plain = skig.Explainer(ReluNet(), gradient_rule=rule, n_steps=4).fit(X).explain(X[:6])
        inplace = skig.Explainer(ReluNet(inplace=True), gradient_rule=rule, n_steps=4).fit(X).explain(X[:6])
        np.testing.assert_allclose(inplace.values, plain.values, rtol=1e-12)

    @pytest.mark.parametrize("method", ["ig", "smoothgrad", "vargrad", "expected", "guided"])
    def test_combines_with_every_method_and_restores_the_model(self, method, X):
        model = ReluNet(inplace=True).train()
        model.first.weight.requires_grad_(False)
        before = _state(model)
        baseline = "sample" if method == "expected" else "mean"
        params = dict(method=method, baseline=baseline, n_steps=4, n_samples=4, n_baselines=8, random_state=0)
        exp = skig.Explainer(model, gradient_rule="deconv", **params).fit(X).explain(X[:4])
        standard = skig.Explainer(model, **params).fit(X).explain(X[:4])
        assert np.abs(exp.values.to_numpy() - standard.values.to_numpy()).max() > 1e-6
        _assert_same_state(before, _state(model))

    def test_model_is_restored_when_explaining_raises(self, X):
        model = ReluNet().train()
        explainer = skig.Explainer(model, gradient_rule="guided_backprop", n_steps=4).fit(X)
        before = _state(model)
        model.fail = True
        with pytest.raises(RuntimeError, match="on purpose"):
            explainer.explain(X[:4])
        _assert_same_state(before, _state(model))
        model.fail = False
        assert not any(relu._forward_hooks or relu._forward_pre_hooks for relu in (model.relu1, model.relu2))

    @pytest.mark.parametrize("functional", ["torch.relu", "F.relu", "Tensor.relu"])
    def test_functional_relu_is_refused(self, functional, X):
        model = ReluNet(functional=functional)
        with pytest.raises(ValueError, match=r"calls ReLU as a function \(1 call"):
            skig.Explainer(model, gradient_rule="deconv").fit(X)
        skig.Explainer(model).fit(X)  # the standard rule is fine


# ------------------------------------------------------------------------------------------- adaptive steps
class TestAdaptiveSteps:
    def test_rows_meet_tol_and_only_failing_rows_are_recomputed(self, X, mlp):
        model = mlp(5, 1, dtype=torch.float64)
        points = []
        handle = model[0].register_forward_hook(lambda _m, inputs, _o: points.append(len(inputs[0])))
        tol = 1e-7
        explainer = skig.Explainer(model, n_steps="auto", tol=tol, max_steps=512).fit(X)
        points.clear()
        exp = explainer.explain(X[:12])
        handle.remove()
        gap = (exp.predictions - exp.base_values).abs()
        assert (exp.delta.abs() <= tol * gap + 1e-9).all()
        assert exp.n_steps.nunique() > 1 and exp.n_steps.min() == 8 and exp.n_steps.max() < 512
        # Gradient passes: round k recomputes the rows that need 8 * 2**k steps or more. Besides: one pass for the
        # predictions and the base value together (passes are sized at fit, not probed per call). Every pass is
        # padded to whole row blocks.
        rounds = range(int(np.log2(exp.n_steps.max() // 8)) + 1)
        passes = [int((exp.n_steps >= 8 * 2**k).sum()) * 8 * 2**k for k in rounds]
        expected = [padded_rows(n) for n in (len(X[:12]) + len(explainer.baseline_), *passes)]
        assert sorted(points) == sorted(expected)
        for row in np.flatnonzero(exp.n_steps.to_numpy() != 8)[:2]:
            fixed = skig.Explainer(model, n_steps=int(exp.n_steps.iloc[row])).fit(X)
            np.testing.assert_allclose(exp.values.iloc[row], fixed.explain(X[row : row + 1]).values.iloc[0])

    def test_max_steps_caps_rows_that_cannot_meet_tol(self, X):
        explainer = skig.Explainer(ReluNet(seed=1), n_steps="auto", rule="gausslegendre", tol=0.0, max_steps=32)
        with pytest.warns(UserWarning, match=r"5 row\(s\) still miss tol=0.0 at max_steps=32"):
            exp = explainer.fit(X).explain(X[:5])
        assert (exp.n_steps == 32).all()

    @pytest.mark.parametrize("method, tol", [("smoothgrad", 1e-8), ("vargrad", 1e-8), ("guided", 1e-3)])
    def test_other_methods_refine_too(self, method, tol, X, mlp):
        model = mlp(5, 1, dtype=torch.float64)
        params = dict(method=method, random_state=0, n_samples=4, max_dist=0.5)
        exp = skig.Explainer(model, n_steps="auto", tol=tol, **params).fit(X).explain(X[:8])
        assert exp.n_steps.max() > 8
        if method == "guided":
            assert exp.n_steps.nunique() > 1
            assert (exp.delta.abs() <= tol * (exp.predictions - exp.base_values).abs() + 1e-9).all()
        # Each row is what a fixed step count gives it (the noise does not depend on the steps).
        for steps in exp.n_steps.unique():
            fixed = skig.Explainer(model, n_steps=int(steps), **params).fit(X).explain(X[:8])
            rows = (exp.n_steps == steps).to_numpy()
            np.testing.assert_allclose(exp.values[rows], fixed.values[rows], rtol=1e-12)


# --------------------------------------------------------------------------------- randomness and completeness
@pytest.mark.parametrize(
    "params",
    [
        dict(method="smoothgrad"),
        dict(method="smoothgrad_sq"),
        dict(method="vargrad"),
        dict(method="expected", baseline="sample", n_baselines=16),
        dict(method="expected", baseline="kmeans", n_baselines=4, n_samples=4),
        dict(method="ig", baseline="sample", n_baselines=4),
    ],
    ids=lambda params: "-".join(str(value) for value in params.values()),
)
def test_random_state_reproduces_and_different_seeds_differ(params, X, mlp):
    model = mlp(5, 1, dtype=torch.float64)
    params = {"n_samples": 8, "n_steps": 4, **params}
    first = skig.Explainer(model, random_state=0, **params).fit(X)
    again = skig.Explainer(model, random_state=0, **params).fit(X)
    other = skig.Explainer(model, random_state=1, **params).fit(X)
    np.testing.assert_array_equal(first.explain(X[:5]).values, again.explain(X[:5]).values)
    np.testing.assert_array_equal(first.explain(X[:5]).values, first.explain(X[:5]).values)
    assert np.abs(first.explain(X[:5]).values.to_numpy() - other.explain(X[:5]).values.to_numpy()).max() > 1e-6


@pytest.mark.parametrize(
    "params",
    [
        dict(method="ig"),
        dict(method="expected", baseline="sample", n_baselines=8, n_samples=256),
        dict(method="guided", n_steps=256),
        dict(method="smoothgrad", noise_level=0.0),
        dict(method="ig", n_steps="auto", tol=1e-4),
    ],
    ids=lambda params: "-".join(str(value) for value in params.values()),
)
def test_completeness_where_it_applies(params, X, mlp):
    model = mlp(5, 1, dtype=torch.float64)
    exp = skig.Explainer(model, random_state=0, **params).fit(X).explain(X[:10])
    gap = (exp.predictions - exp.base_values).abs()
    assert (exp.delta.abs() <= 1e-3 * gap + 1e-9).all()


# ------------------------------------------------------------------------------------- parameter interactions
@pytest.mark.parametrize(
    "params, message",
    [
        (dict(method="expected"), r"baseline='mean' is a single row; use baseline='sample'"),
        (dict(method="expected", baseline="sample", n_steps="auto"), "n_steps='auto' does not apply"),
        (dict(baseline="kmeans", baseline_weights=[1.0]), "baseline_weights weighs reference rows"),
        (dict(baseline=np.zeros((2, 5)), baseline_weights=[1.0]), r"need shape \(2,\)"),
        (dict(baseline=np.zeros((2, 5)), baseline_weights=[1.0, -1.0]), "non-negative"),
        (dict(rule="riemann_trapezoid", n_steps="auto", max_steps=1), "riemann_trapezoid' needs n_steps >= 2"),
        (dict(fraction=0.0), "fraction"),
        (dict(n_steps="many"), "n_steps"),
        (dict(gradient_rule="lrp"), "gradient_rule"),
    ],
)
def test_meaningless_parameters_are_refused_at_fit(params, message, X, mlp):
    with pytest.raises(ValueError, match=message):
        skig.Explainer(mlp(5, 1), **params).fit(X)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no cuda device")
@pytest.mark.parametrize(
    "params",
    [
        dict(method="smoothgrad"),
        dict(method="expected", baseline="sample", n_baselines=16),
        dict(method="guided", n_steps=16),
        dict(method="ig", n_steps="auto", gradient_rule="deconv"),
    ],
    ids=lambda params: str(params["method"]),
)
def test_cuda_gives_what_cpu_gives(params, X):
    model = ReluNet()
    on_cpu = skig.Explainer(model, random_state=0, device="cpu", **params).fit(X).explain(X[:6])
    on_cuda = skig.Explainer(model, random_state=0, device="cuda", **params).fit(X).explain(X[:6])
    np.testing.assert_allclose(on_cuda.values, on_cpu.values, rtol=1e-6, atol=1e-9)
    assert next(model.parameters()).device.type == "cpu"

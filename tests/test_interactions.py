"""Feature interactions (Integrated / Expected Hessians) against oracles written apart from the engine.

- smooth nets: nested Gauss-Legendre over (alpha, beta) of IG of IG with autograd Hessians (float64);
- ReLU nets: Gauss-Legendre over beta, split at the crossings, of the gradient of closed-form IG of a one-hidden-layer
  net (IG of IG with the baseline fixed);
- properties everywhere: rows sum to the attributions, the total to f(x) - f(x'), symmetry.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import skig
from skig.engine._log_rules import log_rule


def _net(widths, activation, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=False)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(activation())
    return torch.nn.Sequential(*layers).to(dtype)


def _nested_oracle(f, x, baseline, n=48):
    """IG of IG by nested Gauss-Legendre over (alpha, beta) with autograd gradients and Hessians: (d, d)."""
    nodes, weights = np.polynomial.legendre.leggauss(n)
    nodes, weights = (nodes + 1) / 2, weights / 2
    delta = x - baseline
    ab = torch.tensor(np.outer(nodes, nodes).reshape(-1))
    wab = torch.tensor(np.outer(weights, weights).reshape(-1))
    points = baseline + ab.unsqueeze(1) * delta
    grads = torch.func.vmap(torch.func.grad(f))(points).detach()
    hessians = torch.func.vmap(torch.func.hessian(f))(points).detach()
    first = torch.diag((wab.unsqueeze(1) * grads).sum(0) * delta)
    second = (wab * ab).view(-1, 1, 1).mul(hessians).sum(0) * torch.outer(delta, delta)
    return (first + second).numpy()


def _check_properties(exp, atol):
    matrices = np.stack([exp.interactions.loc[label].to_numpy() for label in exp.values.index])
    np.testing.assert_allclose(matrices, matrices.transpose(0, 2, 1), atol=atol)
    np.testing.assert_allclose(matrices.sum(2), exp.values.to_numpy(), atol=atol)
    gap = (exp.predictions - exp.base_values).to_numpy()
    np.testing.assert_allclose(matrices.sum((1, 2)), gap, atol=atol)
    assert exp.interaction_delta["rows"].max() < atol
    assert exp.interaction_delta["total"].abs().max() < atol
    return matrices


def test_log_rules_integrate_moments_and_smooth_functions():
    for power in (0, 1):
        nodes, weights = log_rule(10, power)
        for k in range(20):
            assert weights @ nodes**k == pytest.approx(1 / (k + 1 + power) ** 2, rel=1e-13)
        # Against nested Gauss-Legendre: int int (ab)^power g(ab) da db = int t^power (-ln t) g(t) dt.
        g = np.cos
        a, w = np.polynomial.legendre.leggauss(60)
        a, w = (a + 1) / 2, w / 2
        ab = np.outer(a, a)
        nested = (np.outer(w, w) * ab**power * g(ab)).sum()
        assert weights @ g(nodes) == pytest.approx(nested, abs=1e-14)


def test_smooth_net_matches_nested_quadrature_oracle():
    model = _net([4, 12, 12, 1], torch.nn.Tanh)
    exp = _matches_nested_oracle(model, np.random.RandomState(0).normal(size=(50, 4)))
    assert exp.interactions.shape == (12, 4)


def _matches_nested_oracle(model, X):
    """Interactions of the first three rows of ``X`` against the nested oracle (1e-8) and the three properties."""
    explainer = skig.Explainer(model, n_steps=48).fit(X)
    exp = explainer.explain(X[:3], interactions=True)
    baseline = torch.tensor(explainer.encoded_baseline_.to_numpy()[0])

    def f(point):
        return model(point.unsqueeze(0)).squeeze()

    for position in range(3):
        oracle = _nested_oracle(f, torch.tensor(X[position]), baseline)
        np.testing.assert_allclose(exp.interactions.loc[position].to_numpy(), oracle, atol=1e-8)
    _check_properties(exp, 1e-10)
    return exp


def _relu_ig(x, baseline, w, b, v):
    """Closed-form IG of ``v . relu(W x + b)`` from ``baseline`` to ``x`` (differentiable in ``x``)."""
    start = w @ baseline + b
    slope = w @ (x - baseline)
    end = start + slope
    # Fraction of [0, 1] on which the unit is on.
    cross = -start / torch.where(slope == 0, torch.ones_like(slope), slope)
    on = torch.where(
        (start > 0) & (end > 0),
        torch.ones_like(start),
        torch.where(
            (start <= 0) & (end <= 0),
            torch.zeros_like(start),
            torch.where(start <= 0, 1 - cross, cross),
        ),
    )
    return (x - baseline) * (w.t() @ (v * on))


class _NotAChain(torch.nn.Module):
    """The same function as ``net``, written so that the chain tracer refuses it (the general engine cuts it)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x) + 0.0 * x.sum(1, keepdim=True)


@pytest.mark.parametrize("engine", ["chain", "general"])
def test_relu_net_matches_ig_of_closed_form_ig(engine):
    from skig.engine.exact import read_chain

    torch.manual_seed(3)
    d, hidden = 3, 6
    model = _net([d, hidden, 1], torch.nn.ReLU, seed=3)
    w, b = model[0].weight.detach(), model[0].bias.detach()
    v = model[2].weight.detach()[0]
    X = np.random.RandomState(1).normal(size=(40, d))
    explained = model if engine == "chain" else _NotAChain(model)
    frozen = copy.deepcopy(explained).requires_grad_(False)  # as the explainer's private copy
    assert (read_chain(frozen, torch.tensor(X[:2]), torch.tensor(X[2:4])) is None) == (engine == "general")
    explainer = skig.Explainer(explained, baseline="zero").fit(X)
    assert explainer.rule_ == "exact"
    exp = explainer.explain(X[:4], interactions=True)
    baseline = torch.zeros(d, dtype=torch.float64)
    nodes, weights = np.polynomial.legendre.leggauss(20)
    for position in range(4):
        x = torch.tensor(X[position])
        delta = x - baseline
        # phi_i(x'+beta D) jumps in derivative where a unit crosses zero on the path: split the beta integral there.
        slope, start = w @ delta, w @ baseline + b
        cuts = sorted({0.0, 1.0, *[float(c) for c in (-start / slope) if 0 < c < 1]})
        oracle = np.zeros((d, d))
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
            for node, weight in zip((nodes + 1) / 2, weights / 2, strict=True):
                beta = lo + (hi - lo) * node
                jac = torch.func.jacrev(lambda z: _relu_ig(z, baseline, w, b, v))(baseline + beta * delta)
                oracle += (hi - lo) * weight * (jac * delta.unsqueeze(0)).numpy()
        np.testing.assert_allclose(exp.interactions.loc[position].to_numpy(), oracle, atol=1e-9)
    _check_properties(exp, 1e-10)


@pytest.mark.parametrize("baseline", ["zero", "mean", "median", "rows"])
def test_deep_relu_properties_several_baselines(baseline):
    model = _net([5, 16, 16, 16, 1], torch.nn.ReLU, seed=1)
    X = np.random.RandomState(2).normal(size=(60, 5))
    chosen = X[:3] if baseline == "rows" else baseline
    explainer = skig.Explainer(model, baseline=chosen).fit(X)
    exp = explainer.explain(X[10:16], interactions=True)
    matrices = _check_properties(exp, 1e-9)
    assert np.abs(matrices - np.diag(np.diag(matrices[0]))[None]).max() > 1e-3  # off-diagonal interactions exist


@pytest.mark.parametrize("output", ["logit", "probability"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_relu_classifier_heads_properties(output, n_classes):
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.normal(size=(150, 4)), columns=list("abcd"), index=rng.permutation(1000)[:150])
    y = (X["a"] * X["b"] > 0).astype(int) + (n_classes == 3) * (X["c"] > 0.5)
    clf = MLPClassifier(hidden_layer_sizes=(12, 12), random_state=0, max_iter=400).fit(X, y)
    explainer = skig.Explainer(clf, output=output).fit(X)
    assert explainer.rule_ == "exact"
    exp = explainer.explain(X.iloc[:5], interactions=True)
    matrices = _check_properties(exp, 1e-9)
    np.testing.assert_allclose(exp.interactions.loc[X.index[2]].to_numpy(), matrices[2])


def _relu_sigmoid_ig(y, baseline, w, b, v, c, nodes, weights):
    """IG of ``sigmoid(v . relu(W y + b) + c)`` from ``baseline`` to ``y`` by Gauss-Legendre between the crossings
    (differentiable in ``y``, crossings included)."""
    delta = y - baseline
    start, slope = w @ baseline + b, w @ delta
    cuts = -start / slope
    inside = cuts[(cuts > 0) & (cuts < 1)]
    bounds = torch.sort(torch.cat((torch.zeros(1, dtype=y.dtype), inside, torch.ones(1, dtype=y.dtype)))).values
    total = torch.zeros_like(y)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        for node, weight in zip(nodes, weights, strict=True):
            pre = start + (lo + (hi - lo) * node) * slope
            z = v @ torch.relu(pre) + c
            total = total + (hi - lo) * weight * torch.sigmoid(z) * (1 - torch.sigmoid(z)) * (w.t() @ (v * (pre > 0)))
    return delta * total


def test_sigmoid_head_on_relu_matches_ig_of_ig():
    rng = np.random.RandomState(8)
    X = rng.normal(size=(120, 3))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(5,), random_state=1, max_iter=2000).fit(X, y)
    w, b = (torch.tensor(a.T) for a in (clf.coefs_[0], clf.intercepts_[0]))
    b = torch.tensor(clf.intercepts_[0])
    v, c = torch.tensor(clf.coefs_[1][:, 0]), torch.tensor(clf.intercepts_[1][0])
    explainer = skig.Explainer(clf, output="probability", baseline="zero").fit(X)
    assert explainer.rule_ == "exact"
    exp = explainer.explain(X[:3], interactions=True)
    _check_properties(exp, 1e-9)
    nodes, weights = np.polynomial.legendre.leggauss(24)
    nodes, weights = (nodes + 1) / 2, weights / 2
    baseline = torch.zeros(3, dtype=torch.float64)
    for position in range(3):
        x = torch.tensor(X[position])
        delta = x - baseline
        slope, start = w @ delta, w @ baseline + b
        cuts = sorted({0.0, 1.0, *[float(t) for t in (-start / slope) if 0 < t < 1]})
        oracle = np.zeros((3, 3))
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
            for node, weight in zip(nodes, weights, strict=True):
                beta = lo + (hi - lo) * node
                point = (baseline + beta * delta).clone().requires_grad_(True)
                jac = torch.autograd.functional.jacobian(
                    lambda z: _relu_sigmoid_ig(z, baseline, w, b, v, c, nodes, weights), point
                )
                oracle += (hi - lo) * weight * (jac * delta.unsqueeze(0)).numpy()
        np.testing.assert_allclose(exp.interactions.iloc[3 * position : 3 * position + 3].to_numpy(), oracle, atol=1e-8)


def test_one_hot_pipeline_sums_blocks():
    rng = np.random.RandomState(0)
    X = pd.DataFrame(
        {
            "income": rng.normal(50, 10, 200),
            "home": rng.choice(["other", "missing", "(pooled)"], 200),
            "age": rng.normal(40, 8, 200),
        },
        index=[f"id{i}" for i in rng.permutation(200)],
    )
    y = ((X["income"] > 50) ^ (X["home"] == "other")).astype(int)
    pre = ColumnTransformer([("num", StandardScaler(), ["income", "age"]), ("cat", OneHotEncoder(), ["home"])])
    pipe = make_pipeline(pre, MLPClassifier(hidden_layer_sizes=(10,), random_state=0, max_iter=500)).fit(X, y)
    explainer = skig.Explainer(pipe, output="probability").fit(X)
    exp = explainer.explain(X.iloc[:4][["age", "home", "income"]], interactions=True)
    assert list(exp.interactions.columns) == ["income", "home", "age"]
    matrices = _check_properties(exp, 1e-9)
    # Against the encoded columns summed into blocks.
    encoded = skig.Explainer(pipe, output="probability", features="encoded").fit(X)
    enc = encoded.explain(X.iloc[:4], interactions=True)
    blocks = explainer.encoded_feature_groups_
    to_raw = np.zeros((len(blocks), 3))
    to_raw[np.arange(len(blocks)), blocks] = 1
    for position, label in enumerate(X.index[:4]):
        summed = to_raw.T @ enc.interactions.loc[label].to_numpy() @ to_raw
        np.testing.assert_allclose(matrices[position], summed, atol=1e-9)


def test_smooth_pipeline_linear_model_has_no_interactions():
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.normal(size=(100, 3)), columns=["a", "b", "c"])
    y = (X["a"] > 0).astype(int)
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    exp = skig.Explainer(pipe, output="probability", n_steps=32).fit(X).explain(X.iloc[:3], interactions=True)
    _check_properties(exp, 1e-8)
    logit = skig.Explainer(pipe, output="logit").fit(X).explain(X.iloc[:3], interactions=True)
    matrices = _check_properties(logit, 1e-10)
    np.testing.assert_allclose(matrices, np.stack([np.diag(v) for v in logit.values.to_numpy()]), atol=1e-10)


@pytest.mark.parametrize("n_samples", [4, 64])
@pytest.mark.parametrize("activation", [torch.nn.ReLU, torch.nn.Tanh])
def test_expected_hessians(n_samples, activation):
    model = _net([4, 10, 10, 1], activation, seed=2)
    X = np.random.RandomState(5).normal(size=(80, 4))
    explainer = skig.Explainer(
        model, method="expected", baseline="sample", n_baselines=16, n_samples=n_samples, random_state=0
    ).fit(X)
    exp = explainer.explain(X[:4], interactions=True)
    matrices = np.stack([exp.interactions.loc[i].to_numpy() for i in range(4)])
    np.testing.assert_allclose(matrices, matrices.transpose(0, 2, 1), atol=1e-9)
    if n_samples >= 16 or activation is torch.nn.ReLU:
        # Exact expectation over the background (or the same background rows as exact Expected IG): rows sum to the
        # attributions up to the attributions' own quadrature error.
        tol = 1e-9 if activation is torch.nn.ReLU else 1e-3
        np.testing.assert_allclose(matrices.sum(2), exp.values.to_numpy(), atol=tol)
    # Expected Hessians of one background row is Integrated Hessians from that row.
    one = skig.Explainer(model, method="expected", baseline=X[:1], n_samples=4, random_state=0).fit(X)
    single = skig.Explainer(model, baseline=X[:1]).fit(X)
    np.testing.assert_allclose(
        one.explain(X[:2], interactions=True).interactions.to_numpy(),
        single.explain(X[:2], interactions=True).interactions.to_numpy(),
        atol=1e-10,
    )


def test_refusals():
    X = np.random.RandomState(0).normal(size=(30, 3))
    relu = _net([3, 8, 1], torch.nn.ReLU)
    with pytest.raises(ValueError, match="method='smoothgrad'"):
        skig.Explainer(relu, method="smoothgrad", random_state=0).fit(X).explain(X[:2], interactions=True)
    with pytest.raises(ValueError, match="gradient_rule='deconv'"):
        skig.Explainer(relu, gradient_rule="deconv").fit(X).explain(X[:2], interactions=True)
    with pytest.raises(ValueError, match="rule='auto' or 'exact'"):
        skig.Explainer(relu, rule="gausslegendre").fit(X).explain(X[:2], interactions=True)


def test_rows_do_not_depend_on_their_batch_and_slicing_keeps_matrices():
    model = _net([4, 16, 16, 1], torch.nn.ReLU, seed=7)
    X = np.random.RandomState(6).normal(size=(40, 4))
    explainer = skig.Explainer(model).fit(X)
    together = explainer.explain(X[:8], interactions=True)
    alone = explainer.explain(X[5:6], interactions=True)
    np.testing.assert_allclose(together.interactions.loc[5].to_numpy(), alone.interactions.loc[0].to_numpy())
    np.testing.assert_array_equal(together.loc[5].interactions.to_numpy(), together.interactions.loc[5].to_numpy())
    small = skig.Explainer(model, batch_size=3).fit(X).explain(X[:8], interactions=True)
    np.testing.assert_allclose(small.interactions.to_numpy(), together.interactions.to_numpy(), atol=1e-12)
    importance = together.interaction_importance()
    mean_abs = np.abs(_check_properties(together, 1e-9)).mean(0)
    assert len(importance) == 6 and importance.is_monotonic_decreasing
    position = {name: i for i, name in enumerate(together.values.columns)}
    for (a, b), value in importance.items():
        assert value == pytest.approx(mean_abs[position[a], position[b]])
    assert explainer.explain(X[:2]).interactions is None


def test_plots_and_shap_carry_interactions():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.normal(size=(60, 4)), columns=["a", "b", "c", "d"])
    torch.manual_seed(0)
    model = _net([4, 12, 1], torch.nn.Tanh)

    class Product(torch.nn.Module):  # a strong a x c interaction on top of a small net
        def __init__(self):
            super().__init__()
            self.net = model

        def forward(self, x):
            return self.net(x).squeeze(1) + 2.0 * x[:, 0] * x[:, 2]

    exp = skig.Explainer(Product(), n_steps=16).fit(X).explain(X.iloc[:20], interactions=True)
    assert exp.interaction_importance().index[0] == ("a", "c")
    ax = skig.plots.scatter(exp, "a")
    assert ax.get_legend() is not None or len(ax.figure.axes) == 2  # coloured by c, with a colour bar
    assert ax.figure.axes[-1].get_ylabel() == "c"
    plt.close("all")
    ax = skig.plots.interaction_heatmap(exp, max_display=3)
    shown = np.ma.filled(ax.images[0].get_array().astype(float), np.nan)
    assert shown.shape == (3, 3) and np.isnan(np.diag(shown)).all()
    assert ax.get_xticklabels()[0].get_text() in ("a", "c")
    ax = exp.loc[3].plot.interaction_heatmap()
    drawn = np.nansum(np.ma.filled(ax.images[0].get_array().astype(float), np.nan))
    np.testing.assert_allclose(drawn, np.sum(exp.interactions.loc[3].to_numpy() * (1 - np.eye(4))), atol=1e-12)
    plt.close("all")
    shap_exp = exp.to_shap(interactions=True)
    assert shap_exp.values.shape == (20, 4, 4)
    np.testing.assert_allclose(shap_exp.values.sum(2), exp.to_shap().values)
    assert exp.loc[3].to_shap(interactions=True).values.shape == (4, 4)
    with pytest.raises(ValueError, match="interactions=True"):
        skig.Explainer(Product()).fit(X).explain(X.iloc[:2]).to_shap(interactions=True)


def test_users_model_comes_back_untouched(capsys):
    model = _net([4, 8, 8, 1], torch.nn.Tanh, dtype=torch.float32).train()
    model[0].weight.requires_grad_(False)
    hook = model.register_forward_hook(lambda *args: None)
    X = np.random.RandomState(0).normal(size=(30, 4)).astype(np.float32)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    exp = skig.Explainer(model, n_steps=8, progress=True).fit(X).explain(X[:3], interactions=True)
    assert "interactions" in capsys.readouterr().err
    assert model.training and not model[0].weight.requires_grad and model[2].weight.requires_grad
    assert len(model._forward_hooks) == 1
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]) and p.grad is None
    hook.remove()
    _check_properties(exp, 1e-5)


def test_non_chain_relu_module_goes_through_the_general_engine():
    """A skip connection is no chain: segments come from the general exact engine, gradients at midpoints."""
    from skig.engine.exact import read_chain

    torch.manual_seed(4)

    class Residual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = torch.nn.Linear(4, 4)
            self.out = torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.out(x + torch.relu(self.inner(x)) + torch.relu(-x))

    model = Residual().double()
    X = np.random.RandomState(9).normal(size=(40, 4))
    assert read_chain(copy.deepcopy(model).requires_grad_(False), torch.tensor(X[:2]), torch.tensor(X[2:4])) is None
    for output in ("raw", "logit"):
        explainer = skig.Explainer(model, output=output, target=1, baseline=X[:2]).fit(X)
        assert explainer.rule_ == "exact"
        matrices = _check_properties(explainer.explain(X[5:9], interactions=True), 1e-10)
        assert np.abs(matrices - np.stack([np.diag(np.diag(m)) for m in matrices])).max() > 1e-3


@pytest.mark.parametrize("activation", [torch.nn.ReLU, torch.nn.Tanh])
def test_embedding_net_interactions_on_raw_columns(activation):
    """The path runs in the joint space of looked-up vectors and floats: each vector's coordinates are summed onto
    its code column, so the properties hold on the raw columns."""

    class EmbeddingNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(1)
            self.table = torch.nn.Embedding(5, 3)
            self.net = torch.nn.Sequential(torch.nn.Linear(2 + 3, 10), activation(), torch.nn.Linear(10, 1))

        def forward(self, x):
            return self.net(torch.cat([x[:, :2], self.table(x[:, 2].long())], dim=1))

    rng = np.random.RandomState(3)
    X = pd.DataFrame({"income": rng.normal(size=60), "age": rng.normal(size=60), "state": rng.randint(0, 5, 60)})
    explainer = skig.Explainer(EmbeddingNet(), baseline="median", n_steps=32).fit(X)
    exp = explainer.explain(X.iloc[:4], interactions=True)
    matrices = _check_properties(exp, 1e-5)
    assert list(exp.interactions.columns) == ["income", "age", "state"]
    assert np.abs(matrices[:, 2, :2]).max() > 1e-4  # the looked-up vector interacts with the floats


class _CubeGrad(torch.autograd.Function):
    """``grad * 3 x^2`` with a backward that reads a Python number (which autograd's vmap cannot batch)."""

    @staticmethod
    def forward(ctx, grad, x):
        ctx.save_for_backward(grad, x)
        return grad * 3 * x**2

    @staticmethod
    def backward(ctx, outer):
        grad, x = ctx.saved_tensors
        if not bool(torch.isfinite(outer).all().item()):
            raise ValueError("non-finite gradient")
        return outer * 3 * x**2, outer * grad * 6 * x


class _Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return _CubeGrad.apply(grad, x)


@pytest.mark.parametrize("batchable", [True, False])
def test_hessian_products_match_closed_form(batchable):
    """f(x) = x'Ax / 2 + sum_i c_i x_i^3 per row: H = (A + A') / 2 + diag(6 c x), whether autograd can batch the
    directions' backward passes or the points are repeated once per direction."""
    from skig.engine._interactions import _hessian_products

    rng = np.random.default_rng(0)
    a, c = torch.tensor(rng.normal(size=(5, 5))), torch.tensor(rng.normal(size=5))
    points, directions = torch.tensor(rng.normal(size=(7, 5))), torch.tensor(rng.normal(size=(7, 3, 5)))
    cube = (lambda x: x**3) if batchable else _Cube.apply

    def scalar_fn(x, targets):
        return 0.5 * ((x @ a) * x).sum(1) + (cube(x) * c).sum(1)

    if not batchable:  # the case the fallback is for: autograd's batched backward refuses this function
        leaf = points.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(scalar_fn(leaf, None).sum(), leaf, create_graph=True)
        with pytest.raises(RuntimeError):
            torch.autograd.grad(grad, leaf, directions.transpose(0, 1), is_grads_batched=True)
    hessians = (a + a.T) / 2 + torch.diag_embed(6 * c * points)
    expected = torch.einsum("pij,pkj->pki", hessians, directions)
    products = _hessian_products(scalar_fn, points, torch.zeros(7, dtype=torch.long), directions)
    np.testing.assert_allclose(products.numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)
    assert _hessian_products(lambda x, t: (x @ c) * 2.0, points, None, directions) is None  # affine: no products


def test_grouped_outer_products_match_a_loop():
    """Rank-one terms summed per output matrix (the exact engine's cut terms): unsorted owners, matrices with no
    terms, and more matrices than one batched product takes."""
    from skig.engine._interactions import _grouped_outer

    rng = np.random.default_rng(0)
    for n_out, most in ((300, 40), (5, 3), (4, 0)):
        counts = rng.integers(0, most + 1, size=n_out)
        rows = torch.tensor(rng.permutation(np.repeat(np.arange(n_out), counts)))
        left, right = (torch.tensor(rng.normal(size=(len(rows), 4))) for _ in range(2))
        expected = np.zeros((n_out, 4, 4))
        for row, a, b in zip(rows.numpy(), left.numpy(), right.numpy(), strict=True):
            expected[row] += np.outer(a, b)
        np.testing.assert_allclose(_grouped_outer(rows, left, right, n_out).numpy(), expected, atol=1e-12)


_SMOOTH = {
    "tanh": torch.nn.Tanh,
    "sigmoid": torch.nn.Sigmoid,
    "softplus": lambda: torch.nn.Softplus(beta=2.0, threshold=1.5),
    "gelu": torch.nn.GELU,
    "gelu-tanh": lambda: torch.nn.GELU(approximate="tanh"),
    "silu": torch.nn.SiLU,
    "elu": lambda: torch.nn.ELU(alpha=0.7),
}


@pytest.mark.parametrize("name", list(_SMOOTH))
def test_smooth_activations_read_as_steps_with_autograd_derivatives(name):
    """Each smooth activation is read as a chain step whose first and second derivatives are autograd's (either side
    of the softplus threshold and of ELU's kink: at a kink itself, a point of measure zero on a path, autograd's
    choice is its own); without ``smooth=True`` the same net is no chain."""
    from skig.engine.exact import Smooth, read_chain

    net = torch.nn.Sequential(torch.nn.Linear(3, 5), _SMOOTH[name](), torch.nn.Linear(5, 1)).double()
    rows = torch.tensor(np.random.RandomState(0).normal(size=(4, 3)))
    assert read_chain(net, rows, rows) is None
    chain = read_chain(net, rows, rows, smooth=True)
    (step,) = [step for step in chain.steps if isinstance(step, Smooth)]
    grid = torch.linspace(-4.01, 4, 160, dtype=torch.float64)
    x = torch.cat([grid, torch.tensor([-1e-9, 1e-9, 0.7499999, 0.7500001], dtype=torch.float64)])
    activation = net[1]
    first = torch.func.vmap(torch.func.grad(lambda v: activation(v)))(x)
    second = torch.func.vmap(torch.func.grad(torch.func.grad(lambda v: activation(v))))(x)
    found_first, found_second = step.derivatives(x)
    np.testing.assert_allclose(step.forward(x).numpy(), activation(x).numpy(), rtol=0, atol=1e-15)
    np.testing.assert_allclose(found_first.numpy(), first.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(found_second.numpy(), second.numpy(), rtol=1e-12, atol=1e-14)


def test_smooth_chain_matches_nested_quadrature_oracle_without_hessian_products(monkeypatch):
    """A chain of Linear, BatchNorm (eval), SiLU, softplus, GELU and a final sigmoid inside the module: the forward
    tangents alone (no Hessian-vector product is taken) match the nested oracle."""
    import skig.engine._interactions as engine

    def refused(*args, **kwargs):
        raise AssertionError("a smooth chain must not take Hessian-vector products")

    monkeypatch.setattr(engine, "_hessian_products", refused)
    torch.manual_seed(3)
    norm = torch.nn.BatchNorm1d(9)
    norm.running_mean.normal_()
    norm.running_var.uniform_(0.5, 2.0)
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 9), norm, torch.nn.SiLU(), torch.nn.Linear(9, 7), torch.nn.Softplus(beta=1.5),
        torch.nn.Linear(7, 6), torch.nn.GELU(), torch.nn.Linear(6, 1), torch.nn.Sigmoid(),
    ).double().eval()  # fmt: skip
    _matches_nested_oracle(model, np.random.RandomState(1).normal(size=(50, 4)))


def _without_chain(monkeypatch):
    import skig.engine._interactions as engine

    monkeypatch.setattr(engine, "read_chain", lambda *args, **kwargs: None)


@pytest.mark.parametrize("case", ["softmax", "one-hot-sigmoid", "float32"])
def test_smooth_chain_agrees_with_hessian_vector_products(case, monkeypatch):
    """Forward tangents against the Hessian-vector products of the explained function: a softmax probability head
    (its own Hessian), a one-hot Pipeline with a sigmoid head (raw blocks of several encoded columns), float32."""
    rng = np.random.RandomState(4)
    X = pd.DataFrame(rng.normal(size=(120, 3)), columns=["a", "b", "c"])
    if case == "float32":
        model = _net([3, 16, 8, 2], torch.nn.Tanh, seed=5, dtype=torch.float32)
        explainer = skig.Explainer(model, output="raw", target=1, n_steps=12).fit(X.to_numpy())
        rows, tol = X.to_numpy()[:5], 1e-6
    else:
        y = (X["a"] * X["b"] > 0).astype(int) + (case == "softmax") * (X["c"] > 0.5)
        if case == "one-hot-sigmoid":
            X["home"] = rng.choice(["own", "rent", "other"], len(X))
            pre = ColumnTransformer([("num", StandardScaler(), ["a", "b", "c"]), ("cat", OneHotEncoder(), ["home"])])
            model = make_pipeline(pre, MLPClassifier((8,), activation="logistic", random_state=0, max_iter=300))
        else:
            model = MLPClassifier((10, 6), activation="tanh", random_state=0, max_iter=300)
        explainer = skig.Explainer(model.fit(X, y), output="probability", n_steps=12).fit(X)
        rows, tol = X.iloc[:5], 1e-12
    tangents = explainer.explain(rows, interactions=True).interactions.to_numpy()
    _without_chain(monkeypatch)
    products = explainer.explain(rows, interactions=True).interactions.to_numpy()
    np.testing.assert_allclose(tangents, products, rtol=0, atol=tol * np.abs(products).max())

"""Exact Integrated Gradients on piecewise-linear networks: closed forms, dense quadrature, every layer and head."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from exact_helpers import frozen_copy, pick, random_rows
from torch import nn

from skig.engine import Paths, path_gradients, quadrature
from skig.engine.exact import _crossings, _general, piecewise_linear_violations
from skig.engine.exact import exact_path_integrals as integrate_exactly
from skig.models._heads import OutputHead
from skig.models._sklearn import MLPScores

ENGINE = {"name": "auto"}


@pytest.fixture(autouse=True, params=["chain", "chain, torch cut", "general"])
def engine(request, monkeypatch):
    """Every test runs on both engines, chosen explicitly: the level-by-level one for chains of affine layers and
    hinges (with its compiled CPU cut, and with the torch operators CUDA uses; modules that are no chain take the
    general engine there, as under ``engine="auto"``), and the general one (recorded forward passes)."""
    monkeypatch.setitem(ENGINE, "name", "general" if request.param == "general" else "auto")
    if request.param == "chain, torch cut":
        monkeypatch.setattr(_crossings, "compiled_available", lambda values: False)
    return request.param


def exact_path_integrals(*args, **kwargs):
    """:func:`skig.engine.exact.exact_path_integrals` on the engine under test."""
    return integrate_exactly(*args, **{"engine": ENGINE["name"], **kwargs})


def mlp(widths, dtype=torch.float64, seed=0, activation=nn.ReLU, scale=1.0) -> nn.Module:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        if i:
            layers.append(activation())
        layers.append(nn.Linear(n_in, n_out))
    module = nn.Sequential(*layers)
    with torch.no_grad():
        for param in module.parameters():
            param.mul_(scale)
    return frozen_copy(module, dtype)


def quadrature_ig(module, head, starts, ends, targets, n_steps):
    """Composite Gauss-Legendre IG (8 nodes per panel) through skig's batched engine, each path from its own start.

    Composite, because one rule of thousands of nodes is slow to build and converges no faster across kinks.
    """
    nodes, node_weights = (torch.as_tensor(v, dtype=torch.float64) for v in quadrature("gausslegendre", 8))
    n_panels = n_steps // 8
    alphas = ((torch.arange(n_panels, dtype=torch.float64).unsqueeze(1) + nodes) / n_panels).reshape(-1)
    weights = (node_weights / n_panels).repeat(n_panels)
    n_steps = alphas.shape[0]
    n_paths = ends.shape[0]
    paths = Paths(
        ends=ends,
        starts=starts,
        start_index=torch.arange(n_paths).unsqueeze(1).expand(n_paths, n_steps),
        alpha=alphas.to(ends.dtype),
        weight=weights,
        targets=targets,
    )
    return path_gradients(lambda points, t: head(module(points), t), paths, max_points=2**16)


def assert_matches_quadrature(exact, module, head, starts, ends, targets):
    """The exact answer lies within the error of dense composite Gauss-Legendre, estimated from two resolutions.

    The integrand (a gradient) jumps at every kink, so quadrature converges only as 1/n; a wrong gradient anywhere on
    the path is off by far more than that error.
    """
    fine = quadrature_ig(module, head, starts, ends, targets, 8192)
    coarse = quadrature_ig(module, head, starts, ends, targets, 2048)
    error = (coarse - fine).abs().max()
    assert error <= 1e-2 * fine.abs().max()  # the bound below is tight enough to catch a wrong gradient
    assert (exact - fine).abs().max() <= 2 * error + 1e-12


def completeness_gap(module, head, starts, ends, targets, attributions):
    with torch.no_grad():
        change = head(module(ends).double(), targets) - head(module(starts).double(), targets)
    return (attributions.sum(1) - change).abs(), change.abs()


class _Lambda(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


class _Residual(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def _relu_in_place(x: torch.Tensor) -> torch.Tensor:
    y = x * 1.0
    y.relu_()
    return y


def test_hand_built_net_has_breakpoints_attributions_and_segments_in_closed_form():
    # x1 feeds h0 = relu(x1 - 0.2), h1 = relu(x1 - 0.5), then u = relu(h0 + h1 - 0.4); x2 feeds 2 relu(x2 - 0.3).
    # Along (0, 0) -> (1, 1): kinks at 0.2, 0.3, 0.5 and 0.55 (where 2a - 1.1 = 0): 5 segments;
    # attributions are u(1) = 0.9 and 2 * 0.7 = 1.4, each feature moving only its own branch.
    first = nn.Linear(2, 3)
    second = nn.Linear(3, 2)
    out = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
        first.bias.copy_(torch.tensor([-0.2, -0.5, -0.3]))
        second.weight.copy_(torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
        second.bias.copy_(torch.tensor([-0.4, 0.0]))
        out.weight.copy_(torch.tensor([[1.0, 2.0]]))
    for dtype in (torch.float64, torch.float32):
        module = frozen_copy(nn.Sequential(first, nn.ReLU(), second, nn.ReLU(), out), dtype)
        starts = torch.zeros(2, 2, dtype=dtype)
        ends = torch.tensor([[1.0, 1.0], [1.0, 0.0]], dtype=dtype)  # second path: only x1's three kinks
        attributions, segments = exact_path_integrals(
            module, pick, starts, ends, torch.zeros(2, dtype=torch.long), max_points=64
        )
        np.testing.assert_allclose(attributions.numpy(), [[0.9, 1.4], [0.9, 0.0]], atol=1e-6)
        assert segments.tolist() == [5, 4]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_random_relu_mlp_matches_dense_quadrature_and_is_complete_on_every_row(dtype):
    module = mlp([6, 32, 32, 3], dtype=dtype)
    ends = random_rows(12, 6, dtype)
    starts = ends.mean(0, keepdim=True).expand_as(ends).contiguous()
    targets = torch.arange(12) % 3
    exact, segments = exact_path_integrals(module, pick, starts, ends, targets, max_points=512)
    assert segments.min() > 5  # the paths do cross kinks
    gap, change = completeness_gap(module, pick, starts, ends, targets, exact)
    if dtype == torch.float64:
        assert_matches_quadrature(exact, module, pick, starts, ends, targets)
        assert (gap <= 1e-10 * change + 1e-13).all()
    else:
        # The same network in float64, exactly: float32 only adds its rounding.
        module64 = frozen_copy(module, torch.float64)
        exact64, segments64 = exact_path_integrals(
            module64, pick, starts.double(), ends.double(), targets, max_points=512
        )
        assert torch.equal(segments, segments64)
        assert (exact - exact64).abs().max() <= 1e-6 * exact64.abs().max()
        assert (gap <= 1e-5 * change + 1e-6).all()


def test_units_on_their_threshold_at_the_start_and_repeated_crossings():
    # No biases and a zero baseline: every first-layer unit sits on its threshold at alpha 0. Duplicated rows of the
    # first layer cross at the same alpha.
    torch.manual_seed(3)
    first = nn.Linear(4, 8, bias=False)
    with torch.no_grad():
        first.weight[4:] = first.weight[:4]
    module = frozen_copy(nn.Sequential(first, nn.ReLU(), nn.Linear(8, 8, bias=False), nn.ReLU(), nn.Linear(8, 1)))
    ends = random_rows(6, 4)
    starts = torch.zeros_like(ends)
    targets = torch.zeros(6, dtype=torch.long)
    exact, _ = exact_path_integrals(module, pick, starts, ends, targets, max_points=256)
    assert_matches_quadrature(exact, module, pick, starts, ends, targets)
    gap, change = completeness_gap(module, pick, starts, ends, targets, exact)
    assert (gap <= 1e-10 * change + 1e-13).all()


def _layer_cases():
    width = 8
    bn = nn.BatchNorm1d(width)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 2)
        bn.bias.uniform_(-1, 1)
    return {
        "ReLU": nn.ReLU(),
        "LeakyReLU": nn.LeakyReLU(0.1),
        "PReLU": nn.PReLU(width, init=0.3),
        "PReLU, one slope": nn.PReLU(init=0.2),
        "abs": _Lambda(torch.abs),
        "ReLU6": nn.ReLU6(),
        "Hardtanh": nn.Hardtanh(-0.5, 0.5),
        "clamp": _Lambda(lambda x: torch.clamp(x, min=-0.3, max=0.4)),
        "clamp_min": _Lambda(lambda x: x.clamp_min(0.1)),
        "clamp_max": _Lambda(lambda x: torch.clamp_max(x, 0.2)),
        "BatchNorm1d+ReLU": nn.Sequential(bn, nn.ReLU()),
        "Dropout+ReLU": nn.Sequential(nn.Dropout(0.5), nn.ReLU()),
        "Identity+ReLU": nn.Sequential(nn.Identity(), nn.ReLU()),
        "Flatten+ReLU": nn.Sequential(nn.Flatten(), nn.ReLU()),
        "torch.relu": _Lambda(torch.relu),
        "F.relu": _Lambda(F.relu),
        "Tensor.relu": _Lambda(lambda x: x.relu()),
        "relu_ in place": _Lambda(_relu_in_place),
        "ReLU(inplace=True)": nn.ReLU(inplace=True),
        "F.leaky_relu": _Lambda(lambda x: F.leaky_relu(x, 0.2)),
        "skip connection": nn.Sequential(_Residual(width), nn.ReLU()),
    }


@pytest.mark.parametrize("name", list(_layer_cases()))
def test_every_supported_layer_matches_quadrature(name):
    torch.manual_seed(5)
    layer = _layer_cases()[name]
    module = frozen_copy(nn.Sequential(nn.Linear(3, 8), layer, nn.Linear(8, 8), layer, nn.Linear(8, 2)))
    assert piecewise_linear_violations(module, torch.zeros(2, 3, dtype=torch.float64)) == []
    ends = random_rows(5, 3)
    starts = -ends.flip(0)
    targets = torch.tensor([0, 1, 0, 1, 1])
    exact, segments = exact_path_integrals(module, pick, starts, ends, targets, max_points=128)
    assert segments.max() > 1
    assert_matches_quadrature(exact, module, pick, starts, ends, targets)
    gap, change = completeness_gap(module, pick, starts, ends, targets, exact)
    assert (gap <= 1e-10 * change + 1e-13).all()


def test_sklearn_mlp_rebuild_is_exact():
    rng = np.random.RandomState(0)
    coefs = [rng.normal(size=(4, 16)), rng.normal(size=(16, 16)) / 4, rng.normal(size=(16, 3))]
    intercepts = [rng.normal(size=16), rng.normal(size=16), rng.normal(size=3)]
    module = frozen_copy(MLPScores(coefs, intercepts, "relu"))
    ends = random_rows(6, 4)
    starts = torch.zeros_like(ends)
    targets = torch.tensor([0, 1, 2, 0, 1, 2])
    head = OutputHead("softmax")
    exact, segments = exact_path_integrals(
        module, lambda raw, t: head(raw, t, "probability"), starts, ends, targets, max_points=64
    )
    assert segments.min() > 2
    assert_matches_quadrature(exact, module, lambda raw, t: head(raw, t, "probability"), starts, ends, targets)


@pytest.mark.parametrize(
    "kind, space, n_outputs",
    [
        ("identity", "raw", 3),
        ("sigmoid", "probability", 1),
        ("sigmoid", "logit", 1),
        ("softmax", "probability", 3),
        ("softmax", "logit", 3),
        ("softmax", "raw", 3),
        ("decision", "raw", 1),
    ],
)
def test_heads_integrate_exactly_along_segments(kind, space, n_outputs):
    module = mlp([5, 24, 24, n_outputs], scale=2.0, seed=2)  # large logits: sigmoid and softmax saturate and turn
    fn = OutputHead(kind).in_space(space)  # linear heads take one node per segment
    ends = random_rows(8, 5)
    starts = random_rows(8, 5, seed=4)
    targets = torch.arange(8) % (2 if n_outputs == 1 else n_outputs)
    exact, _ = exact_path_integrals(module, fn, starts, ends, targets, max_points=256)
    gap, change = completeness_gap(module, fn, starts, ends, targets, exact)
    assert (gap <= 1e-10 * change + 1e-13).all()
    assert_matches_quadrature(exact, module, fn, starts, ends, targets)


@pytest.mark.parametrize("kind", ["identity", "sigmoid", "softmax", "probability", "decision"])
def test_heads_marked_linear_are_linear_and_the_others_are_not(kind):
    n_outputs = 1 if kind in ("sigmoid", "decision") else 3
    head = OutputHead(kind)
    a, b = random_rows(50, n_outputs, seed=3), random_rows(50, n_outputs, seed=4)
    if kind == "probability":
        a, b = torch.softmax(a, 1), torch.softmax(b, 1)
    targets = torch.arange(50) % (2 if n_outputs == 1 else n_outputs)
    for space in head.spaces:
        fn = head.in_space(space)
        midpoint_gap = (fn((a + b) / 2, targets) - (fn(a, targets) + fn(b, targets)) / 2).abs().max()
        assert bool(midpoint_gap < 1e-12) == fn.linear, (space, float(midpoint_gap))


def test_scalar_output_module():
    module = frozen_copy(nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 1), nn.Flatten(0)))
    head = lambda raw, t: torch.sigmoid(torch.where(t == 1, raw, -raw))  # noqa: E731
    ends, starts = random_rows(4, 3), random_rows(4, 3, seed=7)
    targets = torch.tensor([0, 1, 1, 0])
    exact, _ = exact_path_integrals(module, head, starts, ends, targets, max_points=32)
    gap, change = completeness_gap(module, head, starts, ends, targets, exact)
    assert (gap <= 1e-10 * change + 1e-13).all()


class _Square(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * x


class _RelativeScale(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / x.sum(1, keepdim=True)


@pytest.mark.parametrize(
    "layer, expected",
    [
        (nn.Tanh(), "Tanh (layer '1')"),
        (nn.SiLU(), "SiLU (layer '1')"),
        (nn.GELU(), "GELU (layer '1')"),
        (nn.Sigmoid(), "Sigmoid (layer '1')"),
        (_Lambda(torch.sigmoid), "torch.sigmoid in _Lambda (layer '1')"),
        (_Square(), "product of two input-dependent tensors"),
        (_RelativeScale(), "division by an input-dependent tensor"),
        (_Lambda(lambda x: x * (x > 0)), "Tensor.gt"),
        (_Lambda(lambda x: torch.softmax(x, 1)), "torch.softmax"),
    ],
)
def test_violations_are_named_and_refused(layer, expected):
    module = frozen_copy(nn.Sequential(nn.Linear(3, 4), layer, nn.Linear(4, 2)))
    violations = piecewise_linear_violations(module, torch.zeros(2, 3, dtype=torch.float64))
    assert any(expected in violation for violation in violations), violations
    rows = random_rows(3, 3)
    with pytest.raises(ValueError, match="not affine or piecewise-linear"):
        exact_path_integrals(module, pick, torch.zeros_like(rows), rows, torch.zeros(3, dtype=torch.long), max_points=8)


def test_batchnorm_in_training_mode_is_a_violation_and_eval_mode_is_not():
    module = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1)).double()
    probe = random_rows(4, 3)
    assert piecewise_linear_violations(module.train(), probe) == ["BatchNorm1d (layer '1') (training mode)"]
    assert piecewise_linear_violations(module.eval(), probe) == []


def test_results_do_not_depend_on_max_points():
    module = mlp([4, 16, 16, 2])
    ends = random_rows(10, 4)
    starts = torch.zeros_like(ends)
    targets = torch.arange(10) % 2
    tiny = exact_path_integrals(module, pick, starts, ends, targets, max_points=3)
    huge = exact_path_integrals(module, pick, starts, ends, targets, max_points=10**7)
    np.testing.assert_allclose(tiny[0].numpy(), huge[0].numpy(), rtol=1e-12, atol=1e-14)
    assert torch.equal(tiny[1], huge[1])


def test_zero_length_paths_and_many_paths_from_several_baselines():
    module = mlp([5, 16, 16, 1], seed=6)
    ends = random_rows(500, 5)
    baselines = random_rows(4, 5, seed=8)
    starts = baselines[torch.arange(500) % 4].clone()
    starts[:3] = ends[:3]  # rows equal to their baseline
    targets = torch.zeros(500, dtype=torch.long)
    exact, segments = exact_path_integrals(module, pick, starts, ends, targets, max_points=2048)
    assert torch.equal(exact[:3], torch.zeros(3, 5, dtype=torch.float64))
    assert segments[:3].tolist() == [1, 1, 1]
    gap, change = completeness_gap(module, pick, starts, ends, targets, exact)
    assert (gap <= 1e-10 * change + 1e-13).all()
    few, _ = exact_path_integrals(module, pick, starts[-7:], ends[-7:], targets[-7:], max_points=64)
    np.testing.assert_allclose(exact[-7:].numpy(), few.numpy(), rtol=1e-12, atol=1e-14)


def _state(module: nn.Module):
    return (
        [sub.training for sub in module.modules()],
        [param.requires_grad for param in module.parameters()],
        [param.detach().clone() for param in module.parameters()],
        [len(sub._forward_hooks) + len(sub._forward_pre_hooks) for sub in module.modules()],
    )


@pytest.mark.parametrize("layer", [nn.ReLU(), nn.Tanh()])
def test_module_is_left_as_it_was(layer):
    module = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.1), layer, nn.Linear(4, 1)).double()
    module[1].eval()
    module[0].bias.requires_grad_(False)  # mixed flags must come back exactly
    before = _state(module)
    rows = random_rows(3, 3)
    try:
        exact_path_integrals(module, pick, torch.zeros_like(rows), rows, torch.zeros(3, dtype=torch.long), max_points=8)
    except ValueError:
        assert isinstance(layer, nn.Tanh)
    after = _state(module)
    assert before[0] == after[0] and before[1] == after[1] and before[3] == after[3]
    assert all(torch.equal(a, b) for a, b in zip(before[2], after[2], strict=True))


def test_refinement_that_never_settles_raises(monkeypatch):
    def never_uniform(chunk, lo, hi, from_call):
        alpha = chunk.alpha.values
        return torch.zeros_like(lo), torch.arange(lo.shape[0]), (alpha[lo] + alpha[hi]) / 2

    monkeypatch.setattr(_general, "_split_points", never_uniform)
    module = mlp([2, 4, 1])
    rows = random_rows(2, 2)
    with pytest.raises(RuntimeError, match="did not finish"):  # the general engine's rounds
        targets = torch.zeros(2, dtype=torch.long)
        exact_path_integrals(module, pick, torch.zeros_like(rows), rows, targets, max_points=8, engine="general")

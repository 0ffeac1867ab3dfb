"""Quadrature passes through a chain of affine layers and hinges without autograd (skig/engine/_chain_passes.py):
the same sums as autograd through the module, bit-identical whatever the batch, used only where they apply."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

import skig
from skig.engine._chain_passes import chain_output_changes, chain_passes_apply, chain_path_gradients
from skig.engine._gradients import path_gradients
from skig.engine._paths import straight_paths
from skig.engine._quadrature import quadrature
from skig.engine.exact._reading import compile_chain


def chain_net(n_features: int = 6, seed: int = 0) -> torch.nn.Module:
    """Every step kind a chain holds: Linear, BatchNorm (eval), ReLU, LeakyReLU, PReLU; two outputs."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(n_features, 24),
        torch.nn.BatchNorm1d(24),
        torch.nn.ReLU(),
        torch.nn.Linear(24, 16),
        torch.nn.LeakyReLU(0.1),
        torch.nn.Linear(16, 9),
        torch.nn.PReLU(9, init=0.3),
        torch.nn.Linear(9, 2),
    ).double()
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2.0)
    return net.eval().requires_grad_(False)


def _softmax_head(raw, targets):
    return torch.softmax(raw, dim=1).gather(1, targets[:, None]).squeeze(1)


def _paths(n_rows: int, n_baselines: int, n_steps: int, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randn(n_rows, 6, generator=generator, dtype=torch.float64) * 2
    baselines = torch.randn(n_baselines, 6, generator=generator, dtype=torch.float64)
    weights = torch.rand(n_baselines, generator=generator, dtype=torch.float64) + 0.5
    targets = torch.randint(0, 2, (n_rows,), generator=generator)
    alphas, step_weights = (torch.as_tensor(v, dtype=torch.float64) for v in quadrature("gausslegendre", n_steps))
    return straight_paths(rows, baselines, weights / weights.sum(), targets, alphas, step_weights)


@pytest.mark.parametrize("n_baselines", [1, 3])
@pytest.mark.parametrize("max_points", [7, 50, 4096])
def test_chain_passes_equal_autograd_through_the_module(n_baselines, max_points):
    net = chain_net()
    paths = _paths(23, n_baselines, 10)
    chain = compile_chain(net, torch.cat((paths.starts[:2], paths.ends[:2])))
    assert chain is not None and chain_passes_apply(paths)
    found = chain_path_gradients(chain, _softmax_head, paths, max_points)
    # The oracle: autograd through the module itself, point by point.
    expected = path_gradients(lambda points, targets: _softmax_head(net(points), targets), paths, 4096)
    np.testing.assert_allclose(found.numpy(), expected.numpy(), rtol=1e-11, atol=1e-14)
    # Cut into passes inside a group (7 points) or not: the same sums, bit for bit.
    assert torch.equal(found, chain_path_gradients(chain, _softmax_head, paths, 4096))


def test_a_rows_numbers_do_not_depend_on_the_rows_beside_it():
    net = chain_net()
    paths = _paths(40, 2, 12)
    chain = compile_chain(net, torch.cat((paths.starts[:2], paths.ends[:2])))
    together = chain_path_gradients(chain, _softmax_head, paths, 300)
    for at in (0, 17, 39):
        alone = _paths(40, 2, 12)
        alone.ends, alone.targets = alone.ends[at : at + 1], alone.targets[at : at + 1]
        assert torch.equal(chain_path_gradients(chain, _softmax_head, alone, 300)[0], together[at])


def _ig_oracle(net, X, baseline, target, n_steps):
    """Gauss-Legendre IG by autograd, one row at a time, in float64."""
    alphas, weights = quadrature("gausslegendre", n_steps)
    out = np.zeros_like(X)
    for i, row in enumerate(torch.as_tensor(X)):
        points = (baseline + torch.as_tensor(alphas)[:, None] * (row - baseline)).requires_grad_(True)
        (grad,) = torch.autograd.grad(net(points)[:, target].sum(), points)
        out[i] = ((grad * torch.as_tensor(weights)[:, None]).sum(0) * (row - baseline)).numpy()
    return out


def test_the_explainer_takes_chain_passes_on_a_relu_chain_and_gives_ig():
    net = chain_net()
    X = np.random.RandomState(0).normal(size=(30, 6))
    explainer = skig.Explainer(net, rule="gausslegendre", n_steps=16, output="raw", target=1).fit(X)
    assert explainer.plan_.integrator.chain is not None
    exp = explainer.explain(X)
    baseline = torch.as_tensor(X.mean(0))
    np.testing.assert_allclose(exp.values.to_numpy(), _ig_oracle(net, X, baseline, 1, 16), rtol=1e-10, atol=1e-13)


def test_the_gradient_rows_above_the_last_hinge_are_kept_per_target_and_change_no_number():
    """The chain keeps the gradient row above its last hinge per head, target and dtype: explaining target 0, then 1,
    then a target per row gives what a freshly fitted explainer (nothing kept) gives, bit for bit."""
    net = chain_net()
    X = np.random.RandomState(0).normal(size=(30, 6))
    per_row = np.arange(30) % 2

    def fitted():
        return skig.Explainer(net, rule="gausslegendre", n_steps=16, output="raw", target=0).fit(X)

    explainer = fitted()
    chain = explainer.plan_.integrator.chain
    assert chain is not None and not chain.derived
    for target in (0, 1, per_row):
        kept = explainer.explain(X, target=target).values.to_numpy()
        fresh = fitted()
        np.testing.assert_array_equal(kept, fresh.explain(X, target=target).values.to_numpy())
    assert sorted(key[1] for key in chain.derived) == [0, 1]
    rows = dict(chain.derived)
    explainer.explain(X, target=1)
    assert all(chain.derived[key] is row for key, row in rows.items())  # reused, not made again


def test_no_chain_passes_where_they_do_not_apply():
    X = np.random.RandomState(0).normal(size=(20, 6))
    torch.manual_seed(0)
    smooth = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    assert skig.Explainer(smooth, rule="gausslegendre").fit(X).plan_.integrator.chain is None
    # Deconvolution changes the hinges' backward: the chain's own backward would not be that rule.
    deconv = skig.Explainer(chain_net(), gradient_rule="deconv", rule="gausslegendre", output="raw", target=0)
    assert deconv.fit(X).plan_.integrator.chain is None


def test_a_model_changed_after_fit_is_read_again(monkeypatch):
    import skig.engine._integration as integration

    net = chain_net()
    X = np.random.RandomState(0).normal(size=(15, 6))
    explainer = skig.Explainer(net, rule="gausslegendre", n_steps=8, output="raw", target=0).fit(X)
    reads = []
    read = integration.read_chain_only
    monkeypatch.setattr(integration, "read_chain_only", lambda *args: reads.append(1) or read(*args))
    explainer.explain(X)
    assert not reads  # the reading fit made, checked against this call's copy
    with torch.no_grad():
        net[0].weight.mul_(-1.5)
    explainer.explain(X)
    assert len(reads) == 1
    fresh = skig.Explainer(net, rule="gausslegendre", n_steps=8, output="raw", target=0).fit(X)
    np.testing.assert_array_equal(explainer.explain(X).values.to_numpy(), fresh.explain(X).values.to_numpy())
    before = skig.Explainer(chain_net(), rule="gausslegendre", n_steps=8, output="raw", target=0).fit(X).explain(X)
    assert not np.allclose(before.values.to_numpy(), fresh.explain(X).values.to_numpy())


@pytest.mark.filterwarnings("ignore:.*(still miss tol|stays large).*:UserWarning")
@pytest.mark.parametrize(
    "settings",
    [dict(n_steps=12), dict(n_steps="auto", max_steps=64), dict(method="smoothgrad", n_samples=3, n_steps=8)],
    ids=["fixed", "adaptive", "smoothgrad"],
)
def test_chain_passes_are_bit_identical_whatever_the_batch(settings):
    net = chain_net().float()
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 6)).astype(np.float32) * 2, index=rng.permutation(1000)[:60] + 7)
    common = dict(rule="gausslegendre", baseline="sample", n_baselines=3, random_state=0, output="raw", target=1)
    common |= settings
    explainer = skig.Explainer(net, **common).fit(X)
    assert explainer.plan_.integrator.chain is not None
    reference = explainer.explain(X)
    for batch_size in (5, 37, 1000):  # 5 points: every group cut into passes
        exp = skig.Explainer(net, batch_size=batch_size, **common).fit(X).explain(X)
        pd.testing.assert_frame_equal(exp.values, reference.values, check_exact=True)
    for at in (0, 29, 59):
        alone = explainer.explain(X.iloc[at : at + 1])
        pd.testing.assert_frame_equal(alone.values, reference.values.iloc[at : at + 1], check_exact=True)


def test_a_chains_output_change_is_what_its_exact_attributions_add_up_to():
    net = chain_net()
    X = np.random.RandomState(0).normal(size=(12, 6)) * 3
    exact = skig.Explainer(net, rule="exact", baseline="kmeans", n_baselines=3, output="probability").fit(X)
    exp = exact.explain(X)
    quadrature = skig.Explainer(net, rule="gausslegendre", baseline="kmeans", n_baselines=3, output="probability")
    quadrature.fit(X)
    chain = quadrature.plan_.integrator.chain
    inputs = torch.as_tensor(X)
    baselines = torch.tensor(exact.encoded_baseline_.to_numpy())
    targets = torch.tensor(exp.target.to_numpy())
    changes = chain_output_changes(
        chain, _softmax_head, inputs, targets, baselines, torch.as_tensor(exact.baseline_weights_)
    )
    np.testing.assert_allclose(changes.numpy(), exp.values.sum(axis=1).to_numpy(), rtol=1e-9, atol=1e-12)


def _warnings(explainer, X):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exp = explainer.explain(X)
    return exp, [w for w in caught if "stays large" in str(w.message)]


def test_the_completeness_guard_checks_a_chain_without_integrating(monkeypatch):
    import skig._gradient_guard as guard

    net = chain_net()
    X = np.random.RandomState(0).normal(size=(40, 6)) * 3
    explainer = skig.Explainer(net, rule="gausslegendre", n_steps=3, output="raw", target=1).fit(X)
    refits = []
    original = guard.check_completeness

    def spy(method, problem, attributions, steps, index, refit, refit_exact):
        return original(
            method,
            problem,
            attributions,
            steps,
            index,
            lambda n: refits.append(n) or refit(n),
            lambda: refits.append("exact") or refit_exact(),
        )

    monkeypatch.setattr(skig._explainer, "check_completeness", spy)
    exp, stays = _warnings(explainer, X)
    # 3 steps leave large deltas; quadrature error alone, which exact integration closes: no warning, no refit.
    assert np.abs(exp.delta.to_numpy()).max() > 0.05 * np.abs(exp.predictions - exp.base_values).max()
    assert not stays and not refits
    # The guard warns when the chain's output change is not the module's (as if the module jumped).
    monkeypatch.setattr(guard, "chain_output_changes", lambda *args: torch.zeros(args[2].shape[0], dtype=torch.float64))
    assert _warnings(explainer, X)[1]


def test_pass_buffers_kept_between_calls_change_no_number(monkeypatch):
    """Each thread's pass buffers (engine/_chain_passes.py: _buffer) are reused across passes, calls and chains of
    other widths and dtypes; a pass never reads what an earlier one left there, and buffers above the kept size are
    dropped after the pass."""
    from skig.engine import _chain_passes

    net = chain_net()
    paths = _paths(23, 2, 10)
    chain = compile_chain(net, torch.cat((paths.starts[:2], paths.ends[:2])))
    first = chain_path_gradients(chain, _softmax_head, paths, 64)
    assert _chain_passes._kept.buffers  # kept after the call
    for held in _chain_passes._kept.buffers.values():
        held.fill_(float("nan"))  # anything a pass read without writing first would show
    # Another chain between the calls: other widths, in float32.
    torch.manual_seed(3)
    other = torch.nn.Sequential(torch.nn.Linear(6, 40), torch.nn.ReLU(), torch.nn.Linear(40, 1)).eval()
    other.requires_grad_(False)
    floats = {name: getattr(paths, name).float() for name in ("ends", "starts", "alpha", "weight")}
    float_paths = dataclasses.replace(paths, targets=paths.targets * 0, **floats)
    other_chain = compile_chain(other, float_paths.starts)
    assert other_chain is not None and chain_passes_apply(float_paths)
    chain_path_gradients(other_chain, lambda raw, targets: raw[:, 0], float_paths, 64)
    assert torch.equal(chain_path_gradients(chain, _softmax_head, paths, 64), first)
    monkeypatch.setattr(_chain_passes, "KEPT_BUFFER_BYTES", 0)
    assert torch.equal(chain_path_gradients(chain, _softmax_head, paths, 64), first)
    assert not _chain_passes._kept.buffers


@pytest.mark.parametrize("n", [1, 2, 3, 8, 999, 1000])
def test_the_guards_median_is_numpys(n):
    from skig._gradient_guard import _median

    values = np.abs(np.random.RandomState(n).standard_cauchy(n))
    assert _median(values) == np.median(values)
    assert _median(values[:0]) == 0.0

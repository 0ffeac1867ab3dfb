"""Adaptive steps by the nested trapezoid rule: each doubling adds only the midpoints, stops on each reported column's
change and on completeness, and is what ``rule="auto", n_steps="auto"`` takes on hinged nets that are not
piecewise-linear (a gated FFN, as in transformers)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import skig
from skig.engine._integration import refine_nested
from skig.engine._quadrature import quadrature


class Gated(torch.nn.Module):
    """A ReGLU block: ``a * relu(b)`` is not piecewise-linear, and its gradient jumps where ``b`` crosses zero."""

    def __init__(self, d=6, hidden=32):
        super().__init__()
        self.inner = torch.nn.Linear(d, 2 * hidden)
        self.outer = torch.nn.Linear(hidden, 1)

    def forward(self, x):
        a, b = self.inner(x).chunk(2, dim=-1)
        return self.outer(a * torch.relu(b))


def gated(dtype=torch.float64):
    torch.manual_seed(0)
    return Gated().to(dtype)


def frame(n=40, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n, d)) * 2, columns=[f"x{j}" for j in range(d)])


@pytest.mark.parametrize("method", ["ig", "smoothgrad"])
def test_nested_doubling_equals_the_trapezoid_rule_at_the_points_each_row_ended_with(method):
    X = frame()
    common = dict(method=method, rule="riemann_trapezoid", n_samples=3, random_state=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*still miss tol")  # rows at the cap: the same numbers
        exp = skig.Explainer(gated(), n_steps="auto", tol=2e-3, **common).fit(X).explain(X)
    counts = exp.n_steps.unique()
    assert len(counts) > 2 and set(counts) <= {9, 17, 33, 65, 129, 257, 513}
    for n_points in counts:
        rows = exp.n_steps.index[exp.n_steps == n_points]
        direct = skig.Explainer(gated(), n_steps=int(n_points), **common).fit(X).explain(X.loc[rows])
        np.testing.assert_allclose(exp.values.loc[rows], direct.values, rtol=0, atol=1e-12)


def test_rule_auto_takes_the_nested_trapezoid_only_where_adaptive_steps_meet_hinges_off_a_piecewise_linear_net():
    X = frame()
    assert skig.Explainer(gated(), n_steps="auto").fit(X).rule_ == "riemann_trapezoid"
    assert skig.Explainer(gated()).fit(X).rule_ == "gausslegendre"  # fixed steps: as Captum's default
    assert skig.Explainer(gated(), n_steps="auto", max_steps=2).fit(X).rule_ == "gausslegendre"  # no doubling room
    torch.manual_seed(0)
    smooth = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).double()
    assert skig.Explainer(smooth, n_steps="auto").fit(X).rule_ == "gausslegendre"
    relu = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1)).double()
    assert skig.Explainer(relu, n_steps="auto").fit(X).rule_ == "exact"


@pytest.mark.parametrize("tol", [1e-2, 3e-3])
def test_nested_steps_keep_each_column_and_the_sum_within_about_tol(tol):
    X = frame(60)
    net = gated()
    exp = skig.Explainer(net, n_steps="auto", tol=tol).fit(X).explain(X)
    truth = skig.Explainer(net, rule="gausslegendre", n_steps=4096).fit(X).explain(X).values.to_numpy()
    # Rows at the cap (at most 513 points under max_steps=1024) were named in a warning; the others passed both tests.
    done = (exp.n_steps < 513).to_numpy()
    assert done.mean() > 0.9
    column_error = np.abs(exp.values.to_numpy() - truth).max(1) / np.abs(truth).sum(1)
    assert column_error[done].max() <= 2 * tol
    change = np.abs(exp.predictions - exp.base_values).to_numpy()
    assert (np.abs(exp.delta.to_numpy()) <= tol * change + 1e-12)[done].all()
    assert exp.n_steps.mean() < 0.5 * exp.n_steps.max()  # easy rows stop early


def quadratic(groups, alphas, weights, *, scale=(1.0, -1.0)):
    """``attribute_at`` of a made-up integrand: coordinate k of group g is ``scale[k] * (g + 1) * alpha^2``."""
    alphas, weights = (torch.as_tensor(v, dtype=torch.float64) for v in (alphas, weights))
    base = (weights * alphas**2).sum() * (groups.double() + 1)
    return torch.stack([s * base for s in scale], 1)


def test_the_change_is_judged_on_reported_columns():
    # The two coordinates fold onto one column, where their changes cancel: judged there, one doubling passes;
    # judged apart, each coordinate keeps changing and the rows double to max_steps.
    groups = torch.arange(3)
    zeros = torch.zeros(3, dtype=torch.float64)
    common = dict(tol=1e-5, start_steps=8, max_steps=65, eps=1e-16)
    _, folded = refine_nested(quadratic, zeros, zeros, groups, 3, columns=torch.tensor([0, 0]), **common)
    assert folded.tolist() == [9, 9, 9]
    with pytest.warns(UserWarning, match=r"3 row\(s\) still miss tol=1e-05 at max_steps=65"):
        values, apart = refine_nested(quadratic, zeros, zeros, groups, 3, **common)
    assert apart.tolist() == [65, 65, 65]
    exact = quadrature("riemann_trapezoid", 65)
    expected = float((exact[1] * exact[0] ** 2).sum())
    np.testing.assert_allclose(values[:, 0].numpy(), expected * np.arange(1, 4), rtol=1e-14)


def test_only_failing_rows_are_refined_and_no_point_is_taken_twice():
    taken = []

    def attribute_at(groups, alphas, weights):
        taken.append((groups.tolist(), np.asarray(alphas, dtype=np.float64)))
        # row 1's integrand has a kink that coarse grids miss: it keeps changing as its steps double
        alphas, weights = (torch.as_tensor(v, dtype=torch.float64) for v in (alphas, weights))
        smooth = (weights * alphas).sum().expand(len(groups))
        kink = (weights * torch.relu(alphas - 0.53) * 40).sum() * (groups == 1)
        return torch.stack([smooth + kink, smooth], 1)

    ends = torch.tensor([1.0, 1.0 + 20 * 0.47**2], dtype=torch.float64)  # what each row's attributions add up to
    common = dict(tol=1e-3, start_steps=8, max_steps=1025, eps=1e-16)
    values, steps = refine_nested(attribute_at, ends, torch.zeros(2, dtype=torch.float64), torch.arange(2), 2, **common)
    assert taken[0][0] == [0, 1] and np.allclose(taken[0][1], np.linspace(0, 1, 5))  # 4 intervals
    assert taken[1][0] == [0, 1] and np.allclose(taken[1][1], [1 / 8, 3 / 8, 5 / 8, 7 / 8])  # their midpoints
    assert len(taken) > 2 and all(groups == [1] for groups, _ in taken[2:])  # only the kinked row goes on
    assert steps[0] == 9 and 9 < steps[1] < 1025
    alphas = np.concatenate([a for _, a in taken])
    assert len(np.unique(alphas.round(12))) == len(alphas) == steps[1]  # row 1's points, each taken once
    np.testing.assert_allclose(values[1].sum(), ends[1], rtol=1e-3)


def test_nested_steps_are_bit_identical_whatever_the_batch():
    net = gated(torch.float32)
    X = frame(90).astype(np.float32)
    X.index = np.random.default_rng(1).permutation(1000)[:90] + 7
    common = dict(n_steps="auto", tol=3e-3, baseline="sample", n_baselines=3, random_state=0)
    reference = skig.Explainer(net, **common).fit(X).explain(X)
    assert reference.n_steps.nunique() > 2
    for batch_size in (37, 1000):
        exp = skig.Explainer(net, batch_size=batch_size, **common).fit(X).explain(X)
        pd.testing.assert_frame_equal(exp.values, reference.values, check_exact=True)
        pd.testing.assert_series_equal(exp.n_steps, reference.n_steps, check_exact=True)
    explainer = skig.Explainer(net, **common).fit(X)
    for at in (0, 41, 89):
        alone = explainer.explain(X.iloc[at : at + 1])
        pd.testing.assert_frame_equal(alone.values, reference.values.iloc[at : at + 1], check_exact=True)

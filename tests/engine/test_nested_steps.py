"""Adaptive steps by the trapezoid rule, interval by interval: each line's intervals are bisected where its integrand
changes, the error bound of each reported column and completeness stop it, and it is what ``rule="auto",
n_steps="auto"`` takes on hinged nets that are not piecewise-linear (a gated FFN, as in transformers)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import skig
from skig.engine import _integration
from skig.engine._integration import refine_intervals


class Gated(torch.nn.Module):
    """A ReGLU block: ``a * relu(b)`` is not piecewise-linear, and its gradient jumps where ``b`` crosses zero."""

    def __init__(self, d=6, hidden=32, outputs=1):
        super().__init__()
        self.inner = torch.nn.Linear(d, 2 * hidden)
        self.outer = torch.nn.Linear(hidden, outputs)

    def forward(self, x):
        a, b = self.inner(x).chunk(2, dim=-1)
        return self.outer(a * torch.relu(b))


def gated(dtype=torch.float64, outputs=1):
    torch.manual_seed(0)
    return Gated(outputs=outputs).to(dtype)


def frame(n=40, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n, d)) * 2, columns=[f"x{j}" for j in range(d)])


def trapezoid(alphas, values):
    """The trapezoid rule through the given points, written apart from the engine."""
    order = np.argsort(alphas)
    alphas, values = alphas[order], values[order]
    return (np.diff(alphas)[:, None] * (values[1:] + values[:-1]) / 2).sum(0)


@pytest.mark.parametrize("outputs", [1, 3])
def test_each_row_gets_the_trapezoid_rule_through_its_own_points(monkeypatch, outputs):
    # Every point the engine takes is recorded; the trapezoid rule through each row's points, with the gradients
    # taken here by autograd from every baseline for the row's own output, gives the row's attributions (at alpha 0
    # the engine takes each baseline's gradient once per output).
    taken = []
    points = _integration.Lines.points

    def recording(self, groups, alphas):
        taken.append((groups.clone(), alphas.clone()))
        return points(self, groups, alphas)

    monkeypatch.setattr(_integration.Lines, "points", recording)
    X, net = frame(12), gated(outputs=outputs)
    explainer = skig.Explainer(net, n_steps="auto", tol=3e-3, baseline="sample", n_baselines=3, random_state=0)
    targets = np.arange(len(X)) % outputs
    exp = explainer.fit(frame(200, seed=1)).explain(X, target=targets)
    groups = torch.cat([g for g, _ in taken]).numpy()
    alphas = torch.cat([a for _, a in taken]).numpy()
    baselines = explainer.encoded_baseline_.to_numpy()
    weights = explainer.baseline_weights_
    assert len(taken) > 2 and exp.n_steps.nunique() > 2
    np.testing.assert_array_equal(taken[0][1].numpy(), np.tile(np.linspace(0, 1, 9), len(X)))  # tol < 0.05: 9
    for row in range(len(X)):
        mine = alphas[groups == row]
        assert len(np.unique(mine)) == len(mine) == exp.n_steps.iloc[row]  # no point taken twice
        x = torch.tensor(X.to_numpy()[row], dtype=torch.float64)
        integrand = np.zeros((len(mine), X.shape[1]))
        for base, weight in zip(baselines, weights, strict=True):
            start = torch.tensor(base, dtype=torch.float64)
            path = (start + torch.tensor(mine)[:, None] * (x - start)).requires_grad_(True)
            (gradient,) = torch.autograd.grad(net(path)[:, targets[row]].sum(), path)
            integrand += weight * (gradient * (x - start)).numpy()
        np.testing.assert_allclose(exp.values.iloc[row], trapezoid(mine, integrand), rtol=0, atol=1e-12)


def test_rule_auto_takes_the_adaptive_trapezoid_only_where_adaptive_steps_meet_hinges_off_a_piecewise_linear_net():
    X = frame()
    assert skig.Explainer(gated(), n_steps="auto").fit(X).rule_ == "riemann_trapezoid"
    assert skig.Explainer(gated()).fit(X).rule_ == "gausslegendre"  # fixed steps: as Captum's default
    assert skig.Explainer(gated(), n_steps="auto", max_steps=2).fit(X).rule_ == "gausslegendre"  # no room to bisect
    torch.manual_seed(0)
    smooth = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).double()
    assert skig.Explainer(smooth, n_steps="auto").fit(X).rule_ == "gausslegendre"
    relu = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1)).double()
    assert skig.Explainer(relu, n_steps="auto").fit(X).rule_ == "exact"


@pytest.mark.parametrize("tol", [1e-2, 3e-3])
def test_adaptive_steps_keep_each_column_and_the_sum_within_about_tol(tol):
    X = frame(60)
    net = gated()
    exp = skig.Explainer(net, n_steps="auto", tol=tol).fit(X).explain(X)
    truth = skig.Explainer(net, rule="gausslegendre", n_steps=4096).fit(X).explain(X).values.to_numpy()
    column_error = np.abs(exp.values.to_numpy() - truth).max(1) / np.abs(truth).sum(1)
    assert column_error.max() <= tol
    change = np.abs(exp.predictions - exp.base_values).to_numpy()
    assert (np.abs(exp.delta.to_numpy()) <= tol * change + 1e-12).all()
    assert exp.n_steps.min() < 0.5 * exp.n_steps.max()  # easy rows stop early
    # The same points spread evenly over every row do worse on the worst row.
    even = skig.Explainer(net, rule="riemann_trapezoid", n_steps=round(exp.n_steps.mean())).fit(X).explain(X)
    even_error = np.abs(even.values.to_numpy() - truth).max(1) / np.abs(truth).sum(1)
    assert even_error.max() > 1.5 * column_error.max()


def kinked(taken):
    """``attribute_points`` of a made-up integrand: column 0 is ``alpha`` on every group; on group 1, column 1 jumps by
    40 at alpha = 0.53 (a hinge the first points miss). Records the points asked for."""

    def attribute_points(groups, alphas):
        taken.append((groups.clone(), alphas.clone()))
        jump = 40.0 * (alphas > 0.53) * (groups == 1)
        return torch.stack([alphas.double(), jump.double()], 1)

    return attribute_points


def test_points_go_where_the_integrand_jumps_and_only_failing_groups_are_refined():
    taken = []
    ends = torch.tensor([0.5, 0.5 + 40 * 0.47], dtype=torch.float64)  # what each group's attributions add up to
    common = dict(tol=1e-3, start_steps=8, max_steps=1025, eps=1e-16)
    values, steps = refine_intervals(
        kinked(taken), ends, torch.zeros(2, dtype=torch.float64), torch.arange(2), 2, **common
    )
    first_groups, first_alphas = taken[0]
    assert first_groups.tolist() == [0] * 5 + [1] * 5
    np.testing.assert_allclose(first_alphas.numpy(), np.tile(np.linspace(0, 1, 5), 2))  # 4 intervals each
    later = torch.cat([a for _, a in taken[1:]]).numpy()
    assert all(set(g.tolist()) == {1} for g, _ in taken[1:])  # only the group with the jump goes on
    assert steps[0] == 5
    # Each round bisects the one interval holding the jump: its width halves until h * 40 / 2 <= tol * 19.3.
    assert np.abs(later - 0.53).max() < 0.1 and len(later) == len(taken) - 1 < 12
    assert steps[1] == 5 + len(later)
    alphas = np.concatenate([first_alphas.numpy()[5:], later])
    assert len(np.unique(alphas)) == len(alphas)  # no point taken twice
    np.testing.assert_allclose(values[1, 1], 40 * 0.47, rtol=1e-3)
    np.testing.assert_allclose(values[:, 0].numpy(), [0.5, 0.5], rtol=1e-14)  # linear: exact at any points


def quadratic(groups, alphas, *, scale=(1.0, -1.0)):
    """``attribute_points`` of a made-up integrand: coordinate k of group g is ``scale[k] * (g + 1) * alpha^2``."""
    base = alphas.double() ** 2 * (groups.double() + 1)
    return torch.stack([s * base for s in scale], 1)


def test_the_error_bound_is_judged_on_reported_columns():
    # The two coordinates fold onto one column, where their changes cancel: judged there, the first points pass;
    # judged apart, each coordinate's bound stays above tol and the groups go on to max_steps.
    groups = torch.arange(3)
    zeros = torch.zeros(3, dtype=torch.float64)
    common = dict(tol=1e-5, start_steps=8, max_steps=50, eps=1e-16)
    _, folded = refine_intervals(quadratic, zeros, zeros, groups, 3, columns=torch.tensor([0, 0]), **common)
    assert folded.tolist() == [5, 5, 5]
    with pytest.warns(UserWarning, match=r"3 row\(s\) still miss tol=1e-05 at max_steps=50"):
        values, apart = refine_intervals(quadratic, zeros, zeros, groups, 3, **common)
    # 5, 9, 17, 33 points, then 17 of the 32 intervals (those with the largest bounds) bisected: never beyond
    assert apart.tolist() == [50, 50, 50]
    np.testing.assert_allclose(values[:, 0].numpy(), np.arange(1, 4) / 3, rtol=1e-3)


def test_a_row_with_several_groups_reports_its_largest_count_and_the_cap_is_kept():
    taken = []
    ends = torch.tensor([0.5, 0.5 + 40 * 0.47], dtype=torch.float64)
    common = dict(tol=1e-6, start_steps=8, max_steps=20, eps=1e-16)
    with pytest.warns(UserWarning, match=r"1 row\(s\) still miss tol=1e-06 at max_steps=20"):
        _, steps = refine_intervals(
            kinked(taken), ends, torch.zeros(2, dtype=torch.float64), torch.tensor([0, 0]), 1, **common
        )
    assert steps.tolist() == [20]
    assert (torch.cat([g for g, _ in taken]) == 1).sum() == 20


def test_the_gradients_at_the_baselines_ride_in_the_first_pass(monkeypatch):
    # The integrand at alpha 0 needs each baseline's gradient once per output: taken in the first pass beside the path
    # points (a pass fewer), or in a pass of its own where they would crowd small passes; the same numbers either way.
    calls = []
    taken = _integration.input_gradients

    def counting(scalar_fn, points, *args, **kwargs):
        calls.append(len(points))
        return taken(scalar_fn, points, *args, **kwargs)

    monkeypatch.setattr(_integration, "input_gradients", counting)
    net, X = gated(torch.float32, outputs=3), frame(30).astype(np.float32)
    common = dict(n_steps="auto", tol=3e-3, baseline="sample", n_baselines=3, random_state=0)
    targets = np.arange(len(X)) % 3
    along = skig.Explainer(net, **common).fit(X).explain(X, target=targets)
    assert calls == []
    apart = skig.Explainer(net, batch_size=8, **common).fit(X).explain(X, target=targets)
    assert calls == [9]  # 3 baselines x 3 outputs: more than a quarter of a pass of 8 points
    pd.testing.assert_frame_equal(apart.values, along.values, check_exact=True)
    pd.testing.assert_series_equal(apart.n_steps, along.n_steps, check_exact=True)


@pytest.mark.parametrize(
    "settings",
    [dict(baseline="sample", n_baselines=3), dict(method="smoothgrad", n_samples=3)],
    ids=["ig, 3 baselines", "smoothgrad"],
)
def test_adaptive_steps_are_bit_identical_whatever_the_batch(settings):
    net = gated(torch.float32)
    X = frame(90).astype(np.float32)
    X.index = np.random.default_rng(1).permutation(1000)[:90] + 7
    common = dict(n_steps="auto", tol=3e-3, random_state=0, **settings)
    reference = skig.Explainer(net, **common).fit(X).explain(X)
    assert reference.n_steps.nunique() > 2
    for batch_size, n_threads in ((37, 1), (1000, 1), (53, 2)):
        exp = skig.Explainer(net, batch_size=batch_size, n_threads=n_threads, **common).fit(X).explain(X)
        pd.testing.assert_frame_equal(exp.values, reference.values, check_exact=True)
        pd.testing.assert_series_equal(exp.n_steps, reference.n_steps, check_exact=True)
    explainer = skig.Explainer(net, **common).fit(X)
    for at in (0, 41, 89):
        alone = explainer.explain(X.iloc[at : at + 1])
        pd.testing.assert_frame_equal(alone.values, reference.values.iloc[at : at + 1], check_exact=True)


def test_smoothgrad_with_adaptive_steps_keeps_each_noisy_line_complete():
    X = frame(20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no row misses tol
        exp = skig.Explainer(gated(), method="smoothgrad", n_samples=4, n_steps="auto", tol=1e-3, random_state=0)
        exp = exp.fit(X).explain(X)
    assert exp.n_steps.nunique() > 2 and exp.n_steps.max() < 513


def test_where_a_group_picks_more_intervals_than_it_has_room_for_its_largest_bounds_are_kept():
    picked = torch.tensor([True, True, True, False, True, True])
    score = torch.tensor([1.0, 3.0, 2.0, 9.0, 5.0, 4.0], dtype=torch.float64)
    owner = torch.tensor([0, 0, 0, 0, 1, 1])
    kept = _integration._within_room(picked, score, owner, torch.tensor([2, 5]))
    assert kept.tolist() == [False, True, True, False, True, True]
    kept = _integration._within_room(picked, score, owner, torch.tensor([0, 1]))
    assert kept.tolist() == [False, False, False, False, True, False]


def test_groups_refined_in_blocks_give_the_same_numbers(monkeypatch):
    # Points held at once are bounded: with room for one group's points, each group is refined in a block of its own.
    ends = torch.tensor([0.5, 0.5 + 40 * 0.47, 0.5], dtype=torch.float64)
    common = dict(tol=1e-3, start_steps=8, max_steps=257, eps=1e-16, width=2)
    zeros = torch.zeros(3, dtype=torch.float64)
    together = refine_intervals(kinked([]), ends, zeros, torch.tensor([0, 1, 1]), 2, **common)
    monkeypatch.setattr(_integration, "_MAX_HELD", 257 * 2)
    taken = []
    apart = refine_intervals(kinked(taken), ends, zeros, torch.tensor([0, 1, 1]), 2, **common)
    assert [g.unique().tolist() for g, _ in taken][:2] == [[0], [1]]  # one block, then the next
    assert torch.equal(together[0], apart[0]) and torch.equal(together[1], apart[1])


def test_held_points_grow_by_doubling_within_the_blocks_bound():
    # The buffer of a block's points doubles as points come in, but never past the block's groups x max_steps rows,
    # so that _MAX_HELD bounds what a block holds.
    held = _integration._Held(torch.zeros(4, 3), 10)
    rows = torch.cat([held.add(torch.full((2, 3), float(k))) for k in range(3)])
    assert len(held.data) == 10 and held.size == 10
    np.testing.assert_array_equal(rows.numpy(), np.arange(4, 10))
    np.testing.assert_array_equal(held.rows(torch.tensor([3, 4, 9]))[:, 0].numpy(), [0.0, 0.0, 2.0])

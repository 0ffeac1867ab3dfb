"""Adaptive steps decide each row's doubling from its own numbers: bit-identical alone, batched or at any batch_size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import skig
from skig.engine._gradients import path_gradients
from skig.engine._paths import straight_paths
from skig.engine._quadrature import quadrature


def tanh_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(10, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1)
    )


@pytest.mark.parametrize(
    "settings",
    [
        dict(method="ig", baseline="sample", n_baselines=5),
        dict(method="smoothgrad", n_samples=3, tol=1e-5),
        dict(method="guided", baseline="sample", n_baselines=3),
    ],
    ids=["ig, 5 baselines", "smoothgrad", "guided"],
)
def test_adaptive_steps_are_bit_identical_whatever_the_batch(settings):
    net = tanh_net()
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(120, 10)).astype(np.float32) * 2, index=rng.permutation(1000)[:120] + 7)
    common = dict(n_steps="auto", random_state=0, **{"tol": 1e-3, **settings})
    reference = skig.Explainer(net, **common).fit(X).explain(X)
    assert reference.n_steps.nunique() > 1  # some rows doubled: decisions are being made
    for batch_size in (37, 64, 1000):
        exp = skig.Explainer(net, batch_size=batch_size, **common).fit(X).explain(X)
        pd.testing.assert_frame_equal(exp.values, reference.values, check_exact=True)
        pd.testing.assert_series_equal(exp.n_steps, reference.n_steps, check_exact=True)
    explainer = skig.Explainer(net, **common).fit(X)
    for at in (0, 17, 119):
        alone = explainer.explain(X.iloc[at : at + 1])
        pd.testing.assert_frame_equal(alone.values, reference.values.iloc[at : at + 1], check_exact=True)
        assert alone.n_steps.iloc[0] == reference.n_steps.iloc[at]


def test_a_groups_sum_does_not_depend_on_how_passes_cut_it():
    net = tanh_net().requires_grad_(False)

    def scalar(points, targets):
        return net(points)[:, 0]

    rows = torch.randn(50, 10, generator=torch.Generator().manual_seed(1)) * 2
    baselines = torch.randn(5, 10, generator=torch.Generator().manual_seed(2))
    alphas, weights = (torch.as_tensor(v, dtype=torch.float32) for v in quadrature("gausslegendre", 8))

    def run(chosen, max_points):
        paths = straight_paths(
            rows[chosen], baselines, torch.full((5,), 0.2), torch.zeros(len(chosen), dtype=torch.long), alphas, weights
        )
        return path_gradients(scalar, paths, max_points)

    whole = run(torch.arange(50), 4096)
    for max_points in (16, 24, 40, 64, 1000):  # 40 points per group: split inside groups, or several per pass
        assert torch.equal(run(torch.arange(50), max_points), whole)
        assert torch.equal(run(torch.arange(7, 30), max_points), whole[7:30])

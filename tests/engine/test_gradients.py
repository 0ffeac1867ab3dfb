"""The batched gradient engine: the private copy of the model, memory-bounded passes, progress."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import skig
from skig.engine import Paths, chunk_points, outputs_and_base_values, path_gradients, private_copy
from skig.engine._gradients import _chunk_bounds


def _module_state(module):
    return (
        [sub.training for sub in module.modules()],
        [param.requires_grad for param in module.parameters()],
        [param.detach().clone() for param in module.parameters()],
    )


def test_private_copy_is_eval_and_frozen_and_leaves_the_original_exactly_as_it_was():
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Dropout(0.5), torch.nn.BatchNorm1d(4))
    module.train()
    module[1].eval()  # mixed modes must stay exactly as they are, not become one flag
    module[0].bias.requires_grad_(False)
    before = _module_state(module)
    snapshot = private_copy(module)
    assert not any(sub.training for sub in snapshot.modules())
    assert not any(param.requires_grad for param in snapshot.parameters())
    assert not any(a is b for a, b in zip(snapshot.parameters(), module.parameters(), strict=True))
    after = _module_state(module)
    assert before[0] == after[0] and before[1] == after[1]
    with torch.no_grad():
        module[0].weight.add_(1.0)  # an update of the original (a trainer elsewhere) does not reach the copy
    assert not torch.equal(snapshot[0].weight, module[0].weight)


def test_private_copy_of_an_uncopyable_module_says_why():
    class Locked(torch.nn.Linear):
        def __deepcopy__(self, memo):
            raise RuntimeError("holds a lock")

    with pytest.raises(TypeError, match="private copy.*holds a lock"):
        private_copy(Locked(3, 1))


@pytest.mark.parametrize("n_groups, per_group, max_points", [(10, 7, 20), (10, 7, 7), (10, 7, 3), (1, 5, 100)])
def test_chunk_bounds_cover_every_point_once_within_the_bound(n_groups, per_group, max_points):
    bounds = _chunk_bounds(n_groups, per_group, max_points)
    covered = np.concatenate([np.arange(lo, hi) for lo, hi in bounds])
    np.testing.assert_array_equal(covered, np.arange(n_groups * per_group))
    assert max(hi - lo for lo, hi in bounds) <= max(max_points, 1)


def test_path_gradients_agree_whether_passes_split_groups_or_not():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    inputs, starts = torch.randn(6, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    paths = Paths(
        ends=inputs,
        starts=starts,
        start_index=torch.tensor([0, 1, 2, 0, 1]),
        alpha=torch.tensor([0.1, 0.3, 0.5, 0.7, 0.9], dtype=torch.float64),
        weight=torch.full((5,), 0.2, dtype=torch.float64),
        targets=torch.tensor([0, 1, 0, 1, 0, 1]),
    )

    def scalar(points, targets):
        return model(points).gather(1, targets[:, None])[:, 0]

    whole = path_gradients(scalar, paths, max_points=30)
    split = path_gradients(scalar, paths, max_points=3)
    torch.testing.assert_close(whole, split, rtol=1e-12, atol=1e-12)


class _CountingModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(5, 1)
        # A list shared by every copy: skig runs a private copy of the module, not the module itself.
        self.batch_sizes = _SharedList()

    def forward(self, x):
        self.batch_sizes.append(len(x))
        return torch.tanh(self.layer(x))


class _SharedList(list):
    def __deepcopy__(self, memo):
        return self


def test_batch_size_bounds_every_pass(X):
    module = _CountingModule()
    explainer = skig.Explainer(module, n_steps=16, batch_size=100).fit(X)
    module.batch_sizes.clear()
    explainer.explain(X)  # 40 rows x 16 steps = 640 points
    assert max(module.batch_sizes) <= 100
    assert sum(size for size in module.batch_sizes) >= 640


def test_auto_batch_size_follows_the_memory_budget(monkeypatch, X):
    module = _CountingModule()
    probe = torch.zeros(8, 5)
    monkeypatch.setattr("skig.engine._gradients._CPU_CHUNK_BYTES", 64 * 1024)
    small = chunk_points(module, probe, "auto")
    monkeypatch.setattr("skig.engine._gradients._CPU_CHUNK_BYTES", 1024 * 1024)
    assert chunk_points(module, probe, "auto") > small  # more memory, larger passes
    assert chunk_points(module, probe, 123) == 123
    monkeypatch.setattr("skig.engine._gradients._CPU_CHUNK_BYTES", 64 * 1024)
    explainer = skig.Explainer(module, n_steps=64).fit(X)
    module.batch_sizes.clear()
    explainer.explain(np.repeat(X, 25, axis=0))  # 1,000 rows x 64 steps = 64,000 points
    assert max(module.batch_sizes) <= small < 64_000


def test_auto_passes_on_a_cpu_hold_a_floor_of_points(monkeypatch):
    """Heavy points (an FT-Transformer's ~120 KB) get passes of 512 points, not the ~100 that fit 12 MiB: a pass's
    fixed dispatch would dominate; light points keep their cache-sized passes."""
    from skig.engine._gradients import _MIN_CPU_PASS_POINTS, points_per_pass

    cpu = torch.device("cpu")
    monkeypatch.setattr("skig.engine._gradients._CPU_CHUNK_BYTES", 2**20)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert _MIN_CPU_PASS_POINTS == 512
    assert points_per_pass("auto", 120_000, cpu) == 512
    assert points_per_pass("auto", 100, cpu) == 2**20 // 100
    assert points_per_pass("auto", 120_000, torch.device("meta")) == 64  # not a CPU: the budget as it is
    assert points_per_pass(100, 120_000, cpu) == 100


def test_progress_bar_is_shown_only_when_asked(capsys, X, mlp):
    model = mlp(5, 1)
    skig.Explainer(model, n_steps=8, batch_size=16, progress=True).fit(X).explain(X)
    assert "explaining" in capsys.readouterr().err
    skig.Explainer(model, n_steps=8, batch_size=16, progress=False).fit(X).explain(X)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("max_points", [10_000, 40, 7])
def test_outputs_and_base_values_are_the_same_in_one_pass_or_apart(max_points):
    # 30 rows and 3 baselines under 3 targets fit one pass of 10,000 points (evaluated together), not of 40 or 7
    # (rows and baselines apart, in several passes): bit for bit the same numbers, and each against a plain forward.
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    inputs, baselines = torch.randn(30, 4), torch.randn(3, 4)
    weights = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64)
    targets = torch.tensor([2, 0, 1] * 10)

    def scalar(points, point_targets):
        return model(points).gather(1, point_targets[:, None])[:, 0]

    outputs, base_values = outputs_and_base_values(scalar, inputs, targets, baselines, weights, max_points)
    reference = outputs_and_base_values(scalar, inputs, targets, baselines, weights, 10_000)
    assert torch.equal(outputs, reference[0]) and torch.equal(base_values, reference[1])
    with torch.no_grad():
        expected_outputs = scalar(inputs, targets).double()
        at_baselines = model(baselines).double()
    expected_base = (at_baselines * weights[:, None]).sum(0)[targets]
    torch.testing.assert_close(outputs, expected_outputs, rtol=0, atol=1e-6)
    torch.testing.assert_close(base_values, expected_base, rtol=0, atol=1e-6)
    assert outputs.dtype == base_values.dtype == torch.float64

"""The layer-by-layer exact engine for chains of affine layers and hinges: what it reads as a chain, agreement with
the general engine and with closed forms, and results that do not depend on the other rows of a batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from exact_helpers import frozen_copy, pick, random_rows
from torch import nn

from skig.engine.exact import _crossings, _integrals, _trace, exact_path_integrals
from skig.engine.exact._reading import compile_chain
from skig.engine.exact._steps import Affine, Hinge, Scale
from skig.models._heads import OutputHead
from skig.models._sklearn import MLPScores


class SkorchStyle(nn.Module):
    """What skorch users write: layers as attributes, functional calls, dropout, a batch norm."""

    def __init__(self, n_in=5, hidden=24, n_out=3):
        super().__init__()
        self.dense0 = nn.Linear(n_in, hidden)
        self.norm = nn.BatchNorm1d(hidden)
        self.dropout = nn.Dropout(0.3)
        self.dense1 = nn.Linear(hidden, hidden)
        self.act = nn.PReLU(hidden, init=0.2)
        self.output = nn.Linear(hidden, n_out)
        with torch.no_grad():
            self.norm.running_mean.uniform_(-0.5, 0.5)
            self.norm.running_var.uniform_(0.5, 2.0)

    def forward(self, x):
        x = F.relu(self.norm(self.dense0(x)))
        x = self.dropout(x)
        x = F.leaky_relu(self.dense1(x), 0.05)
        x = self.act(x.view(x.shape[0], -1))
        return self.output(x)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 1)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)) + x)


class SoftmaxInside(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 3)

    def forward(self, x):
        return torch.softmax(torch.relu(self.a(x)), dim=1)


def general(*args, **kwargs):
    """The general engine's answer, for comparison."""
    return exact_path_integrals(*args, **kwargs, engine="general")


def test_chains_are_read_from_sequential_functional_and_sklearn_modules():
    torch.manual_seed(0)
    sequential = frozen_copy(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 2)))
    chain = compile_chain(sequential, random_rows(6, 4))
    assert [type(step) for step in chain.steps] == [Affine, Hinge, Affine]
    skorch_style = frozen_copy(SkorchStyle())
    chain = compile_chain(skorch_style, random_rows(6, 5))
    assert [type(step) for step in chain.steps] == [Affine, Scale, Hinge, Affine, Hinge, Hinge, Affine]
    assert chain.steps[4].slope == 0.05 and isinstance(chain.steps[5].slope, torch.Tensor)
    rng = np.random.RandomState(0)
    sklearn = frozen_copy(
        MLPScores([rng.normal(size=(4, 6)), rng.normal(size=(6, 2))], [np.zeros(6), np.zeros(2)], "relu")
    )
    assert compile_chain(sklearn, random_rows(6, 4)) is not None


@pytest.mark.parametrize(
    "module",
    [
        Residual(),  # the input is used twice
        SoftmaxInside(),  # not piecewise-linear
        nn.Sequential(nn.Linear(4, 4), nn.Hardtanh(), nn.Linear(4, 1)),  # two thresholds: the general engine
        nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 1)),
    ],
    ids=["residual", "softmax", "hardtanh", "tanh"],
)
def test_anything_but_a_chain_is_not_read_as_one(module):
    assert compile_chain(frozen_copy(module), random_rows(6, 4)) is None


def test_dropout_or_batchnorm_in_training_mode_is_not_a_chain():
    module = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4, 1)).double()
    for param in module.parameters():
        param.requires_grad_(False)
    assert compile_chain(module.train(), random_rows(6, 4)) is None
    assert compile_chain(module.eval(), random_rows(6, 4)) is not None


def test_a_chain_that_does_not_reproduce_the_module_is_not_used(monkeypatch):
    original = _trace._ChainReader._step

    def drop_biases(self, name, args, kwargs, result):
        step = original(self, name, args, kwargs, result)
        return Affine(step.weight, None) if isinstance(step, Affine) else step

    monkeypatch.setattr(_trace._ChainReader, "_step", drop_biases)
    module = frozen_copy(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)))
    assert compile_chain(module, random_rows(6, 4)) is None


@pytest.mark.parametrize(
    "widths", [[5, 32, 1], [5, 32, 32, 2], [5, 16, 16, 16, 16, 3], [5, 3]], ids=["1 hidden", "2", "4", "linear"]
)
def test_chain_engine_matches_the_general_engine_in_float64(monkeypatch, widths):
    torch.manual_seed(3)
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers += [nn.ReLU()] if i else []
        layers.append(nn.Linear(n_in, n_out))
    module = frozen_copy(nn.Sequential(*layers))
    ends, starts = random_rows(40, 5), random_rows(40, 5, seed=2)
    targets = torch.arange(40) % widths[-1]
    args = (module, pick, starts, ends, targets)
    chain, chain_segments = exact_path_integrals(*args, max_points=512)
    reference, segments = general(*args, max_points=512)
    np.testing.assert_allclose(chain.numpy(), reference.numpy(), rtol=1e-9, atol=1e-11)
    assert torch.equal(chain_segments, segments)
    with torch.no_grad():
        change = pick(module(ends), targets) - pick(module(starts), targets)
    np.testing.assert_allclose(chain.sum(1).numpy(), change.numpy(), rtol=1e-10, atol=1e-12)
    if len(widths) == 2:  # a linear model: w * (x - baseline), one segment
        weight = module[0].weight[targets]
        np.testing.assert_allclose(chain.numpy(), (weight * (ends - starts)).numpy(), rtol=1e-12, atol=1e-14)
        assert segments.tolist() == [1] * 40


def test_every_hinge_layer_batchnorm_dropout_and_a_softmax_head(monkeypatch):
    torch.manual_seed(4)
    module = frozen_copy(SkorchStyle())
    head = OutputHead("softmax")

    def probability(raw, targets):
        return head(raw, targets, "probability")

    ends, starts = random_rows(30, 5), torch.zeros(30, 5, dtype=torch.float64)
    targets = torch.arange(30) % 3
    chain, segments = exact_path_integrals(module, probability, starts, ends, targets, max_points=256)
    reference, _ = general(module, probability, starts, ends, targets, max_points=256)
    assert segments.float().mean() > 5
    np.testing.assert_allclose(chain.numpy(), reference.numpy(), rtol=1e-8, atol=1e-11)
    with torch.no_grad():
        change = probability(module(ends), targets) - probability(module(starts), targets)
    np.testing.assert_allclose(chain.sum(1).numpy(), change.numpy(), rtol=1e-10, atol=1e-12)


def test_a_hinge_on_the_input_itself():
    module = frozen_copy(nn.Sequential(nn.ReLU(), nn.Linear(3, 1)))
    with torch.no_grad():
        module[1].weight.copy_(torch.tensor([[1.0, -2.0, 3.0]]))
    starts = torch.tensor([[-1.0, -1.0, 1.0]], dtype=torch.float64)
    ends = torch.tensor([[1.0, 3.0, -1.0]], dtype=torch.float64)
    exact, segments = exact_path_integrals(module, pick, starts, ends, torch.zeros(1, dtype=torch.long), max_points=8)
    # relu(x) changes by (1, 3, -1) between the ends, times the weights
    np.testing.assert_allclose(exact.numpy(), [[1.0, -6.0, -3.0]], atol=1e-14)
    assert segments.tolist() == [3]  # kinks at alpha 1/2 (both coordinates 0 and 2) and 1/4


@pytest.mark.parametrize("engine", ["chain", "chain, torch cut", "general"])
def test_a_rows_float32_attributions_do_not_depend_on_the_rows_beside_it(monkeypatch, engine):
    """Bit-identical, whatever batch, chunk or partition a row is explained in (Spark and Dask rely on it)."""
    which = "general" if engine == "general" else "chain"
    if engine == "chain, torch cut":
        monkeypatch.setattr(_crossings, "compiled_available", lambda values: False)
    torch.manual_seed(7)
    module = frozen_copy(nn.Sequential(nn.Linear(6, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1)))
    module = module.float()
    ends = random_rows(97, 6, dtype=torch.float32, seed=5)
    starts = ends.mean(0, keepdim=True).expand_as(ends).contiguous()
    targets = torch.zeros(97, dtype=torch.long)

    def probability(raw, targets):  # a head that reads the outputs, not only their gradients
        return torch.sigmoid(pick(raw, targets))

    whole, whole_segments = exact_path_integrals(
        module, probability, starts, ends, targets, max_points=4096, engine=which
    )
    for lo, hi, max_points in [(0, 1, 64), (3, 20, 37), (20, 97, 999), (50, 53, 5), (1, 2, 8), (10, 11, 3)]:
        part, part_segments = exact_path_integrals(
            module, probability, starts[lo:hi], ends[lo:hi], targets[lo:hi], max_points=max_points, engine=which
        )
        assert torch.equal(part, whole[lo:hi]), (lo, hi, max_points)
        assert torch.equal(part_segments, whole_segments[lo:hi])
    order = torch.randperm(97, generator=torch.Generator().manual_seed(0))
    shuffled, _ = exact_path_integrals(
        module, probability, starts[order], ends[order], targets[order], max_points=300, engine=which
    )
    assert torch.equal(shuffled, whole[order])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_compiled_cut_and_the_torch_cut_agree(monkeypatch, dtype):
    torch.manual_seed(9)
    module = frozen_copy(
        nn.Sequential(nn.Linear(7, 40), nn.ReLU(), nn.Linear(40, 40), nn.LeakyReLU(0.1), nn.Linear(40, 3)), dtype
    )
    ends, starts = random_rows(60, 7, dtype=dtype), random_rows(60, 7, dtype=dtype, seed=3)
    targets = torch.arange(60) % 3
    compiled, compiled_segments = exact_path_integrals(module, pick, starts, ends, targets, max_points=500)
    monkeypatch.setattr(_crossings, "compiled_available", lambda values: False)
    operators, segments = exact_path_integrals(module, pick, starts, ends, targets, max_points=500)
    assert torch.equal(compiled_segments, segments)
    tolerance = 1e-12 if dtype == torch.float64 else 1e-5
    np.testing.assert_allclose(compiled.numpy(), operators.numpy(), rtol=tolerance, atol=tolerance)


def test_the_compiled_cut_works_where_no_cache_can_be_written(monkeypatch):
    def njit(cache, nogil):
        if cache:
            raise RuntimeError("cannot cache function: no locator available")  # what numba says there
        return lambda function: function

    monkeypatch.setattr(_crossings, "njit", njit)
    assert _crossings._compiled(lambda: 42)() == 42


def test_chunks_on_several_threads_give_the_numbers_of_one(monkeypatch):
    torch.manual_seed(11)
    module = frozen_copy(nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2)))
    ends = random_rows(300, 6)
    starts = torch.zeros_like(ends)
    targets = torch.arange(300) % 2
    threads = torch.get_num_threads()
    calls = []
    run_in_threads = _integrals._run_in_threads
    monkeypatch.setattr(_integrals, "_run_in_threads", lambda *args: calls.append(args[4]) or run_in_threads(*args))
    try:
        torch.set_num_threads(1)
        alone = exact_path_integrals(module, pick, starts, ends, targets, max_points=200)
        torch.set_num_threads(3)  # the first chunk, then many chunks on 3 threads
        shared = exact_path_integrals(module, pick, starts, ends, targets, max_points=200)
    finally:
        torch.set_num_threads(threads)
    assert calls == [3]  # only the run on 3 threads used them
    assert torch.equal(alone[0], shared[0]) and torch.equal(alone[1], shared[1])


def test_chunk_threads_each_run_one_torch_thread_and_put_the_count_back(monkeypatch):
    # A chunk on a thread of its own with torch's full count would stall on a shared machine (engine/_threads.py).
    torch.manual_seed(12)
    module = frozen_copy(nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 2)))
    ends = random_rows(3000, 6)
    seen = []
    chunk = _integrals.chain_chunk
    monkeypatch.setattr(_integrals, "chain_chunk", lambda *a: seen.append(torch.get_num_threads()) or chunk(*a))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        exact_path_integrals(module, pick, torch.zeros_like(ends), ends, torch.arange(3000) % 2, max_points=200)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(threads)
    assert len(seen) > 3 and seen[0] == 3 and set(seen[1:]) == {1}  # the first chunk measures, then the threads

"""CUDA gives what the CPU gives on the paths this round added or changed: quadrature passes through ReLU chains
(no autograd), exact IG (both engines), interactions by forward tangents on smooth chains and exactly on ReLU nets,
embedding nets, and the completeness guard. Skipped without a CUDA device (CI has none)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import skig

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no cuda device")


def _net(activation, dtype=torch.float64, seed=0, n_outputs=2):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 24), activation(), nn.Linear(24, 24), activation(), nn.Linear(24, n_outputs)).to(
        dtype
    )


class _Skip(nn.Module):
    """Piecewise-linear but no chain (a skip connection): the general exact engine."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.a, self.b = nn.Linear(6, 16).double(), nn.Linear(16, 6).double()

    def forward(self, x):
        return (x + self.b(torch.relu(self.a(x)))).sum(1, keepdim=True)


class _Embedding(nn.Module):
    """Codes in column 0 looked up, then a ReLU MLP with the float columns."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.table = nn.Embedding(4, 3)
        self.mlp = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))

    def forward(self, x):
        return self.mlp(torch.cat([self.table(x[:, 0].long()), x[:, 1:]], dim=1))


@pytest.fixture
def X():
    return np.random.RandomState(7).normal(size=(48, 6))


def _both(model, X, rows, **params):
    out = []
    for device in ("cpu", "cuda"):
        explainer = skig.Explainer(model, random_state=0, device=device, **params).fit(X)
        out.append(explainer.explain(rows))
    assert next(model.parameters()).device.type == "cpu"
    return out


@pytest.mark.parametrize(
    "params",
    [
        dict(rule="gausslegendre", n_steps=32, output="raw", target=1),  # chain passes, linear head
        dict(rule="gausslegendre", n_steps=16),  # chain passes, softmax head through autograd
        dict(rule="gausslegendre", n_steps="auto", tol=1e-2),  # adaptive steps on chain passes
        dict(method="smoothgrad", n_steps=8, n_samples=4),
        dict(),  # exact, chain engine
    ],
    ids=["gl-raw", "gl-proba", "adaptive", "smoothgrad", "exact"],
)
def test_relu_chain_paths(X, params):
    cpu, cuda = _both(_net(nn.ReLU), X, X[:20], **params)
    np.testing.assert_allclose(cuda.values, cpu.values, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(cuda.delta, cpu.delta, atol=1e-9)


def test_general_engine_and_guard(X):
    cpu, cuda = _both(_Skip(), X, X[:20])
    np.testing.assert_allclose(cuda.values, cpu.values, rtol=1e-7, atol=1e-10)
    assert float(cuda.delta.abs().max()) < 1e-9
    # Quadrature on a piecewise-linear non-chain net: the guard re-checks exactly on the device, silently.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _both(_Skip(), X, X[:20], rule="gausslegendre", n_steps=4)


@pytest.mark.parametrize("activation", [nn.ReLU, nn.Tanh, nn.SiLU])
def test_interactions(X, activation):
    cpu, cuda = _both(_net(activation), X, X[:12], output="raw", target=0)
    cpu_i = skig.Explainer(_net(activation), device="cpu", output="raw", target=0).fit(X)
    cuda_i = skig.Explainer(_net(activation), device="cuda", output="raw", target=0).fit(X)
    a, b = cpu_i.explain(X[:12], interactions=True), cuda_i.explain(X[:12], interactions=True)
    np.testing.assert_allclose(b.interactions.to_numpy(), a.interactions.to_numpy(), rtol=1e-6, atol=1e-9)
    # each row's matrix sums to its attributions
    sums = b.interactions.groupby(level=0, sort=False).sum()
    np.testing.assert_allclose(sums.loc[b.values.index].to_numpy(), b.values.to_numpy(), atol=1e-6)


def test_embedding_net(X):
    rng = np.random.RandomState(4)
    frame = pd.DataFrame(rng.normal(size=(60, 6)), columns=[f"x{i}" for i in range(6)])
    frame["x0"] = rng.randint(0, 4, 60).astype(float)
    model = _Embedding()
    for params in (dict(), dict(rule="gausslegendre", n_steps=32)):
        cpu, cuda = _both(model, frame, frame.iloc[:20], **params)
        np.testing.assert_allclose(cuda.values, cpu.values, rtol=1e-5, atol=1e-6)


def test_float32_chain_passes_close_to_cpu(X):
    cpu, cuda = _both(_net(nn.ReLU, torch.float32), X.astype(np.float32), X[:20].astype(np.float32), n_steps=64,
                      rule="gausslegendre", output="raw", target=0)  # fmt: skip
    np.testing.assert_allclose(cuda.values, cpu.values, rtol=1e-4, atol=1e-5)

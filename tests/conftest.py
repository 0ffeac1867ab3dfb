"""Shared fixtures: seeded randomness and tiny models with known behaviour."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002 - some libraries under test draw from the global state


def make_mlp(n_features: int = 5, n_outputs: int = 1, hidden: int = 16, seed: int = 0, dtype=torch.float32):
    """A small random tanh/ReLU MLP: smooth enough for quadrature to converge, nonlinear enough to matter."""
    generator = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(n_features, hidden),
        torch.nn.Tanh(),
        torch.nn.Linear(hidden, hidden),
        torch.nn.Softplus(),
        torch.nn.Linear(hidden, n_outputs),
    )
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.7)
    return model.to(dtype)


@pytest.fixture
def X():
    return np.random.RandomState(1).normal(size=(40, 5))


@pytest.fixture
def mlp():
    """Factory of small seeded MLPs: ``mlp(n_features, n_outputs, dtype=...)``."""
    return make_mlp

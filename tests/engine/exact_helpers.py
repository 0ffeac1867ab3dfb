"""What the exact-IG engine tests share: the explained output, a frozen module copy, seeded rows."""

from __future__ import annotations

import copy

import torch
from torch import nn


def pick(raw: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The target column of a module's raw output (the identity head)."""
    return raw.reshape(raw.shape[0], -1).gather(1, targets.reshape(-1, 1)).squeeze(1)


def frozen_copy(module: nn.Module, dtype=torch.float64) -> nn.Module:
    """A copy in eval mode, in ``dtype``, its parameters not requiring grad (what the engines are handed)."""
    module = copy.deepcopy(module).to(dtype).eval()
    for param in module.parameters():
        param.requires_grad_(False)
    return module


def random_rows(n, d, dtype=torch.float64, seed=1, scale=2.0):
    """``n`` seeded normal rows of ``d`` values."""
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype) * scale

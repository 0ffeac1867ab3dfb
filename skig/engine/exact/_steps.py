"""The steps a chain is read as (affine layers, per-feature scales, hinges) and the one hinge backward.

:func:`hinge_backward` is the gradient rule of every hinge in both exact engines: the chain engine's steps and the
general engine's recorded units (:class:`~._trace.PiecewiseUnits`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .._invariant import linear, transposed


def hinge_backward(grad: torch.Tensor, side: torch.Tensor, slope: float | torch.Tensor) -> torch.Tensor:
    """Gradient of a hinge's input from its output's: ``grad`` where ``side > 0``, ``slope * grad`` elsewhere.

    A float ``slope`` (ReLU: 0, LeakyReLU, abs: -1) takes the fused kernels autograd itself uses; a tensor one (PReLU,
    broadcast against ``grad``) a ``where``.
    """
    if isinstance(slope, float):
        if slope == 0.0:
            return torch.ops.aten.threshold_backward(grad, side, 0.0)
        return torch.ops.aten.leaky_relu_backward(grad, side, slope, False)
    return torch.where(side > 0, grad, grad * slope.to(grad.dtype))


@dataclass(frozen=True)
class Affine:
    """``y = x @ weight.T + bias`` (``torch.nn.Linear``)."""

    weight: torch.Tensor
    bias: torch.Tensor | None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)

    def backward(self, grad: torch.Tensor) -> torch.Tensor:
        # The transposed weight through the forward's kernel rather than ``grad @ weight``, both row-invariant (see
        # engine/_invariant.py): a row's attributions must not depend on the paths beside it.
        return linear(grad, transposed(self.weight, grad.dtype))


@dataclass(frozen=True)
class Scale:
    """``y = x * scale + shift`` per feature (a BatchNorm in eval mode)."""

    scale: torch.Tensor
    shift: torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift, x, self.scale)

    def backward(self, grad: torch.Tensor) -> torch.Tensor:
        return grad * self.scale.to(grad.dtype)


@dataclass(frozen=True)
class Hinge:
    """``y = x`` where ``x > 0``, else ``slope * x`` (ReLU: 0; LeakyReLU; PReLU: per feature; abs: -1)."""

    slope: float | torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.slope, float):
            if self.slope == 0.0:
                return torch.relu(x)
            if self.slope == -1.0:
                return x.abs()
            return F.leaky_relu(x, self.slope)
        return torch.where(x > 0, x, x * self.slope)

    def forward_keeping_side(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(forward(x), side)`` for :meth:`backward`, overwriting ``x`` where the output has the input's sign (ReLU,
        LeakyReLU with a positive slope): the output is its own side then, and no new tensor is made."""
        if isinstance(self.slope, float) and self.slope >= 0.0:
            out = torch.relu_(x) if self.slope == 0.0 else F.leaky_relu_(x, self.slope)
            return out, out
        return self.forward(x), x

    def backward(self, grad: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        """Gradient of the input from the output's; ``side`` is positive where a unit is above zero."""
        return hinge_backward(grad, side, self.slope)


Step = Affine | Scale | Hinge


@dataclass(frozen=True)
class Chain:
    """A module read as a chain of steps on rows of ``n_features`` values, with its raw output's row shape."""

    steps: tuple[Step, ...]
    output_shape: torch.Size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for step in self.steps:
            x = step.forward(x)
        return x

    @property
    def hinges(self) -> list[int]:
        """Positions of the hinges among the steps."""
        return [index for index, step in enumerate(self.steps) if isinstance(step, Hinge)]

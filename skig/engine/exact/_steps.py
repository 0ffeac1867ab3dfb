"""The steps a chain is read as (affine layers, per-feature scales, hinges, and for Integrated Hessians on smooth nets
elementwise smooth activations) and the one hinge backward.

:func:`hinge_backward` is the gradient rule of every hinge in both exact engines: the chain engine's steps and the
general engine's recorded units (:class:`~._trace.PiecewiseUnits`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .._invariant import bound_linear, linear, transposed


def hinge_backward(
    grad: torch.Tensor, side: torch.Tensor, slope: float | torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Gradient of a hinge's input from its output's: ``grad`` where ``side > 0``, ``slope * grad`` elsewhere.

    A float ``slope`` (ReLU: 0, LeakyReLU, abs: -1) takes the fused kernels autograd itself uses, written into ``out``
    when given (a tensor of ``grad``'s shape, neither ``grad`` nor ``side``); a tensor one (PReLU, broadcast against
    ``grad``) a ``where``, into a new tensor.
    """
    if isinstance(slope, float):
        if slope == 0.0:
            if out is None:
                return torch.ops.aten.threshold_backward(grad, side, 0.0)
            return torch.ops.aten.threshold_backward.grad_input(grad, side, 0.0, grad_input=out)
        if out is None:
            return torch.ops.aten.leaky_relu_backward(grad, side, slope, False)
        return torch.ops.aten.leaky_relu_backward.grad_input(grad, side, slope, False, grad_input=out)
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

    def linear_part(self, tangent: torch.Tensor) -> torch.Tensor:
        """The step's linear part (no bias): how a direction of its input maps to one of its output."""
        return linear(tangent, self.weight)

    def bound(self, dtype: torch.dtype) -> tuple[Callable, Callable]:
        """``(forward, backward)``, each ``(x, out=None)``, with the weight's forms for gradients in ``dtype`` looked up
        now, for a loop of passes: the same numbers as :meth:`forward` and :meth:`backward`, written into ``out`` when
        given (see :func:`.._invariant.bound_linear`)."""
        return bound_linear(self.weight, self.bias), bound_linear(transposed(self.weight, dtype))


@dataclass(frozen=True)
class Scale:
    """``y = x * scale + shift`` per feature (a BatchNorm in eval mode)."""

    scale: torch.Tensor
    shift: torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift, x, self.scale)

    def backward(self, grad: torch.Tensor) -> torch.Tensor:
        return grad * self.scale.to(grad.dtype)

    def linear_part(self, tangent: torch.Tensor) -> torch.Tensor:
        """The step's linear part (no shift): how a direction of its input maps to one of its output."""
        return tangent * self.scale.to(tangent.dtype)

    def bound(self, dtype: torch.dtype) -> tuple[Callable, Callable]:
        """``(forward, backward)`` for gradients in ``dtype`` (see :meth:`Affine.bound`)."""
        scale = self.scale.to(dtype)
        return (lambda x, out=None: self.forward(x)), (lambda grad, out=None: grad * scale)


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

    def backward(self, grad: torch.Tensor, side: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Gradient of the input from the output's; ``side`` is positive where a unit is above zero (``out``: see
        :func:`hinge_backward`)."""
        return hinge_backward(grad, side, self.slope, out)


#: Elementwise smooth activations a chain may hold for Integrated Hessians (:func:`~._segments.read_chain` with
#: ``smooth=True``), by the name of the torch call.
SMOOTH_ACTIVATIONS = ("tanh", "sigmoid", "softplus", "gelu", "silu", "elu")
_GELU_TANH = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715


@dataclass(frozen=True)
class Smooth:
    """An elementwise activation twice differentiable almost everywhere: ``name`` one of
    :data:`SMOOTH_ACTIVATIONS`, ``parameters`` its numbers (softplus: beta and threshold; ELU: alpha; GELU: 1.0 for
    the tanh approximation, else 0.0), each as torch's own call computes it."""

    name: str
    parameters: tuple[float, ...] = ()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.name == "softplus":
            return F.softplus(x, *self.parameters)
        if self.name == "gelu":
            return F.gelu(x, approximate="tanh" if self.parameters[0] else "none")
        if self.name == "elu":
            return F.elu(x, self.parameters[0])
        if self.name == "silu":
            return F.silu(x)
        return getattr(torch, self.name)(x)

    def backward(self, grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Gradient of the input ``x`` from the output's."""
        return grad * self.derivatives(x)[0]

    def derivatives(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """First and second derivatives at the inputs ``x``, elementwise (those autograd takes, at kinks too)."""
        if self.name == "tanh":
            y = torch.tanh(x)
            first = 1 - y * y
            return first, -2 * y * first
        if self.name == "sigmoid":
            y = torch.sigmoid(x)
            first = y * (1 - y)
            return first, first * (1 - 2 * y)
        if self.name == "softplus":
            beta, threshold = self.parameters
            s = torch.sigmoid(beta * x)
            linear_part = beta * x > threshold
            return torch.where(linear_part, 1.0, s), torch.where(linear_part, 0.0, beta * s * (1 - s))
        if self.name == "silu":
            s = torch.sigmoid(x)
            return s * (1 + x * (1 - s)), s * (1 - s) * (2 + x * (1 - 2 * s))
        if self.name == "elu":
            (alpha,) = self.parameters
            below = alpha * torch.exp(torch.clamp(x, max=0))
            return torch.where(x > 0, 1.0, below), torch.where(x > 0, 0.0, below)
        if self.parameters[0]:  # GELU, tanh approximation: x (1 + tanh u) / 2, u = k (x + c x^3)
            u = _GELU_TANH * (x + _GELU_CUBIC * x**3)
            du, ddu = _GELU_TANH * (1 + 3 * _GELU_CUBIC * x * x), _GELU_TANH * 6 * _GELU_CUBIC * x
            t = torch.tanh(u)
            sech2 = 1 - t * t
            return 0.5 * (1 + t) + 0.5 * x * sech2 * du, sech2 * du + 0.5 * x * sech2 * (ddu - 2 * t * du * du)
        density = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)  # GELU: x Phi(x)
        return 0.5 * (1 + torch.erf(x / math.sqrt(2))) + x * density, density * (2 - x * x)


Step = Affine | Scale | Hinge | Smooth


@dataclass(frozen=True)
class Chain:
    """A module read as a chain of steps on rows of ``n_features`` values, with its raw output's row shape."""

    steps: tuple[Step, ...]
    output_shape: torch.Size
    #: What callers derive from the chain's fixed weights once and reuse from call to call, by their own keys (the
    #: gradient rows above the last hinge, :func:`~skig.engine._chain_passes.chain_path_gradients`).
    derived: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for step in self.steps:
            x = step.forward(x)
        return x

    @property
    def hinges(self) -> list[int]:
        """Positions of the hinges among the steps."""
        return [index for index, step in enumerate(self.steps) if isinstance(step, Hinge)]

"""What ``fit`` checks beyond single parameters: combinations that mean nothing, and what a few reference rows show
of the model (ReLU called as a function under a gradient rule, whether it is piecewise-linear); the zero-gradient
guard is in ``_gradient_guard.py``. The model checks run on the explainer's private copy of the module, never on
the user's.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from .engine import METHODS, functional_relu_calls, module_device, module_dtype
from .models import PredictionOnly


def check_parameters(params: Mapping) -> None:
    """Refuse parameter combinations that have no meaning, saying what would be accepted."""
    for name in ("n_steps", "max_steps", "n_samples", "n_baselines", "batch_size"):
        if isinstance(params[name], (bool, np.bool_)):
            raise TypeError(f"{name} must be an int, got {params[name]!r} (a bool).")
    method = METHODS[params["method"]]
    method.check(params)
    n_steps, max_steps = params["n_steps"], params["max_steps"]
    steps = max_steps if isinstance(n_steps, str) else n_steps
    if params["rule"] == "riemann_trapezoid" and method.name != "guided" and steps < 2:
        what = f"max_steps={max_steps}" if isinstance(n_steps, str) else f"n_steps={n_steps}"
        raise ValueError(f"rule='riemann_trapezoid' needs n_steps >= 2 (and max_steps >= 2); got {what}.")


def check_gradient_rule(adapter, module: torch.nn.Module, encoded: np.ndarray, rule: str) -> None:
    """A non-standard rule must reach every ReLU: refuse models that call ReLU as a function."""
    if rule == "standard":
        return
    probe = torch.as_tensor(encoded, dtype=module_dtype(module), device=module_device(module))
    calls = functional_relu_calls(module, probe)
    if calls:
        raise ValueError(
            f"gradient_rule={rule!r} overrides the backward pass of torch.nn.ReLU modules, but "
            f"{adapter.description} also calls ReLU as a function ({calls} call(s) of torch.relu, "
            "F.relu or Tensor.relu per forward pass), whose gradient would silently stay standard. Use "
            "torch.nn.ReLU modules in the model, or gradient_rule='standard'."
        )


def resolve_rule(rule: str, method: str, gradient: str, adapter, module: torch.nn.Module, encoded: np.ndarray) -> str:
    """The integration rule used: ``"auto"`` is exact on piecewise-linear nets, Gauss-Legendre otherwise.

    Exact integration follows the true gradient along straight lines: Guided IG's path and the deconvolution and
    guided-backprop rules are neither, so ``"exact"`` is refused there and ``"auto"`` falls back (as on MPS
    devices, which lack the float64 it places breakpoints in).
    """
    if rule not in ("auto", "exact"):
        return rule
    straight = method != "guided" and gradient == "standard"
    if not straight:
        if rule == "exact":
            why = (
                "Guided IG's path is not a straight line"
                if method == "guided"
                else (f"gradient_rule={gradient!r} does not give the model's gradient")
            )
            raise ValueError(
                f"rule='exact' integrates the true gradient along straight lines, but {why}; use rule='auto' or a "
                "quadrature rule such as 'gausslegendre'."
            )
        return "gausslegendre"
    if module_device(module).type == "mps":
        # Exact integration places breakpoints in float64, which Apple's MPS devices lack.
        if rule == "exact":
            raise ValueError("rule='exact' needs float64, which MPS devices lack; use rule='auto' or device='cpu'.")
        return "gausslegendre"
    from .engine import piecewise_linear_violations

    probe = torch.as_tensor(encoded, dtype=module_dtype(module), device=module_device(module))
    violations = piecewise_linear_violations(PredictionOnly(module), probe)
    if not violations:
        return "exact"
    if rule == "exact":
        raise ValueError(
            f"rule='exact' needs a piecewise-linear network (ReLU, LeakyReLU, PReLU, ReLU6/Hardtanh, clamp between "
            f"affine layers), but {adapter.description} computes {violations[:5]}; use rule='auto' (Gauss-Legendre "
            "for smooth networks) or a quadrature rule."
        )
    return "gausslegendre"

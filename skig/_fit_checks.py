"""What ``fit`` checks beyond single parameters: combinations that mean nothing, and what a few reference rows show
of the model (ReLU called as a function under a gradient rule, a gradient that is zero everywhere, whether it is
piecewise-linear). The model checks run on the explainer's private copy of the module, never on the user's.
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


def check_gradient_flows(
    adapter, module: torch.nn.Module, space: str, encoded: np.ndarray, baselines: np.ndarray
) -> None:
    """Refuse a model whose gradient is zero all along the paths while its output changes (round, sign, steps).

    IG of such a model is zero everywhere, so its delta would be the whole output change: no explanation at all.
    """
    dtype, device = module_dtype(module), module_device(module)
    ends = torch.as_tensor(encoded, dtype=dtype, device=device)
    starts = torch.as_tensor(baselines, dtype=dtype, device=device)[:1].expand_as(ends)
    alphas = torch.linspace(0.05, 0.95, 7, dtype=dtype, device=device)
    points = (starts.unsqueeze(0) + alphas.view(-1, 1, 1) * (ends - starts).unsqueeze(0)).reshape(-1, ends.shape[1])
    scalar = adapter.scalar_fn(space, module)
    target = 0 if adapter.head.kind == "identity" else adapter.n_outputs - 1
    targets = torch.full((len(points),), target, device=device)
    with torch.enable_grad():
        points.requires_grad_(True)
        values = scalar(points, targets)
        (grad,) = torch.autograd.grad(values.sum(), points)
    with torch.no_grad():
        change = (scalar(ends, targets[: len(ends)]) - scalar(starts, targets[: len(ends)])).abs().max()
    if bool(torch.all(grad == 0)) and float(change) > 0:
        raise TypeError(
            f"{adapter.description}'s gradient is zero at every probed point between the baseline and the reference "
            f"rows, while its output changes there (by up to {float(change):.3g}): it is piecewise constant (e.g. "
            "round, sign, a step or a threshold inside forward), so Integrated Gradients cannot attribute it. Explain "
            "the model before the rounding (e.g. its logits), or use a perturbation method such as "
            "shap.KernelExplainer."
        )


def resolve_rule(rule: str, method: str, gradient: str, adapter, module: torch.nn.Module, encoded: np.ndarray) -> str:
    """The integration rule used: ``"auto"`` is exact on piecewise-linear nets, Gauss-Legendre otherwise.

    Exact integration follows the true gradient along straight lines: Guided IG's path and the deconvolution and
    guided-backprop rules are neither, so ``"exact"`` is refused there and ``"auto"`` falls back (as on MPS
    devices, which lack the float64 it places breakpoints in). Methods whose error is not the quadrature's
    (``auto_exact`` false: Expected IG, whose sampling error dominates) get Gauss-Legendre from ``"auto"``.
    """
    if rule not in ("auto", "exact"):
        return rule
    if rule == "auto" and not METHODS[method].auto_exact:
        return "gausslegendre"
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

"""What ``fit`` checks beyond single parameters: combinations that mean nothing, and what a few reference rows show
of the model (ReLU called as a function under a gradient rule); whether it is piecewise-linear is decided with the
plan (``_plan.py``), the zero-gradient guard is in ``_gradient_guard.py``. The model checks run on the explainer's
private copy of the module, never on the user's.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from .engine import METHODS, functional_relu_calls, module_placement
from .engine._quadrature import min_steps


def check_parameters(params: Mapping) -> None:
    """Refuse parameter combinations that have no meaning, saying what would be accepted."""
    for name in ("n_steps", "max_steps", "n_samples", "n_baselines", "batch_size", "n_threads"):
        if isinstance(params[name], (bool, np.bool_)):
            raise TypeError(f"{name} must be an int, got {params[name]!r} (a bool).")
    method = METHODS[params["method"]]
    method.check(params)
    n_steps, max_steps, rule = params["n_steps"], params["max_steps"], params["rule"]
    steps = max_steps if isinstance(n_steps, str) else n_steps
    fewest = min_steps(rule)
    if method.uses_rule and steps < fewest:
        what = f"max_steps={max_steps}" if isinstance(n_steps, str) else f"n_steps={n_steps}"
        raise ValueError(f"rule={rule!r} needs n_steps >= {fewest} (and max_steps >= {fewest}); got {what}.")


def check_gradient_rule(adapter, module: torch.nn.Module, encoded: np.ndarray, rule: str) -> None:
    """A non-standard rule must reach every ReLU: refuse models that call ReLU as a function."""
    if rule == "standard":
        return
    dtype, device = module_placement(module)
    probe = torch.as_tensor(encoded, dtype=dtype, device=device)
    calls = functional_relu_calls(module, probe)
    if calls:
        raise ValueError(
            f"gradient_rule={rule!r} overrides the backward pass of torch.nn.ReLU modules, but "
            f"{adapter.description} also calls ReLU as a function ({calls} call(s) of torch.relu, "
            "F.relu or Tensor.relu per forward pass), whose gradient would silently stay standard. Use "
            "torch.nn.ReLU modules in the model, or gradient_rule='standard'."
        )

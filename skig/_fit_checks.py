"""What ``fit`` checks before it learns anything: parameter combinations that mean nothing, and what a few
reference rows show of the model (differentiable, how many outputs, ReLU called as a function, output spaces).
"""

from __future__ import annotations

import numpy as np
import torch

from .baselines import BASELINE_STATISTICS
from .engine import frozen, functional_relu_calls
from .engine._device import module_device, module_dtype
from .models import settle_head


def first_output(raw):
    """The prediction among what a module returns."""
    # skorch's convention: a module returning a tuple has its prediction first.
    return raw[0] if isinstance(raw, (tuple, list)) else raw


def check_interactions(*, method: str, baseline, n_steps, rule: str, max_steps: int) -> None:
    """Refuse parameter combinations that have no meaning, saying what would be accepted."""
    if method == "expected":
        if isinstance(baseline, str) and baseline in BASELINE_STATISTICS:
            raise ValueError(
                f"method='expected' averages over a background distribution, but baseline={baseline!r} is "
                "a single row; use baseline='sample' (n_baselines rows drawn from X), 'kmeans' (n_baselines "
                "weighted centroids) or reference rows (with optional baseline_weights)."
            )
        if isinstance(n_steps, str):
            raise ValueError(
                "n_steps='auto' does not apply to method='expected', whose budget is n_samples path points per "
                "row; give n_samples instead, or use method='ig' with a background for exact quadrature."
            )
    steps = max_steps if isinstance(n_steps, str) else n_steps
    if rule == "riemann_trapezoid" and method != "guided" and steps < 2:
        what = f"max_steps={max_steps}" if isinstance(n_steps, str) else f"n_steps={n_steps}"
        raise ValueError(f"rule='riemann_trapezoid' needs n_steps >= 2 (and max_steps >= 2); got {what}.")


def probe_model(adapter, encoded: np.ndarray):
    """Run a few rows through the model with gradients: learn the output count, prove differentiability.

    Returns the number of explainable outputs and the adapter's model with its head settled on the output width.
    """
    module = adapter.module
    with frozen(module):
        inputs = torch.as_tensor(encoded, dtype=module_dtype(module), device=module_device(module))
        inputs.requires_grad_(True)
        with torch.enable_grad():
            try:
                raw = first_output(module(inputs))
            except Exception as error:
                if "requires grad" in str(error):  # e.g. ``x.numpy()`` inside forward
                    raise TypeError(
                        f"{adapter.model.description} fails when its input requires a gradient ({error}); skig "
                        "needs a differentiable torch model. For tree ensembles use shap.TreeExplainer, for other "
                        "models shap.KernelExplainer."
                    ) from error
                raise ValueError(
                    f"the model failed on the reference rows ({encoded.shape[1]} encoded columns): {error}"
                ) from error
            if not isinstance(raw, torch.Tensor) or not raw.requires_grad:
                raise TypeError(
                    f"{adapter.model.description} returned an output that does not depend differentiably on its "
                    "input (no gradient flows back); skig needs a differentiable torch model. For tree ensembles "
                    "use shap.TreeExplainer, for other models shap.KernelExplainer."
                )
    width = raw.reshape(raw.shape[0], -1).shape[1]
    model = settle_head(adapter.model, width)
    return model.head.n_outputs(raw.detach()), model


def check_gradient_rule(adapter, encoded: np.ndarray, rule: str) -> None:
    """A non-standard rule must reach every ReLU: refuse models that call ReLU as a function."""
    if rule == "standard":
        return
    module = adapter.module
    with frozen(module):
        probe = torch.as_tensor(encoded, dtype=module_dtype(module), device=module_device(module))
        calls = functional_relu_calls(module, probe)
    if calls:
        raise ValueError(
            f"gradient_rule={rule!r} overrides the backward pass of torch.nn.ReLU modules, but "
            f"{adapter.model.description} also calls ReLU as a function ({calls} call(s) of torch.relu, "
            "F.relu or Tensor.relu per forward pass), whose gradient would silently stay standard. Use "
            "torch.nn.ReLU modules in the model, or gradient_rule='standard'."
        )


def resolve_output(output: str, adapter) -> str:
    """The output space explained: ``"auto"`` resolved, one the model's head lacks refused."""
    head = adapter.head
    if output == "auto":
        return "logit" if adapter.classes is not None and "logit" in head.spaces else "raw"
    if output not in head.spaces:
        raise ValueError(
            f"output={output!r} is not available for {adapter.model.description}, which has no class "
            f"probabilities; use one of {list(head.spaces)}."
        )
    return output

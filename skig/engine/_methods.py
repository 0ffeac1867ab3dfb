"""Attribution methods composed from quadrature, paths and batched path gradients.

Each method returns encoded attributions (n_rows, n_features); base values and predictions are the caller's.
"""

from __future__ import annotations

import torch

from ._gradients import Paths, ScalarFn, path_gradients
from ._quadrature import quadrature


def straight_paths(
    inputs: torch.Tensor,
    baselines: torch.Tensor,
    baseline_weights: torch.Tensor,
    targets: torch.Tensor,
    alphas: torch.Tensor,
    weights: torch.Tensor,
) -> Paths:
    """Every row's straight path from every baseline, at every quadrature point (rows x baselines x steps)."""
    n_baselines, n_steps = len(baselines), len(alphas)
    return Paths(
        ends=inputs,
        starts=baselines,
        start_index=torch.arange(n_baselines, device=inputs.device).repeat_interleave(n_steps),
        alpha=alphas.repeat(n_baselines),
        weight=(baseline_weights[:, None] * weights[None, :]).reshape(-1),
        targets=targets,
    )


def integrated_gradients(
    scalar_fn: ScalarFn,
    inputs: torch.Tensor,
    baselines: torch.Tensor,
    baseline_weights: torch.Tensor,
    targets: torch.Tensor,
    *,
    rule: str,
    n_steps: int,
    max_points: int,
    progress: bool = False,
) -> torch.Tensor:
    """Integrated Gradients averaged over weighted baselines.

    Parameters
    ----------
    scalar_fn : callable
        ``scalar_fn(points, targets) -> (m,)``, the explained output.
    inputs : Tensor of shape (n, d)
        Rows to explain.
    baselines : Tensor of shape (b, d)
        Path starts, shared by all rows.
    baseline_weights : Tensor of shape (b,)
        Weights of the baselines, summing to 1.
    targets : Tensor of shape (n,)
        Output index explained for each row.
    rule : str
        Quadrature rule, see :func:`quadrature`.
    n_steps : int
        Points per path.
    max_points : int
        Most path points per forward/backward pass.
    progress : bool, default=False
        Show a progress bar.

    Returns
    -------
    Tensor of shape (n, d)
        ``sum_j w_j (x - b_j) * integral_0^1 grad f(b_j + a (x - b_j)) da``.
    """
    alphas, weights = (torch.as_tensor(v, dtype=inputs.dtype, device=inputs.device) for v in quadrature(rule, n_steps))
    paths = straight_paths(inputs, baselines, baseline_weights.to(inputs.dtype), targets, alphas, weights)
    return path_gradients(scalar_fn, paths, max_points, progress)

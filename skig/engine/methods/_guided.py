"""Guided Integrated Gradients (Kapishnikov et al., 2021): an adaptive path that moves low-gradient features first.

The path follows the reference implementation (PAIR-code ``saliency``); its integral is taken by the trapezoid rule.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from .._gradients import ScalarFn, evaluate, input_gradients, progress_bar, row_blocks
from .._interrupt import check_interrupt
from ._base import AttributionMethod, Problem, blockwise


class GuidedIntegratedGradients(AttributionMethod):
    """Guided IG from every baseline, weighted over the baselines; ``n_steps`` sequential steps batched over rows."""

    name: ClassVar[str] = "guided"
    label: ClassVar[str] = "Guided Integrated Gradients (adaptive path)"
    parameters: ClassVar[dict[str, str]] = {
        "fraction": "share of the features moved at each Guided IG pass",
        "max_dist": "how far (in alpha) a feature may stray from the straight path",
    }
    # Each step is integrated by the trapezoid rule along a path that is not a straight line.
    uses_rule: ClassVar[bool] = False
    straight_path: ClassVar[bool] = False

    @classmethod
    def points_per_row(cls, params, points_per_path: int, n_baselines: int) -> int:
        return (points_per_path + 1) * n_baselines  # one more gradient per path: its steps' two ends

    def attribute(self, problem: Problem) -> tuple[torch.Tensor, torch.Tensor]:
        # Each block's guided paths advance together and hold a dozen (groups, d) tensors: blocks bound memory.
        blocks = row_blocks(problem.n_rows, len(problem.baselines), problem.max_points)
        return blockwise(problem.n_rows, blocks, lambda block: self._block(problem.rows(block)))

    def _block(self, problem: Problem) -> tuple[torch.Tensor, torch.Tensor]:
        # Groups are rows x baselines, weighted over the baselines.
        n_rows, n_baselines = problem.n_rows, len(problem.baselines)
        ends = problem.inputs.repeat_interleave(n_baselines, 0)
        starts = problem.baselines.repeat(n_rows, 1)
        group_targets = problem.targets.repeat_interleave(n_baselines)
        start_values = evaluate(problem.scalar_fn, starts, group_targets, problem.max_points).double()

        def attribute_groups(groups: torch.Tensor, n_steps: int) -> torch.Tensor:
            return guided_integrated_gradients(
                problem.scalar_fn,
                ends[groups],
                starts[groups],
                group_targets[groups],
                n_steps=n_steps,
                fraction=self.params["fraction"],
                max_dist=self.params["max_dist"],
                max_points=problem.max_points,
                progress=problem.progress,
            )

        rows = torch.arange(n_rows, device=problem.inputs.device)
        values, steps = self.integration.run(
            attribute_groups,
            lambda: problem.predictions.repeat_interleave(n_baselines),
            start_values,
            rows.repeat_interleave(n_baselines),
            n_rows,
            problem.eps,
        )
        per_baseline = values.reshape(n_rows, n_baselines, -1)
        return (per_baseline * problem.baseline_weights.to(per_baseline.dtype).view(1, -1, 1)).sum(1), steps


def guided_integrated_gradients(
    scalar_fn: ScalarFn,
    inputs: torch.Tensor,
    baselines: torch.Tensor,
    targets: torch.Tensor,
    *,
    n_steps: int,
    fraction: float,
    max_dist: float,
    max_points: int,
    progress: bool = False,
) -> torch.Tensor:
    """Guided Integrated Gradients (Kapishnikov et al., 2021), every path advanced together one step at a time.

    The path is the reference implementation's (PAIR-code ``saliency``, ``guided_ig.py``): at each step the
    features with the smallest absolute gradient (a ``fraction`` of them) move first toward the input, until the
    path has covered the step's share of the L1 distance, and no feature strays more than ``max_dist`` (in alpha)
    from the straight line. The integral along it differs: each feature's move over a step is weighted by the mean
    of the gradients at the step's two ends (trapezoid) rather than by the gradient at its start (left Riemann).
    That costs one more gradient per path and makes the completeness error fall about as ``1 / n_steps**2``
    instead of ``1 / n_steps`` (100 to 500 times smaller at 256 steps on a tanh MLP). With ``max_dist=0`` the
    path is the straight line and the result is IG by the trapezoid rule on ``n_steps + 1`` points. The path
    state is kept in float64; gradients are taken in the model's dtype.

    Parameters
    ----------
    scalar_fn : callable
        ``scalar_fn(points, targets) -> (m,)``, the explained output.
    inputs : Tensor of shape (g, d)
        Path ends, one per path.
    baselines : Tensor of shape (g, d)
        Path starts, one per path.
    targets : Tensor of shape (g,)
        Output explained on each path.
    n_steps : int
        Steps per path (``n_steps + 1`` gradient evaluations); sequential, each batched over all paths.
    fraction : float in (0, 1]
        Share of the features selected to move at each pass.
    max_dist : float in [0, 1]
        Largest deviation from the straight line, in alpha; 0 gives the straight line.
    max_points : int
        Most points per forward/backward pass.
    progress : bool, default=False
        Show a progress bar over the steps.

    Returns
    -------
    Tensor of shape (g, d)
        Attributions of each path, float64.
    """
    dtype = inputs.dtype
    end, start = inputs.double(), baselines.double()
    total = end - start
    moving = total != 0
    span = torch.where(moving, total, torch.ones_like(total))
    l1_total = total.abs().sum(1)
    n_features = end.shape[1]
    rank = int(np.floor(fraction * (n_features - 1))) + 1  # numpy's 'lower' quantile, as a 1-based order statistic
    x = start.clone()
    attributions = torch.zeros_like(x)
    moved = previous = torch.zeros_like(x)  # the last step's move and the gradient at its start
    bar = progress_bar(progress, n_steps, "guided IG steps")
    for step in range(n_steps):
        check_interrupt()
        bar.update(1)
        grad = input_gradients(scalar_fn, x.to(dtype), targets, max_points).double()
        attributions += moved * (previous + grad) / 2
        x_step = x
        alpha = (step + 1) / n_steps
        alpha_min, alpha_max = max(alpha - max_dist, 0.0), min(alpha + max_dist, 1.0)
        x_min = end if alpha_min >= 1.0 else start + total * alpha_min
        x_max = end if alpha_max >= 1.0 else start + total * alpha_max
        l1_target = l1_total * (1.0 - alpha) if step + 1 < n_steps else torch.zeros_like(l1_total)
        active = l1_total > 0
        # Each pass either ends a path's step or moves at least one more feature to x_max: d + 1 passes suffice.
        for _ in range(n_features + 1):
            if not bool(active.any()):
                break
            behind = ((x - start) / span < alpha_min) & moving & active.unsqueeze(1)
            x = torch.where(behind, x_min, x)
            l1_current = (x - end).abs().sum(1)
            done = (l1_current - l1_target).abs() <= _GUIDED_EPS * torch.clamp(l1_total, min=1.0)
            candidates = torch.where(x == x_max, torch.inf, grad.abs())
            threshold = candidates.kthvalue(rank, dim=1).values
            selected = (candidates <= threshold.unsqueeze(1)) & torch.isfinite(candidates)
            selected &= (active & ~done).unsqueeze(1)
            reachable = ((x - x_max).abs() * selected).sum(1)
            gamma = torch.where(
                reachable > 0, (l1_current - l1_target) / reachable.clamp(min=torch.finfo(torch.float64).tiny), 1e300
            ).clamp(min=0.0)
            toward = torch.where((gamma > 1.0).unsqueeze(1), x_max, x + gamma.unsqueeze(1) * (x_max - x))
            x = torch.where(selected, toward, x)
            active &= ~done & (gamma > 1.0) & (reachable > 0)
        moved, previous = x - x_step, grad
    attributions += moved * (previous + input_gradients(scalar_fn, x.to(dtype), targets, max_points).double()) / 2
    bar.close()
    return attributions


# Paths whose L1 distance to the input is within this (relative) of the step's target have finished the step.
_GUIDED_EPS = 1e-9

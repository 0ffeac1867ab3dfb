"""Integration strategies: how a method turns paths into attributions — a quadrature rule at fixed steps, or
adaptive steps that double where completeness fails. Methods receive one and never branch on its kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ._gradients import ScalarFn, path_gradients
from ._paths import straight_paths
from ._quadrature import quadrature

#: ``attribute(groups, n_steps) -> (len(groups), d)``: attributions of the given path groups at ``n_steps``.
GroupAttribution = Callable[[torch.Tensor, int], torch.Tensor]
#: n_steps="auto" starts here and doubles the steps of the rows that miss the tolerance.
AUTO_START_STEPS = 8


@dataclass(frozen=True)
class Integration:
    """Quadrature ``rule`` at ``n_steps`` points per path, or adaptive steps when ``n_steps="auto"``.

    Parameters
    ----------
    rule : str
        Quadrature rule (see :func:`~skig.engine.quadrature`).
    n_steps : int or "auto"
        Points per path; ``"auto"`` starts at 8 and doubles the steps of the rows whose completeness error exceeds
        ``tol * |end value - start value|``, up to ``max_steps``.
    tol : float
        Relative completeness tolerance of adaptive steps.
    max_steps : int
        Most steps of adaptive steps.
    """

    rule: str
    n_steps: int | str
    tol: float = 0.01
    max_steps: int = 1024

    @property
    def adaptive(self) -> bool:
        return isinstance(self.n_steps, str)

    def lines(
        self,
        scalar_fn: ScalarFn,
        ends: torch.Tensor,
        starts: torch.Tensor,
        start_weights: torch.Tensor,
        targets: torch.Tensor,
        *,
        max_points: int,
        progress: bool = False,
    ) -> GroupAttribution:
        """Attribution of groups of straight lines: each end from every start, weighted, by this rule."""

        def attribute_groups(groups: torch.Tensor, n_steps: int) -> torch.Tensor:
            alphas, weights = (
                torch.as_tensor(v, dtype=ends.dtype, device=ends.device) for v in quadrature(self.rule, n_steps)
            )
            paths = straight_paths(ends[groups], starts, start_weights.to(ends.dtype), targets[groups], alphas, weights)
            return path_gradients(scalar_fn, paths, max_points, progress)

        return attribute_groups

    def run(
        self,
        attribute_groups: GroupAttribution,
        end_values: Callable[[], torch.Tensor],
        start_values: torch.Tensor,
        group_rows: torch.Tensor,
        n_rows: int,
        eps: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``attribute_groups`` at the fixed steps, or adaptively refined; and the steps each row used.

        Parameters
        ----------
        attribute_groups : callable
            ``attribute_groups(groups, n_steps) -> (len(groups), d)``.
        end_values : callable
            ``end_values() -> (g,)``: the explained output at each group's end, called only for adaptive steps.
        start_values : Tensor of shape (g,)
            What each group's attributions start from.
        group_rows : Tensor of shape (g,)
            The row each group belongs to.
        n_rows : int
            Number of rows.
        eps : float
            Machine epsilon of the model's dtype: adaptive steps stop refining at float rounding.
        """
        if not self.adaptive:
            groups = torch.arange(len(group_rows), device=group_rows.device)
            return attribute_groups(groups, self.n_steps), torch.full((n_rows,), self.n_steps, dtype=torch.long)
        return refine_steps(
            attribute_groups,
            end_values(),
            start_values,
            group_rows,
            n_rows,
            tol=self.tol,
            start_steps=AUTO_START_STEPS,
            max_steps=self.max_steps,
            eps=eps,
        )


def refine_steps(
    attribute: GroupAttribution,
    end_values: torch.Tensor,
    start_values: torch.Tensor,
    group_rows: torch.Tensor,
    n_rows: int,
    *,
    tol: float,
    start_steps: int,
    max_steps: int,
    eps: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attributions with adaptive steps: rows whose completeness error exceeds ``tol`` are recomputed, doubling.

    A group (one path set, e.g. a row, a noisy copy or a row x baseline) passes when
    ``|attribution sum - (end value - start value)| <= tol * |end value - start value|`` (or is below float
    rounding, ``1000 * eps`` relative to the values). A row passes when all its groups do; only the groups of
    failing rows are recomputed, with twice the steps, up to ``max_steps``.

    Parameters
    ----------
    attribute : callable
        ``attribute(groups, n_steps) -> (len(groups), d)``: attributions of the given groups.
    end_values, start_values : Tensor of shape (g,)
        What each group's attributions must add up to is ``end_values - start_values``.
    group_rows : Tensor of shape (g,)
        The row each group belongs to.
    n_rows : int
        Number of rows.
    tol : float
        Relative completeness tolerance.
    start_steps, max_steps : int
        Steps of the first pass, and the most any row gets.
    eps : float
        Machine epsilon of the model's dtype.

    Returns
    -------
    attributions : Tensor of shape (g, d)
    steps : Tensor of shape (n_rows,)
        Steps each row ended with.
    """
    gap = (end_values - start_values).double()
    floor = 1000 * eps * torch.maximum(end_values.abs(), start_values.abs()).double().clamp(min=1.0)
    steps = torch.zeros(n_rows, dtype=torch.long, device=group_rows.device)
    pending = torch.arange(n_rows, device=group_rows.device)
    out: torch.Tensor | None = None
    n_steps = min(start_steps, max_steps)
    while len(pending):
        groups = torch.nonzero(torch.isin(group_rows, pending)).squeeze(1)
        values = attribute(groups, n_steps)
        if out is None:
            out = values.new_zeros((len(group_rows), values.shape[1]))
        out[groups] = values.to(out.dtype)
        steps[pending] = n_steps
        error = (values.double().sum(1) - gap[groups]).abs()
        failing = error > tol * gap[groups].abs() + floor[groups]
        if n_steps >= max_steps:
            break
        pending = torch.unique(group_rows[groups][failing])
        n_steps = min(2 * n_steps, max_steps)
    return out, steps

"""Integration strategies: how a method turns paths into attributions — a quadrature rule at fixed steps, or
adaptive steps that double where completeness fails. Methods receive one and never branch on its kind.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ._gradients import path_gradients
from ._interrupt import check_interrupt
from ._paths import straight_paths
from ._quadrature import quadrature

#: ``attribute(groups, n_steps) -> (len(groups), d)``: attributions of the given path groups at ``n_steps``.
GroupAttribution = Callable[[torch.Tensor, int], torch.Tensor]
#: n_steps="auto" starts here and doubles the steps of the rows that miss the tolerance.
AUTO_START_STEPS = 8


@dataclass(frozen=True)
class Integration:
    """How path integrals are taken: a quadrature ``rule`` at ``n_steps`` points per path, adaptive steps when
    ``n_steps="auto"``, or exact integration (``rule="exact"``) through piecewise-linear networks.

    Parameters
    ----------
    rule : str
        A quadrature rule (see :func:`~skig.engine.quadrature`) or ``"exact"``.
    n_steps : int or "auto"
        Points per path; ``"auto"`` starts at 8 and doubles the steps of the rows whose completeness error exceeds
        ``tol * |end value - start value|``, up to ``max_steps``. Not used by exact integration.
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
    def exact(self) -> bool:
        return self.rule == "exact"

    @property
    def adaptive(self) -> bool:
        return isinstance(self.n_steps, str) and not self.exact

    def lines(self, problem, ends: torch.Tensor, end_targets: torch.Tensor) -> Lines:
        """Groups of straight lines: each of ``ends`` from every baseline of ``problem``, weighted."""
        return Lines(problem, ends, end_targets, self.rule)

    def run(
        self,
        attribute_groups: GroupAttribution,
        end_values: Callable[[], torch.Tensor],
        start_values: torch.Tensor,
        group_rows: torch.Tensor,
        n_rows: int,
        eps: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``attribute_groups`` at the fixed steps, adaptively refined, or exactly; and the steps each row used.

        Parameters
        ----------
        attribute_groups : callable
            ``attribute_groups(groups, n_steps) -> (len(groups), d)``; a :class:`Lines` for exact integration.
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

        Returns
        -------
        attributions : Tensor of shape (g, d)
        steps : Tensor of shape (n_rows,)
            Steps per row; for exact integration, the linear segments its paths crossed.
        """
        groups = torch.arange(len(group_rows), device=group_rows.device)
        if self.exact:
            values, segments = attribute_groups.exact(groups)
            steps = torch.zeros(n_rows, dtype=torch.long, device=group_rows.device)
            return values, steps.index_add_(0, group_rows, segments.to(steps.device))
        if not self.adaptive:
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


class Lines:
    """Attributions of groups of straight lines (one end from every weighted baseline) by a quadrature rule or exactly.

    Parameters
    ----------
    problem : Problem
        Gives the explained function, the baselines and their weights, the memory bound and, for exact
        integration, the module and its head apart.
    ends : Tensor of shape (g, d)
        Each group's end.
    end_targets : Tensor of shape (g,)
        The output each group explains.
    rule : str
        Quadrature rule, or ``"exact"``.
    """

    def __init__(self, problem, ends: torch.Tensor, end_targets: torch.Tensor, rule: str) -> None:
        self.problem, self.ends, self.end_targets, self.rule = problem, ends, end_targets, rule

    def __call__(self, groups: torch.Tensor, n_steps: int) -> torch.Tensor:
        problem, ends = self.problem, self.ends
        alphas, weights = (
            torch.as_tensor(v, dtype=ends.dtype, device=ends.device) for v in quadrature(self.rule, n_steps)
        )
        every = len(groups) == len(ends)  # all groups in order (fixed steps): no copy of the rows
        paths = straight_paths(
            ends if every else ends[groups],
            problem.baselines,
            problem.baseline_weights.to(ends.dtype),
            self.end_targets if every else self.end_targets[groups],
            alphas,
            weights,
        )
        return path_gradients(problem.scalar_fn, paths, problem.max_points, problem.progress)

    def exact(self, groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact attributions of the groups (float64) and the linear segments each group's lines crossed."""
        from ._exact import exact_path_integrals

        problem = self.problem
        n_baselines, n_features = len(problem.baselines), self.ends.shape[1]
        values = torch.zeros(len(groups), n_features, dtype=torch.float64, device=self.ends.device)
        segments = torch.zeros(len(groups), dtype=torch.long, device=self.ends.device)
        weights = problem.baseline_weights.double()
        # Blocks of groups so that the per-line results held at once stay within a pass's worth of points.
        block = max(1, max(problem.max_points, 4096) // n_baselines)
        for lo in range(0, len(groups), block):
            check_interrupt()
            chosen = groups[lo : lo + block]
            per_line, crossed = exact_path_integrals(
                problem.module,
                problem.head,
                problem.baselines.repeat(len(chosen), 1),
                self.ends[chosen].repeat_interleave(n_baselines, 0),
                self.end_targets[chosen].repeat_interleave(n_baselines),
                max_points=problem.max_points,
                progress=problem.progress,
                cache=problem.cache,
            )
            per_line = per_line.view(len(chosen), n_baselines, n_features)
            values[lo : lo + len(chosen)] = (per_line * weights.view(1, -1, 1)).sum(1)
            segments[lo : lo + len(chosen)] = crossed.view(len(chosen), n_baselines).sum(1)
        return values, segments


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
    ``|attribution sum - (end value - start value)| <= tol * |end value - start value|`` plus the float rounding of
    the values involved (``4 eps`` of the end and start values and of the attributions' absolute sum). A row passes
    when all its groups do; only the groups of failing rows are recomputed, with twice the steps, up to
    ``max_steps``. Rows that still fail there are counted in a warning, never passed silently.

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
    rounding = 4 * eps * (end_values.abs() + start_values.abs()).double()
    steps = torch.zeros(n_rows, dtype=torch.long, device=group_rows.device)
    pending = torch.arange(n_rows, device=group_rows.device)
    out: torch.Tensor | None = None
    n_steps = min(start_steps, max_steps)
    while len(pending):
        check_interrupt()
        groups = torch.nonzero(torch.isin(group_rows, pending)).squeeze(1)
        values = attribute(groups, n_steps)
        if out is None:
            out = values.new_zeros((len(group_rows), values.shape[1]))
        out[groups] = values.to(out.dtype)
        steps[pending] = n_steps
        error = (values.double().sum(1) - gap[groups]).abs()
        floor = rounding[groups] + 4 * eps * values.double().abs().sum(1)
        failing = error > tol * gap[groups].abs() + floor
        if n_steps >= max_steps:
            missed = torch.unique(group_rows[groups][failing])
            if len(missed):
                warnings.warn(
                    f"{len(missed)} row(s) still miss tol={tol} at max_steps={max_steps} (largest completeness error "
                    f"{float(error[failing].max()):.3g}); raise max_steps or tol, or use rule='exact' on a "
                    "piecewise-linear network. exp.n_steps shows which rows.",
                    UserWarning,
                    stacklevel=5,
                )
            break
        pending = torch.unique(group_rows[groups][failing])
        n_steps = min(2 * n_steps, max_steps)
    return out, steps

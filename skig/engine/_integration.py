"""Integration strategies: how a method turns paths into attributions — a quadrature rule at fixed steps, adaptive
steps that double where completeness fails, or exact integration. ``fit`` picks one; methods receive it.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import ClassVar

import torch

from ._chain_passes import chain_passes_apply, chain_path_gradients
from ._gradients import path_gradients, row_blocks
from ._interrupt import check_interrupt
from ._paths import straight_paths
from ._quadrature import quadrature
from .exact import Chain, ModuleReading, exact_path_integrals, read_module
from .exact._reading import chain_still_fits, read_chain_only

#: ``attribute(groups, n_steps) -> (len(groups), d)``: attributions of the given path groups at ``n_steps``.
GroupAttribution = Callable[[torch.Tensor, int], torch.Tensor]
#: n_steps="auto" starts here and doubles the steps of the rows that miss the tolerance.
AUTO_START_STEPS = 8


#: Path points a row's path is assumed to cost where the steps are not fixed (adaptive steps, exact integration),
#: when sizing batches of rows: about the 64 steps of the default.
SIZING_POINTS_PER_PATH = 64


class Integrator(ABC):
    """How path integrals are taken: a quadrature rule at fixed steps (:class:`FixedSteps`), adaptive steps
    (:class:`AdaptiveSteps`) or exact integration through piecewise-linear networks (:class:`ExactIntegration`).

    ``fit`` chooses one (``Explainer.plan_.integrator``); methods hand it their lines (:meth:`lines`) or their own
    group attributions and never read ``rule`` or ``n_steps`` themselves.
    """

    #: Whether integrals are exact (no step count applies; steps per row are the linear segments crossed).
    exact: ClassVar[bool] = False
    #: Whether the steps per row are refined until completeness holds.
    adaptive: ClassVar[bool] = False

    #: The rule as ``rule=`` names it (``"exact"`` or a quadrature rule): what ``rule="auto"`` resolved to.
    rule: str

    @property
    def points_per_path(self) -> int:
        """Model evaluations one straight path costs, for sizing batches of rows."""
        return SIZING_POINTS_PER_PATH

    @property
    def chain(self) -> Chain | None:
        """The module as a chain of affine layers and hinges, whose quadrature passes skip autograd
        (:mod:`._chain_passes`); None where the passes go through autograd."""
        return None

    def lines(self, problem, ends: torch.Tensor, end_targets: torch.Tensor) -> Lines:
        """Groups of straight lines: each of ``ends`` from every baseline of ``problem``, weighted."""
        return Lines(problem, ends, end_targets, self)

    def bind(self, module: torch.nn.Module, starts: torch.Tensor, ends: torch.Tensor) -> Integrator:
        """This integrator for one explanation's private copy of the module (exact integration re-reads a module
        whose weights changed since ``fit``); ``starts``/``ends``: a few path ends."""
        return self

    @abstractmethod
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


class _QuadratureChain:
    """The chain reading a quadrature integrator keeps (``reading``): ``fit`` reads it where the gradient is the
    model's own (:func:`~skig.engine.exact._reading.read_chain_only`); each explanation checks it against its copy of
    the module and reads again where it changed."""

    reading: ModuleReading | None

    @property
    def chain(self) -> Chain | None:
        return None if self.reading is None else self.reading.chain

    def bind(self, module: torch.nn.Module, starts: torch.Tensor, ends: torch.Tensor) -> Integrator:
        if self.reading is None or chain_still_fits(self.reading, module, starts, ends):
            return self
        return replace(self, reading=read_chain_only(module, starts, ends))


@dataclass(frozen=True)
class FixedSteps(_QuadratureChain, Integrator):
    """A quadrature rule (see :func:`~skig.engine.quadrature`) at ``n_steps`` points per path.

    ``reading``: the module read as a chain of affine layers and hinges (:func:`read_chain_only`), whose passes then
    skip autograd (:mod:`._chain_passes`); None where they go through autograd.
    """

    rule: str
    n_steps: int
    reading: ModuleReading | None = field(default=None, compare=False, repr=False)

    @property
    def points_per_path(self) -> int:
        return self.n_steps

    def run(self, attribute_groups, end_values, start_values, group_rows, n_rows, eps):
        groups = torch.arange(len(group_rows), device=group_rows.device)
        return attribute_groups(groups, self.n_steps), torch.full((n_rows,), self.n_steps, dtype=torch.long)


@dataclass(frozen=True)
class AdaptiveSteps(_QuadratureChain, Integrator):
    """A quadrature rule at adaptive steps: from ``start_steps``, the steps of the rows whose completeness error
    exceeds ``tol * |end value - start value|`` double, up to ``max_steps`` (see :func:`refine_steps`).
    ``reading`` as for :class:`FixedSteps`."""

    rule: str
    tol: float = 0.01
    max_steps: int = 1024
    start_steps: int = AUTO_START_STEPS
    reading: ModuleReading | None = field(default=None, compare=False, repr=False)
    adaptive: ClassVar[bool] = True

    def run(self, attribute_groups, end_values, start_values, group_rows, n_rows, eps):
        return refine_steps(
            attribute_groups,
            end_values(),
            start_values,
            group_rows,
            n_rows,
            tol=self.tol,
            start_steps=self.start_steps,
            max_steps=self.max_steps,
            eps=eps,
        )


@dataclass(frozen=True)
class ExactIntegration(Integrator):
    """Exact integration along straight lines through a piecewise-linear network (:mod:`.exact`).

    Parameters
    ----------
    reading : ModuleReading
        The module as ``fit`` read it: its engine (``reading.engine``: ``"chain"`` or ``"general"``) and, for the
        chain engine, the chain. Read once per ``fit``; read again only for a module whose weights differ.
    """

    reading: ModuleReading
    exact: ClassVar[bool] = True
    rule: ClassVar[str] = "exact"

    @property
    def engine(self) -> str:
        return self.reading.engine

    def bind(self, module: torch.nn.Module, starts: torch.Tensor, ends: torch.Tensor) -> ExactIntegration:
        if self.reading.fits(module):
            return self
        return ExactIntegration(read_module(module, starts, ends, self.reading.engine))

    def run(self, attribute_groups, end_values, start_values, group_rows, n_rows, eps):
        groups = torch.arange(len(group_rows), device=group_rows.device)
        values, segments = attribute_groups.exact(groups)
        steps = torch.zeros(n_rows, dtype=torch.long, device=group_rows.device)
        return values, steps.index_add_(0, group_rows, segments.to(steps.device))

    def integrals(
        self, problem, starts: torch.Tensor, ends: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact attributions of single lines ``starts -> ends`` (float64) and the segments each crossed."""
        return exact_path_integrals(
            problem.module,
            problem.head,
            starts,
            ends,
            targets,
            max_points=problem.max_points,
            progress=problem.progress,
            reading=self.reading,
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
    integrator : Integrator
        A quadrature rule's integrator, or :class:`ExactIntegration`.
    """

    def __init__(self, problem, ends: torch.Tensor, end_targets: torch.Tensor, integrator: Integrator) -> None:
        self.problem, self.ends, self.end_targets, self.integrator = problem, ends, end_targets, integrator

    def __call__(self, groups: torch.Tensor, n_steps: int) -> torch.Tensor:
        problem, ends = self.problem, self.ends
        alphas, weights = (
            torch.as_tensor(v, dtype=ends.dtype, device=ends.device) for v in quadrature(self.integrator.rule, n_steps)
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
        chain = self.integrator.chain
        if chain is not None and problem.head is not None and chain_passes_apply(paths):
            return chain_path_gradients(chain, problem.head, paths, problem.max_points, problem.progress)
        return path_gradients(problem.scalar_fn, paths, problem.max_points, problem.progress)

    def exact(self, groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact attributions of the groups (float64) and the linear segments each group's lines crossed."""
        problem = self.problem
        n_baselines, n_features = len(problem.baselines), self.ends.shape[1]
        values = torch.zeros(len(groups), n_features, dtype=torch.float64, device=self.ends.device)
        segments = torch.zeros(len(groups), dtype=torch.long, device=self.ends.device)
        weights = problem.baseline_weights.double()
        # Blocks of groups so that the per-line results held at once stay within a pass's worth of points.
        for block in row_blocks(len(groups), n_baselines, problem.max_points):
            check_interrupt()
            chosen = groups[block]
            per_line, crossed = self.integrator.integrals(
                problem,
                problem.baselines.repeat(len(chosen), 1),
                self.ends[chosen].repeat_interleave(n_baselines, 0),
                self.end_targets[chosen].repeat_interleave(n_baselines),
            )
            per_line = per_line.view(len(chosen), n_baselines, n_features)
            values[block] = (per_line * weights.view(1, -1, 1)).sum(1)
            segments[block] = crossed.view(len(chosen), n_baselines).sum(1)
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

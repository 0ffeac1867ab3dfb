"""Integration strategies: how a method turns paths into attributions — a quadrature rule at fixed steps, adaptive
steps that double where completeness fails, or exact integration. ``fit`` picks one; methods receive it.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np
import torch

from ._chain_passes import chain_passes_apply, chain_path_gradients
from ._gradients import Paths, accumulation_dtype, input_gradients, path_gradients, row_blocks
from ._interrupt import check_interrupt
from ._paths import straight_paths
from ._quadrature import nested, quadrature
from .exact import Chain, ModuleReading, exact_path_integrals, read_module
from .exact._reading import chain_still_fits, read_chain_only

#: ``attribute(groups, n_steps) -> (len(groups), d)``: attributions of the given path groups at ``n_steps``.
GroupAttribution = Callable[[torch.Tensor, int], torch.Tensor]
#: n_steps="auto" starts here and doubles the steps of the rows that miss the tolerance.
AUTO_START_STEPS = 8


#: Below this tol, adaptive steps by the trapezoid rule start from twice the intervals (9 points, not 5): on the
#: FT-Transformer of benchmarks/bench_embeddings.py nearly every row needs them there, and starting from them took the
#: same points with a check fewer at tol=0.01, and 27-52% less error for 12-15% more points at tol=0.03.
FINE_TOL = 0.05

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
    #: The completeness error, relative to the output change, the user asked to accept (adaptive steps' ``tol``).
    accepted_error: ClassVar[float] = 0.0

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
    exceeds ``tol * |end value - start value|`` double, up to ``max_steps`` (see :func:`refine_steps`). The trapezoid
    rule on straight lines places its points interval by interval instead, where each line's integrand jumps, and
    also stops on each column's error bound (:func:`refine_intervals`). ``reading`` as for :class:`FixedSteps`."""

    rule: str
    tol: float = 0.01
    max_steps: int = 1024
    start_steps: int = AUTO_START_STEPS
    reading: ModuleReading | None = field(default=None, compare=False, repr=False)
    adaptive: ClassVar[bool] = True

    @property
    def accepted_error(self) -> float:
        return self.tol

    def run(self, attribute_groups, end_values, start_values, group_rows, n_rows, eps):
        settings = {"tol": self.tol, "start_steps": self.start_steps, "max_steps": self.max_steps, "eps": eps}
        if nested(self.rule, self.max_steps) and isinstance(attribute_groups, Lines):
            # Straight lines by the trapezoid rule keep their points as their intervals are bisected. Below
            # FINE_TOL nearly every line needs twice the first intervals: starting there saves a check.
            if self.tol < FINE_TOL:
                settings["start_steps"] = 2 * self.start_steps
            columns, width = attribute_groups.problem.columns, attribute_groups.ends.shape[1]
            return refine_intervals(
                attribute_groups.points,
                end_values(),
                start_values,
                group_rows,
                n_rows,
                columns=columns,
                width=width,
                **settings,
            )
        return refine_steps(attribute_groups, end_values(), start_values, group_rows, n_rows, **settings)


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
        return self.at(groups, *quadrature(self.integrator.rule, n_steps))

    def at(self, groups: torch.Tensor, alphas: np.ndarray, weights: np.ndarray) -> torch.Tensor:
        """Attributions of the groups from the points ``alphas`` of each line, weighted by ``weights``: a
        quadrature rule's points, the same on every line."""
        problem, ends = self.problem, self.ends
        alphas, weights = (torch.as_tensor(v, dtype=ends.dtype, device=ends.device) for v in (alphas, weights))
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

    def points(self, groups: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
        """The integrand of each given group at its own point ``alphas[i]`` (:func:`refine_intervals`): the gradient
        there times the step, summed over the baselines by their weights; shape ``(len(groups), d)``.

        At alpha 0 the gradient at each baseline is the same for every row explaining the same output: it is taken once
        per baseline and output (:meth:`_at_starts`), in the same pass as the other points where they are few.
        """
        problem, n_baselines = self.problem, len(self.problem.baselines)
        at_start = alphas == 0
        starts = self._start_points(groups[at_start]) if at_start.any() else None
        if at_start.all():
            return self._at_starts(groups, *starts)
        inside = ~at_start
        paths = Paths(
            ends=self.ends[groups[inside]],
            starts=problem.baselines,
            start_index=torch.arange(n_baselines, device=self.ends.device),
            alpha=alphas[inside].to(self.ends.dtype).unsqueeze(1).expand(-1, n_baselines),
            weight=problem.baseline_weights.to(self.ends.dtype),
            targets=self.end_targets[groups[inside]],
        )
        # A pass costs a fixed dispatch besides its points: the baselines' points ride along in the first pass where
        # they are a small share of it.
        along = starts is not None and len(starts[0]) <= max(1, problem.max_points // 4)
        values = path_gradients(
            problem.scalar_fn, paths, problem.max_points, problem.progress, also_at=starts[:2] if along else None
        )
        if starts is None:
            return values
        gradients = None  # at the baselines: taken by _at_starts where they did not ride along
        if along:
            values, gradients = values
        out = values.new_empty((len(groups), values.shape[1]))
        out[inside], out[at_start] = values, self._at_starts(groups[at_start], *starts, gradients).to(values.dtype)
        return out

    def _start_points(self, groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The points at which :meth:`_at_starts` takes gradients for the given groups: every baseline once per output
        the groups explain; their outputs; and each group's output among them."""
        baselines = self.problem.baselines
        outputs, which = torch.unique(self.end_targets[groups], return_inverse=True)
        return baselines.repeat(len(outputs), 1), outputs.repeat_interleave(len(baselines)), which

    def _at_starts(
        self,
        groups: torch.Tensor,
        points: torch.Tensor,
        point_outputs: torch.Tensor,
        which: torch.Tensor,
        gradients: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The integrand of each given group at its lines' starts (alpha 0), from the gradient at each baseline for
        each output (``points``, ``point_outputs`` and ``which`` from :meth:`_start_points`; ``gradients`` there if
        already taken): the same for every row explaining the same output, so taken once per baseline and output.

        ``sum_b w_b (end - b) * g_b = end * sum_b w_b g_b - sum_b w_b b * g_b`` in float64 (float32 where the device
        lacks it, as the passes accumulate), where ``g_b`` is the gradient at baseline ``b`` for the group's output;
        the same whatever other groups are asked with it, and whichever pass took the gradient (a point's gradient does
        not depend on the points beside it).
        """
        problem = self.problem
        wide = accumulation_dtype(self.ends.device)
        baselines, weights = problem.baselines, problem.baseline_weights.to(wide)
        if gradients is None:
            gradients = input_gradients(problem.scalar_fn, points, point_outputs, problem.max_points)
        gradients = gradients.to(wide).view(-1, len(baselines), points.shape[1])
        summed = torch.einsum("b,obd->od", weights, gradients)
        offset = torch.einsum("b,bd,obd->od", weights, baselines.to(wide), gradients)
        return self.ends[groups].to(wide) * summed[which] - offset[which]

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
    check = _Completeness(end_values, start_values, tol, eps)
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
        error, failing = check(groups, values)
        if n_steps >= max_steps:
            _warn_missed(group_rows[groups][failing], error[failing], check.gap[groups][failing], tol, max_steps)
            break
        pending = torch.unique(group_rows[groups][failing])
        n_steps = min(2 * n_steps, max_steps)
    return out, steps


#: Intervals narrower than this are not bisected further (a jump then stays where it is; completeness names it).
MIN_WIDTH = 2.0**-40
#: Groups refined together: their points are held at once (up to ``max_steps`` each, a vector of ``d`` each).
_MAX_HELD = 2**27


def refine_intervals(
    attribute_points: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    end_values: torch.Tensor,
    start_values: torch.Tensor,
    group_rows: torch.Tensor,
    n_rows: int,
    *,
    tol: float,
    start_steps: int,
    max_steps: int,
    eps: float,
    columns: torch.Tensor | None = None,
    width: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Adaptive steps by the trapezoid rule, interval by interval: each line gets points where its integrand changes.

    Every group starts from ``start_steps // 2`` equal intervals (5 points at the default 8). On an interval of width
    ``h`` across which a column's integrand jumps by ``J``, the trapezoid rule errs by up to ``h |J| / 2``; the jump
    is what the interval's change has beyond a neighbouring interval's slope (:func:`_interval_bounds`), which is
    small where the integrand is smooth. A group passes when, for each reported column, these bounds summed over its
    intervals are within ``tol`` times the absolute sum of its attributions, and its completeness error is within
    ``tol`` as in :func:`refine_steps`; both beside float rounding. A group that fails has every interval whose bound
    (summed over the columns) is at least a quarter of its largest bisected, and is checked again: points go where the
    integrand jumps, not everywhere (where no interval has a bound at all, all of them are bisected, as a doubling).
    No point is taken twice, and a group's points depend on its own line alone, so a row gets the same numbers
    whatever rows it is explained with. A row passes when all its groups do; rows that still fail at ``max_steps``
    points are counted in a warning. A check reads only the pending groups' points, folded onto the reported columns
    once as they come in; a group's attributions are summed from its points once, when it is done.

    Parameters
    ----------
    attribute_points : callable
        ``attribute_points(groups, alphas) -> (len(groups), d)``: the integrand of each given group at its given
        point (:meth:`Lines.points`), one point per entry.
    end_values, start_values, group_rows, n_rows, tol, eps
        As for :func:`refine_steps`.
    start_steps, max_steps : int
        About twice the intervals of the first check, and the most points any group's lines get (at least 3).
    columns : Tensor of shape (d,), default=None
        The reported column each coordinate's attribution is summed onto (a categorical column's embedding vector
        onto that column): the bounds and the absolute sum are judged on those sums. None: each coordinate alone.
    width : int, default=1
        ``d``, the coordinates of a point: groups are refined in blocks whose points held at once stay within
        :data:`_MAX_HELD` numbers.

    Returns
    -------
    attributions : Tensor of shape (g, d)
    steps : Tensor of shape (n_rows,)
        The most points any of each row's groups took.
    """
    check = _Completeness(end_values, start_values, tol, eps)
    device = group_rows.device
    if columns is not None:  # placed and counted once, not at every check
        columns = columns.to(device)
    n_columns = int(columns.max()) + 1 if columns is not None and len(columns) else 0
    n = max(1, min(start_steps // 2, max_steps - 1))
    first = torch.linspace(0, 1, n + 1, dtype=torch.float64, device=device)
    n_groups = len(group_rows)
    points = torch.zeros(n_groups, dtype=torch.long, device=device)
    out: torch.Tensor | None = None
    missed: list[tuple[torch.Tensor, torch.Tensor, float]] = []
    for block in _group_blocks(n_groups, max_steps, width, device):
        owner = block.repeat_interleave(n + 1)
        alpha = first.repeat(len(block))
        values = attribute_points(owner, alpha)
        if out is None:
            out = values.new_zeros((n_groups, values.shape[1]))
        # A check costs what the pending groups' points cost on the reported columns, not what every point taken so
        # far costs on every coordinate (see the docstring).
        held = _Held(values, len(block) * max_steps)
        ids = torch.arange(len(values), device=device)
        folded = _fold(values.double(), columns, n_columns)
        while True:
            check_interrupt()
            order = torch.argsort(alpha, stable=True)
            order = order[torch.argsort(owner[order], stable=True)]
            owner, alpha, ids, folded = owner[order], alpha[order], ids[order], folded[order]
            pending, local = torch.unique_consecutive(owner, return_inverse=True)
            left = torch.nonzero(owner[1:] == owner[:-1]).squeeze(1)
            at = local[left]  # each interval's group among the pending ones
            span = alpha[left + 1] - alpha[left]  # of each interval
            total = folded.new_zeros((len(pending), folded.shape[1]))
            total = total.index_add_(0, at, (folded[left] + folded[left + 1]) * (span / 2)[:, None])
            change = _interval_bounds(folded[left + 1] - folded[left], span, owner[left])
            bound = change.new_zeros((len(pending), change.shape[1])).index_add_(0, at, change).max(1).values
            mass = total.abs().sum(1)
            error, failed = check(pending, total)
            failed |= bound > tol * mass + 4 * eps * mass
            counts = torch.bincount(local, minlength=len(pending))
            points[pending] = counts
            # Intervals of failing groups that may be bisected: wide enough, and room left for their midpoints.
            score = change.sum(1)
            open_ = failed[at] & (span > MIN_WIDTH)
            top = score.new_zeros(len(pending)).scatter_reduce_(0, at[open_], score[open_], "amax")
            picked = open_ & (score >= top[at] / 4)
            picked = _within_room(picked, score, at, max_steps - counts)
            going_on = torch.zeros_like(failed)
            going_on[at[picked]] = True
            stuck = failed & ~going_on
            if stuck.any():
                share = float((bound / mass.clamp_min(torch.finfo(mass.dtype).tiny))[stuck].max())
                missed.append((group_rows[pending[stuck]], error[stuck], check.gap[pending[stuck]], share))
            done = ~going_on[at]  # the intervals of groups done: their attributions, by the trapezoid rule
            ends = left[done]
            pieces = (held.rows(ids[ends]) + held.rows(ids[ends + 1])) * (span[done] / 2)[:, None]
            out.index_add_(0, owner[ends], pieces.to(out.dtype))
            if not picked.any():
                break
            new_owner = owner[left][picked]
            new_alpha = (alpha[left][picked] + alpha[left + 1][picked]) / 2
            kept = going_on[local]  # the points of groups checked again
            new_values = attribute_points(new_owner, new_alpha).to(values.dtype)
            owner, alpha = torch.cat([owner[kept], new_owner]), torch.cat([alpha[kept], new_alpha])
            ids = torch.cat([ids[kept], held.add(new_values)])
            folded = torch.cat([folded[kept], _fold(new_values.double(), columns, n_columns)])
    if missed:
        share = max(s for *_, s in missed)
        _warn_missed(
            torch.cat([m[0] for m in missed]),
            torch.cat([m[1] for m in missed]),
            torch.cat([m[2] for m in missed]),
            tol,
            max_steps,
            f"; largest column error bound {share:.3g} of the attributions' absolute sum",
        )
    steps = torch.zeros(n_rows, dtype=torch.long, device=device)
    steps = steps.scatter_reduce_(0, group_rows, points, "amax")
    assert out is not None
    return out, steps


def _interval_bounds(change: torch.Tensor, width: torch.Tensor, owner: torch.Tensor) -> torch.Tensor:
    """Each interval's error bound per column: half its width times what its change has beyond a neighbour's slope.

    ``change`` (intervals x columns) is the integrand's change across each interval, in order along each line. Where the
    integrand is smooth, a neighbouring interval's slope predicts the change, and what is left is of the order of the
    trapezoid rule's own error; where it jumps, nothing predicts the jump, and half the width times it bounds the
    error. Of the neighbours on the same line and a flat integrand, whichever predicts best is taken (so that a flat
    interval beside a jump, at the end of a line, is not taken for one).
    """
    slope = change / width[:, None]
    left = torch.full_like(change, torch.inf)
    right = torch.full_like(change, torch.inf)
    same = (owner[1:] == owner[:-1])[:, None]
    left[1:] = torch.where(same, (change[1:] - width[1:, None] * slope[:-1]).abs(), torch.inf)
    right[:-1] = torch.where(same, (change[:-1] - width[:-1, None] * slope[1:]).abs(), torch.inf)
    residual = torch.minimum(torch.minimum(left, right), change.abs())
    return residual * (width / 2)[:, None]


def _fold(values: torch.Tensor, columns: torch.Tensor | None, n_columns: int) -> torch.Tensor:
    """Coordinates summed onto their ``n_columns`` reported columns (``columns`` on ``values``' device; None: as they
    are)."""
    if columns is None:
        return values
    return values.new_zeros(len(values), n_columns).index_add_(1, columns, values)


def _within_room(picked: torch.Tensor, score: torch.Tensor, owner: torch.Tensor, room: torch.Tensor) -> torch.Tensor:
    """``picked`` cut to each group's ``room``: where a group picked more intervals, its highest scores."""
    chosen = torch.nonzero(picked).squeeze(1)
    if not (torch.bincount(owner[chosen], minlength=len(room)) > room).any():
        return picked
    chosen = chosen[torch.argsort(score[chosen], descending=True, stable=True)]
    chosen = chosen[torch.argsort(owner[chosen], stable=True)]  # by group, each group's highest scores first
    groups = owner[chosen]
    rank = torch.arange(len(chosen), device=chosen.device) - torch.searchsorted(groups, groups)
    kept = torch.zeros_like(picked)
    kept[chosen[rank < room[groups]]] = True
    return kept


def _group_blocks(n_groups: int, max_steps: int, width: int, device: torch.device) -> list[torch.Tensor]:
    """Blocks of groups refined together, so that the points held at once stay within :data:`_MAX_HELD` numbers."""
    size = max(1, _MAX_HELD // (max_steps * max(width, 1)))
    return list(torch.arange(n_groups, device=device).split(size))


class _Held:
    """The points' values a block of groups has taken, in a buffer that grows by doubling up to ``most`` rows (the
    block's groups times ``max_steps``, so that :data:`_MAX_HELD` bounds it); read by row."""

    def __init__(self, values: torch.Tensor, most: int) -> None:
        self.data, self.size, self.most = values, len(values), most

    def add(self, values: torch.Tensor) -> torch.Tensor:
        """Append ``values``; their rows in the buffer."""
        size = self.size + len(values)
        if size > len(self.data):
            capacity = max(size, min(2 * len(self.data), self.most))
            grown = self.data.new_empty((capacity, self.data.shape[1]))
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : size] = values
        rows = torch.arange(self.size, size, device=values.device)
        self.size = size
        return rows

    def rows(self, rows: torch.Tensor) -> torch.Tensor:
        return self.data[rows]


class _Completeness:
    """Whether groups' attributions add up to their output change within ``tol`` of it (and float rounding)."""

    def __init__(self, end_values: torch.Tensor, start_values: torch.Tensor, tol: float, eps: float) -> None:
        self.gap = (end_values - start_values).double()
        self.rounding = 4 * eps * (end_values.abs() + start_values.abs()).double()
        self.tol, self.eps = tol, eps

    def __call__(self, groups: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The completeness error of each group, and which groups miss the tolerance."""
        gap = self.gap[groups]
        error = (values.double().sum(1) - gap).abs()
        floor = self.rounding[groups] + 4 * self.eps * values.double().abs().sum(1)
        return error, error > self.tol * gap.abs() + floor


def _warn_missed(
    rows: torch.Tensor, errors: torch.Tensor, gaps: torch.Tensor, tol: float, max_steps: int, detail: str = ""
) -> None:
    missed = torch.unique(rows)
    if len(missed):
        worst = int(errors.argmax())
        share = float(errors[worst] / gaps[worst].abs()) if gaps[worst] != 0 else float("inf")
        warnings.warn(
            f"{len(missed)} row(s) still miss tol={tol} at max_steps={max_steps} (largest completeness error "
            f"{float(errors[worst]):.3g}, {share:.3g} of that path's output change{detail}); raise max_steps or tol, "
            "or use rule='exact' on a piecewise-linear network. An error that more steps do not shrink is a jump "
            "through a step without gradient, which no steps close (for IG, the completeness guard names those rows). "
            "exp.n_steps shows which rows.",
            UserWarning,
            stacklevel=6,
        )

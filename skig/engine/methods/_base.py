"""What every attribution method shares: the problem it is handed, and the contract it fulfils.

A method owns its parameter checks, its random draws, how it builds paths and what its completeness is measured
against; the integration strategy (quadrature rule, steps) is handed to it.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Integral
from typing import ClassVar

import numpy as np
import torch

from .._gradients import ScalarFn, evaluate
from .._integration import Integrator
from .._interrupt import interruptible_call


@dataclass
class Problem:
    """The rows to explain and everything computed about them before attributing.

    Parameters
    ----------
    scalar_fn : callable
        ``scalar_fn(points, targets) -> (m,)``: the explained output at each point for its target.
    inputs : Tensor of shape (n, d)
        Encoded rows, in the model's dtype and on its device.
    targets : Tensor of shape (n,)
        Output index explained in each row.
    predictions : Tensor of shape (n,)
        The explained output at each row, float64.
    baselines, baseline_weights : Tensor of shape (b, d) and (b,)
        Path starts (a background for Expected IG) and their weights, summing to 1.
    base_values : Tensor of shape (n,)
        Weighted mean output over the baselines for each row's target, float64.
    max_points : int
        Most path points per forward/backward pass.
    module, head : torch.nn.Module and callable, default=None
        The explained function in its two parts, for exact integration: the (private copy of the) module and
        ``head(raw, targets) -> (m,)``, the smooth map from its raw output to the explained scalar.
    row_keys : ndarray of shape (n,)
        A stable uint64 key per row (a hash of its index label): stochastic methods draw each row's numbers from
        one seed and this key, so a row's result does not depend on the other rows.
    progress : bool
        Show progress bars.
    columns : Tensor of shape (d,), default=None
        The reported column (a raw column, or an encoded one with ``features="encoded"``) each input coordinate's
        attribution is summed onto: adaptive steps judge each reported column's error bound
        (:func:`~skig.engine._integration.refine_intervals`). None: each coordinate is its own column.
    """

    scalar_fn: ScalarFn
    inputs: torch.Tensor
    targets: torch.Tensor
    predictions: torch.Tensor
    baselines: torch.Tensor
    baseline_weights: torch.Tensor
    base_values: torch.Tensor
    max_points: int
    row_keys: np.ndarray | None = None
    progress: bool = False
    module: torch.nn.Module | None = None
    head: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    columns: torch.Tensor | None = None

    @property
    def n_rows(self) -> int:
        return len(self.inputs)

    @property
    def eps(self) -> float:
        return torch.finfo(self.inputs.dtype).eps

    def rows(self, block: slice) -> Problem:
        """The same problem restricted to a block of rows."""
        return dataclasses.replace(
            self,
            inputs=self.inputs[block],
            targets=self.targets[block],
            predictions=self.predictions[block],
            base_values=self.base_values[block],
            row_keys=None if self.row_keys is None else self.row_keys[block],
        )


class AttributionMethod(ABC):
    """Base of the attribution methods: subclasses set the class attributes and implement :meth:`attribute`.

    Parameters
    ----------
    params : mapping
        The explainer's parameters (``get_params()``); a method reads the ones it names in ``parameters``.
    integration : Integrator
        How path integrals are computed (``fit`` chose it: ``Explainer.plan_.integrator``).
    random_state : numpy RandomState or None
        Where the methods that draw random numbers take their seeds from.
    """

    #: The public ``method=`` name.
    name: ClassVar[str]
    #: Its plain name, as a reviewer reads it (reports).
    label: ClassVar[str]
    #: Whether the method draws random numbers when explaining.
    stochastic: ClassVar[bool] = False
    #: Whether ``delta`` is a completeness error (values add up to prediction - base value up to it).
    additive: ClassVar[bool] = True
    #: What the attributions are when they are not additive, for reports that say why completeness does not apply.
    non_additive_values: ClassVar[str] = ""
    #: The explainer parameters, beyond the baseline and the integration, that change this method's result, and
    #: what each sets for it (one line, for reports).
    parameters: ClassVar[dict[str, str]] = {}
    #: The parameter counting its random samples per row, which stability checks halve and double (None: none).
    sample_parameter: ClassVar[str | None] = None
    #: Whether ``n_steps`` (with adaptive steps: ``tol`` and ``max_steps``) sets its model evaluations per path.
    uses_steps: ClassVar[bool] = True
    #: Whether ``rule`` (the quadrature rule) applies.
    uses_rule: ClassVar[bool] = True
    #: Whether its paths are straight lines along the model's gradient, so that exact integration applies.
    straight_path: ClassVar[bool] = True
    #: The lines its Hessian counterpart averages for ``interactions=True`` (``skig/_interactions.py``):
    #: ``"baselines"`` (Integrated Hessians: every baseline with its weight), ``"background"`` (Expected Hessians:
    #: the background rows its keyed pairs sample), or None where it has no interactions.
    interaction_lines: ClassVar[str | None] = None
    #: What the base value is, for labels in plots and reports.
    base_value_label: ClassVar[str] = "f(baseline)"
    #: Whether ``rule="auto"`` integrates exactly on piecewise-linear networks (where the quadrature error is the
    #: method's error); false where another error dominates, so that exact lines would cost time and buy nothing.
    auto_exact: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        # Ctrl-C stops every method's work within one pass (see engine/_interrupt.py), whoever calls it.
        if "attribute" in cls.__dict__:
            cls.attribute = interruptible_call(cls.attribute)

    def __init__(self, params: Mapping, integration: Integrator, random_state=None) -> None:
        self.params = {name: params[name] for name in self.parameters}
        self.integration = integration
        self.random_state = random_state

    @classmethod
    def check(cls, params: Mapping) -> None:
        """Refuse parameter combinations that mean nothing for this method (at ``fit``), saying what would do.

        The base class accepts every combination.
        """
        return None

    @classmethod
    def points_per_row(cls, params: Mapping, points_per_path: int, n_baselines: int) -> int:
        """Model evaluations (path points) one row costs, given those of one path: sizes batches of rows."""
        return points_per_path * n_baselines

    @classmethod
    def applicable_settings(cls, integrator: Integrator) -> dict[str, bool]:
        """Whether each integration setting, each of its own parameters and ``random_state`` change this method's
        numbers under ``integrator``."""
        steps = cls.uses_steps and not integrator.exact
        return {
            "n_steps": steps,
            "tol": steps and integrator.adaptive,
            "max_steps": steps and integrator.adaptive,
            "rule": cls.uses_rule,
            **dict.fromkeys(cls.parameters, True),
            "random_state": cls.stochastic,
        }

    @classmethod
    def stability_changes(cls, params: Mapping, integrator: Integrator) -> list[tuple[str, object]]:
        """The one-setting changes that can move this method's result: (parameter, new value) pairs.

        Other seeds where it draws at explain time; half and double its samples, and its steps (or half the
        adaptive steps' tolerance) where a step count applies.
        """
        changes: list[tuple[str, object]] = []
        if cls.stochastic:
            seed = params["random_state"] if isinstance(params["random_state"], Integral) else 0
            changes += [("random_state", seed + 1), ("random_state", seed + 2)]
        if cls.sample_parameter is not None:
            changes += [(cls.sample_parameter, n) for n in _half_and_double(params[cls.sample_parameter])]
        if cls.uses_steps and not integrator.exact:
            if integrator.adaptive:
                changes.append(("tol", integrator.tol / 2))
            else:
                changes += [("n_steps", n) for n in _half_and_double(integrator.n_steps)]
        return changes

    def draw_seed(self) -> int:
        """A seed drawn from ``random_state``."""
        if self.random_state is None:
            raise ValueError(f"method={self.name!r} draws random numbers: it needs a random_state.")
        return int(self.random_state.randint(np.iinfo(np.int32).max))

    def outputs(self, problem: Problem) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's output at each row for its target (its prediction) and what the row's attributions start
        from (its base value): the weighted mean output over the baselines, for the row's target."""
        return outputs_and_base_values(
            problem.scalar_fn,
            problem.inputs,
            problem.targets,
            problem.baselines,
            problem.baseline_weights,
            problem.max_points,
        )

    @abstractmethod
    def attribute(self, problem: Problem) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoded attributions (n, d) and the steps (or path points) each row used (n,)."""


def _half_and_double(value: int) -> list[int]:
    return sorted({max(2, value // 2), value * 2} - {value})


def blockwise(
    n_rows: int, blocks: list[slice], run: Callable[[slice], tuple[torch.Tensor, torch.Tensor]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``run(block) -> (attributions, steps)`` over row blocks, written in place into arrays for all rows.

    Not a list of per-block results joined at the end: small results kept between the blocks' large temporaries
    fragment the C heap, so that the process grew by ~6 KB per row explained (656 MB over the start for 100,000 rows
    of 30 features with SmoothGrad², 23 MB of input; flat with this).
    """
    attributions = steps = None
    for block in blocks:
        values, block_steps = run(block)
        if attributions is None:
            attributions = values.new_empty((n_rows, values.shape[1]))
            steps = block_steps.new_empty(n_rows)
        attributions[block], steps[block] = values, block_steps
    if attributions is None:
        raise ValueError("no rows to explain")
    return attributions, steps


def outputs_and_base_values(
    scalar_fn: ScalarFn,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    baselines: torch.Tensor,
    baseline_weights: torch.Tensor,
    max_points: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The output at each input for its target, and the weighted mean output over the baselines for each input's
    target (its base value).

    Where the rows and every baseline under each distinct target fit in one pass (``max_points``), they go through
    :func:`~.._gradients.evaluate` together: one pass where there were two. More rows are evaluated apart, so that
    they are never copied whole. Either way the numbers are the same (the passes are row-invariant).

    Returns
    -------
    outputs, base_values : Tensor of shape (n,)
        float64, on the device of ``targets``.
    """
    distinct, which = torch.unique(targets, return_inverse=True)
    n, m = len(inputs), len(baselines)
    starts, start_targets = baselines.repeat(len(distinct), 1), distinct.repeat_interleave(m)
    if n + len(starts) <= max_points:
        points, point_targets = torch.cat((inputs, starts)), torch.cat((targets, start_targets))
        values = evaluate(scalar_fn, points, point_targets, max_points).double()
        outputs, at_baselines = values[:n], values[n:]
    else:
        outputs = evaluate(scalar_fn, inputs, targets, max_points).double()
        at_baselines = evaluate(scalar_fn, starts, start_targets, max_points).double()
    at_baselines = at_baselines.view(len(distinct), m)
    per_target = torch.stack([(at_baselines[i] * baseline_weights).sum() for i in range(len(distinct))])
    return outputs, per_target[which]

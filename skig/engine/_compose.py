"""The attribution methods by name: each one of ``_methods`` run over baselines, noisy copies or a background,
at fixed or adaptive steps, with the base values its attributions start from.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

from ._gradients import ScalarFn, evaluate, path_gradients
from ._methods import (
    SAMPLE_AGGREGATES,
    aggregate_samples,
    guided_integrated_gradients,
    integrated_gradients,
    noisy_copies,
    refine_steps,
)
from ._paths import expected_paths

#: The methods :func:`attribute` runs.
METHODS = ("ig", *SAMPLE_AGGREGATES, "expected", "guided")
#: Methods that draw random numbers when explaining.
STOCHASTIC_METHODS = (*SAMPLE_AGGREGATES, "expected")
# n_steps="auto" starts here and doubles the rows that miss the tolerance.
_AUTO_START_STEPS = 8
# SmoothGrad holds rows x samples x features attributions at once: rows go in blocks of at most this many values.
_SAMPLE_BLOCK_VALUES = 2**24

#: ``attribute(groups, n_steps) -> (len(groups), d)``: attributions of the given path groups.
GroupAttribution = Callable[[torch.Tensor, int], torch.Tensor]


def baseline_output(
    scalar_fn: ScalarFn,
    baselines: torch.Tensor,
    baseline_weights: torch.Tensor,
    targets: torch.Tensor,
    max_points: int,
) -> torch.Tensor:
    """Weighted mean model output over the baselines, for each row's target: the rows' base values.

    Returns
    -------
    Tensor of shape (n,)
        float64, on the device of ``targets``.
    """
    out = torch.empty(len(targets), dtype=torch.float64, device=targets.device)
    for value in torch.unique(targets).tolist():
        at_baselines = evaluate(
            scalar_fn, baselines, torch.full_like(targets[:1], value).expand(len(baselines)), max_points
        )
        out[targets == value] = (at_baselines.double() * baseline_weights).sum()
    return out


def attribute(
    scalar_fn: ScalarFn,
    inputs: torch.Tensor,
    baselines: torch.Tensor,
    baseline_weights: torch.Tensor,
    targets: torch.Tensor,
    predictions: torch.Tensor,
    base_values: torch.Tensor,
    *,
    method: str,
    n_steps: int | str,
    rule: str,
    n_samples: int,
    noise_std: torch.Tensor,
    fraction: float,
    max_dist: float,
    tol: float,
    max_steps: int,
    max_points: int,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoded attributions of the method named ``method``, and the steps each row used.

    Parameters
    ----------
    scalar_fn : callable
        ``scalar_fn(points, targets) -> (m,)``: the output explained, at each point for its target.
    inputs, targets : Tensor of shape (n, d) and (n,)
        The rows explained, and the output index explained in each.
    baselines, baseline_weights : Tensor of shape (b, d) and (b,)
        Path starts (the background of ``method="expected"``) and their weights, summing to 1.
    predictions, base_values : Tensor of shape (n,)
        The explained output at each row and its baselines' weighted mean (see :func:`baseline_output`): what
        adaptive steps measure completeness against.
    method : {"ig", "smoothgrad", "smoothgrad_sq", "vargrad", "expected", "guided"}
        The method; see :class:`skig.Explainer`.
    n_steps : int or "auto"
        Points per path (Guided IG's steps); ``"auto"`` doubles them from 8 for the rows whose completeness error
        exceeds ``tol``, up to ``max_steps``. Not used by ``"expected"``.
    rule : str
        Quadrature rule, see :func:`quadrature`.
    n_samples : int
        Noisy copies per row (SmoothGrad family), or path points per row (``"expected"``).
    noise_std : Tensor of shape (d,)
        SmoothGrad noise standard deviation of each feature.
    fraction, max_dist : float
        Guided IG's share of features moved per pass and largest deviation from the straight line.
    tol : float
        With ``n_steps="auto"``: the completeness tolerance, relative to ``|prediction - base value|``.
    max_steps : int
        With ``n_steps="auto"``: the most steps any row gets.
    max_points : int
        Most path points per forward/backward pass.
    generator : torch.Generator or None, default=None
        CPU generator of every random draw; needed by the SmoothGrad family and ``"expected"``.
    seed : int or None, default=None
        Seed of the Sobol scramble; needed by ``"expected"``.
    progress : bool, default=False
        Show a progress bar.

    Returns
    -------
    attributions : Tensor of shape (n, d)
    steps : Tensor of shape (n,)
        Steps each row used (``n_samples`` for ``"expected"``).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}.")
    if method in STOCHASTIC_METHODS and (generator is None or (method == "expected" and seed is None)):
        needed = "a generator and a seed" if method == "expected" else "a generator"
        raise ValueError(f"method={method!r} draws random numbers: pass {needed}, so that results are reproducible.")
    n_rows = len(inputs)
    rows = torch.arange(n_rows, device=inputs.device)
    with_steps = partial(_with_steps, n_steps=n_steps, tol=tol, max_steps=max_steps, eps=torch.finfo(inputs.dtype).eps)

    def ig(ends: torch.Tensor, ends_targets: torch.Tensor) -> GroupAttribution:
        def attribute_groups(groups: torch.Tensor, n_steps: int) -> torch.Tensor:
            return integrated_gradients(
                scalar_fn,
                ends[groups],
                baselines,
                baseline_weights,
                ends_targets[groups],
                rule=rule,
                n_steps=n_steps,
                max_points=max_points,
                progress=progress,
            )

        return attribute_groups

    if method == "ig":
        return with_steps(ig(inputs, targets), lambda: predictions, base_values, rows, n_rows)
    if method == "expected":
        paths = expected_paths(
            inputs, baselines, baseline_weights, targets, n_samples=n_samples, rule=rule, seed=seed, generator=generator
        )
        attributions = path_gradients(scalar_fn, paths, max_points, progress)
        return attributions, torch.full((n_rows,), n_samples, dtype=torch.long)
    if method == "guided":
        # Groups are rows x baselines, weighted over the baselines.
        n_baselines = len(baselines)
        guided, start_values = _guided_groups(
            scalar_fn,
            inputs,
            baselines,
            targets,
            fraction=fraction,
            max_dist=max_dist,
            max_points=max_points,
            progress=progress,
        )
        values, steps = with_steps(
            guided,
            lambda: predictions.repeat_interleave(n_baselines),
            start_values,
            rows.repeat_interleave(n_baselines),
            n_rows,
        )
        per_baseline = values.reshape(n_rows, n_baselines, -1)
        return (per_baseline * baseline_weights.to(per_baseline.dtype).view(1, -1, 1)).sum(1), steps
    # SmoothGrad family: groups are rows x noisy copies, reduced per row; rows go in memory-bounded blocks.
    block = max(1, _SAMPLE_BLOCK_VALUES // (n_samples * inputs.shape[1]))
    parts, steps = [], []
    for lo in range(0, n_rows, block):
        hi = min(lo + block, n_rows)
        ends = noisy_copies(inputs[lo:hi], noise_std, n_samples, generator)
        ends_targets = targets[lo:hi].repeat_interleave(n_samples)

        def end_values(ends=ends, ends_targets=ends_targets):
            return evaluate(scalar_fn, ends, ends_targets, max_points).double()

        values, block_steps = with_steps(
            ig(ends, ends_targets),
            end_values,
            base_values[lo:hi].repeat_interleave(n_samples),
            rows[: hi - lo].repeat_interleave(n_samples),
            hi - lo,
        )
        parts.append(aggregate_samples(values, n_samples, method))
        steps.append(block_steps)
    return torch.cat(parts), torch.cat(steps)


def _guided_groups(
    scalar_fn: ScalarFn,
    inputs: torch.Tensor,
    baselines: torch.Tensor,
    targets: torch.Tensor,
    *,
    fraction: float,
    max_dist: float,
    max_points: int,
    progress: bool,
) -> tuple[GroupAttribution, torch.Tensor]:
    """Guided IG from every baseline, as groups of rows x baselines: their attribution, and their start values."""
    n_rows, n_baselines = len(inputs), len(baselines)
    ends = inputs.repeat_interleave(n_baselines, 0)
    starts = baselines.repeat(n_rows, 1)
    group_targets = targets.repeat_interleave(n_baselines)
    start_values = evaluate(scalar_fn, starts, group_targets, max_points).double()

    def attribute_groups(groups: torch.Tensor, n_steps: int) -> torch.Tensor:
        return guided_integrated_gradients(
            scalar_fn,
            ends[groups],
            starts[groups],
            group_targets[groups],
            n_steps=n_steps,
            fraction=fraction,
            max_dist=max_dist,
            max_points=max_points,
            progress=progress,
        )

    return attribute_groups, start_values


def _with_steps(
    attribute_groups: GroupAttribution,
    end_values: Callable[[], torch.Tensor],
    start_values: torch.Tensor,
    group_rows: torch.Tensor,
    n_rows: int,
    *,
    n_steps: int | str,
    tol: float,
    max_steps: int,
    eps: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``attribute_groups`` at the fixed ``n_steps``, or adaptively refined when ``n_steps="auto"``."""
    if not isinstance(n_steps, str):
        groups = torch.arange(len(group_rows), device=group_rows.device)
        return attribute_groups(groups, n_steps), torch.full((n_rows,), n_steps, dtype=torch.long)
    return refine_steps(
        attribute_groups,
        end_values(),
        start_values,
        group_rows,
        n_rows,
        tol=tol,
        start_steps=_AUTO_START_STEPS,
        max_steps=max_steps,
        eps=eps,
    )

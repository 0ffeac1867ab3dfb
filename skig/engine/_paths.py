"""Path points for the straight-line methods: every row from every baseline, and Expected IG's background paths.

Each builder returns a :class:`Paths`; the gradients are taken by :func:`path_gradients`.
"""

from __future__ import annotations

import numpy as np
import torch

from ._draws import keyed_bits
from ._gradients import Paths
from ._quadrature import quadrature

# torch's Sobol engine draws 30-bit integers: a digital shift on that grid keeps the point set a (t, m, 2)-net.
_SOBOL_BITS = 30


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


def allocate(weights: np.ndarray, total: int, minimum: int = 1) -> np.ndarray:
    """Split ``total`` points among strata in proportion to ``weights``, at least ``minimum`` each.

    Largest-remainder rounding of ``total * weights``, after lifting every stratum to ``minimum``.

    Examples
    --------
    >>> allocate(np.array([0.5, 0.25, 0.25]), 8).tolist()
    [4, 2, 2]
    >>> allocate(np.array([0.9, 0.05, 0.05]), 4).tolist()
    [2, 1, 1]
    """
    weights = np.asarray(weights, dtype=np.float64)
    if total < minimum * len(weights):
        raise ValueError(f"cannot give each of {len(weights)} strata {minimum} point(s) with only {total} points.")
    ideal = total * weights / weights.sum()
    counts = np.maximum(minimum, np.floor(ideal)).astype(np.int64)
    while counts.sum() > total:  # the minimum left too many: take from those most above their share
        excess = np.where(counts > minimum, counts - ideal, -np.inf)
        take = np.argsort(-excess, kind="stable")[: counts.sum() - total]
        counts[take[np.isfinite(excess[take])]] -= 1
    short = total - counts.sum()
    if short:
        counts[np.argsort(-(ideal - counts), kind="stable")[:short]] += 1
    return counts


def sobol_points(n_points: int, seed: int, keys: np.ndarray) -> torch.Tensor:
    """``n_points`` scrambled Sobol points in [0, 1)^2 for each row key, as float64 of shape (n_rows, n_points, 2).

    One scrambled sequence, then a random digital shift per row, keyed by the row (see
    :func:`~skig.engine._draws.keyed_bits`): every row's points keep the sequence's stratification (a shift maps each
    elementary binary interval onto another), the errors of different rows are independent, and a row gets the same
    points whatever other rows it is explained with.
    """
    engine = torch.quasirandom.SobolEngine(2, scramble=True, seed=seed)
    grid = (engine.draw(n_points, dtype=torch.float64) * 2**_SOBOL_BITS).long()
    bits = keyed_bits(keys, seed, 2) >> np.uint64(64 - _SOBOL_BITS)
    shifts = torch.from_numpy(bits.astype(np.int64)).reshape(-1, 1, 2)
    return ((grid.unsqueeze(0) ^ shifts).double() + 0.5) / 2**_SOBOL_BITS


def expected_paths(
    inputs: torch.Tensor,
    background: torch.Tensor,
    background_weights: torch.Tensor,
    targets: torch.Tensor,
    *,
    n_samples: int,
    rule: str,
    seed: int,
    keys: np.ndarray,
) -> Paths:
    """Expected IG's path points: ``n_samples`` (background row, alpha) pairs per explained row.

    With at least two points per background row (``n_samples >= 2 * b``), the background is stratified exactly:
    row ``j`` gets a share of the points proportional to its weight (at least 2), placed by the quadrature
    ``rule``, so the only error left is quadrature error, and the result is deterministic. With fewer points, each
    explained row gets its own scrambled Sobol points: the first coordinate picks a background row by the inverse
    CDF of the weights, the second the alpha, so that rows and alphas are stratified jointly rather than drawn
    independently (at ``n_samples = b``, a power of 2, every background row is visited once, each at an alpha
    from its own stratum). Measured on MLPs (``benchmarks/bench_expected.py``), one Sobol point per row beats one
    midpoint per row by about 2x, two points per row are a draw, and from four on the quadrature wins (by orders
    of magnitude on smooth networks).

    Parameters
    ----------
    inputs : Tensor of shape (n, d)
        Rows to explain.
    background : Tensor of shape (b, d)
        Background rows.
    background_weights : Tensor of shape (b,)
        Their probabilities, summing to 1.
    targets : Tensor of shape (n,)
        Output explained for each row.
    n_samples : int
        Path points (gradient evaluations) per explained row.
    rule : str
        Quadrature rule used when the background is stratified exactly.
    seed : int
        Seed of the Sobol scramble and of the per-row digital shifts.
    keys : ndarray of shape (n,)
        Each row's key (uint64): its shift depends on it alone.

    Returns
    -------
    Paths
        One group per explained row.
    """
    dtype, device = inputs.dtype, inputs.device
    weights = background_weights.detach().double().cpu()
    if n_samples >= 2 * len(background):
        counts = allocate(weights.numpy(), n_samples, minimum=2)
        start_index = np.repeat(np.arange(len(background)), counts)
        alphas, point_weights = np.empty(n_samples), np.empty(n_samples)
        for count in np.unique(counts):
            rows = np.flatnonzero(counts == count)
            alpha, weight = quadrature(rule, int(count))
            slots = np.flatnonzero(np.isin(start_index, rows))
            alphas[slots] = np.tile(alpha, len(rows))
            point_weights[slots] = np.tile(weight, len(rows)) * weights.numpy()[start_index[slots]]
        return Paths(
            ends=inputs,
            starts=background,
            start_index=torch.as_tensor(start_index, device=device),
            alpha=torch.as_tensor(alphas, dtype=dtype, device=device),
            weight=torch.as_tensor(point_weights, dtype=dtype, device=device),
            targets=targets,
        )
    points = sobol_points(n_samples, seed, keys)
    cumulative = torch.cumsum(weights, 0)
    picked = torch.searchsorted(cumulative / cumulative[-1], points[..., 0].contiguous(), right=True)
    return Paths(
        ends=inputs,
        starts=background,
        start_index=picked.clamp_(max=len(background) - 1).to(device),
        alpha=points[..., 1].to(dtype=dtype, device=device),
        weight=torch.full((n_samples,), 1.0 / n_samples, dtype=dtype, device=device),
        targets=targets,
    )

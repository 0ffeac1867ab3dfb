"""Where hinges cross zero along path segments, sorted and without repeats: the one crossing formula of both exact
engines, as torch operators (any device) and as two compiled loops (numba, which shap already depends on) for a CPU.

Along a segment ``[alpha_lo, alpha_hi]`` on which a unit's input ``d`` is affine, it crosses zero at
``t = d_lo / (d_lo - d_hi)``, position ``alpha_lo + t (alpha_hi - alpha_lo)``; a crossing float rounding puts at or
past an end is dropped (the segment keeps it). Crossings are sorted by segment, then position (stable: among equal
positions the first unit's is kept), without repeats. The torch operators make some ten passes over a level's
``points x width`` values; on a CPU one compiled loop over the segments finds, sorts and merges the crossings and a
second records the sides: the same arithmetic, point for point (tests/engine/test_crossings.py holds both to one
reference).
"""

from __future__ import annotations

import numpy as np
import torch

from .._gradients import ROW_BLOCK, padded_rows

try:
    from numba import njit
except ImportError:  # pragma: no cover - numba comes with shap
    njit = None


def crossing_positions(
    d_lo: torch.Tensor, d_hi: torch.Tensor, alpha_lo: torch.Tensor, alpha_hi: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where inputs ``d_lo`` at ``alpha_lo`` and ``d_hi`` at ``alpha_hi`` (affine between) cross zero, in float64.

    Returns ``t`` (the share of the segment), the position and whether it lies strictly inside the segment.
    """
    d_lo, d_hi = d_lo.double(), d_hi.double()
    t = d_lo / (d_lo - d_hi)
    alpha = alpha_lo + t * (alpha_hi - alpha_lo)
    return t, alpha, (alpha > alpha_lo) & (alpha < alpha_hi)


def sort_order(segment: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """The order that sorts ``(segment, alpha)`` pairs by segment, then position: two stable sorts."""
    order = torch.argsort(alpha, stable=True)
    return order[torch.argsort(segment[order], stable=True)]


def sorted_unique(segment: torch.Tensor, alpha: torch.Tensor, *carried: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Crossings ``(segment, alpha)`` (and values ``carried`` along) sorted by segment, then position, without
    repeats (the first of equal ones is kept)."""
    order = sort_order(segment, alpha)
    segment, alpha, *carried = (values[order] for values in (segment, alpha, *carried))
    keep = torch.ones_like(segment, dtype=torch.bool)
    keep[1:] = (segment[1:] != segment[:-1]) | (alpha[1:] != alpha[:-1])
    return tuple(values[keep] for values in (segment, alpha, *carried))


def compiled_available(values: torch.Tensor) -> bool:
    """Whether the compiled loops serve these values (a CPU tensor of float32 or float64)."""
    return njit is not None and values.device.type == "cpu" and values.dtype in (torch.float32, torch.float64)


def merge_crossings(
    values: torch.Tensor, alpha: torch.Tensor, path: torch.Tensor, n: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """The zero crossings of ``values`` (a hinge's inputs at points sorted by (path, alpha), affine between
    neighbours of a path) inserted in path order as new points.

    Parameters
    ----------
    values : Tensor of shape (N, width)
    alpha : Tensor of shape (N,), float64
    path : Tensor of shape (N,)
        The path of each point; -1 for padding rows (``n`` points are real).
    n : int

    Returns
    -------
    values, alpha, path : Tensor
        Merged, padded to a multiple of ``ROW_BLOCK`` rows (values 0, alpha 2, path -1); a new point's values are
        interpolated between its segment's ends.
    parent : Tensor
        Per point, the old point opening the segment it lies in (0 for padding rows).
    n : int
        The number of points.
    """
    if compiled_available(values):
        merged = _merge_compiled(values.contiguous().numpy(), alpha.numpy(), path.numpy(), n, ROW_BLOCK)
        *arrays, total = merged
        return (*(torch.from_numpy(array) for array in arrays), int(total))
    return _merge_torch(values, alpha, path, n)


def record_sides(values: torch.Tensor, path: torch.Tensor, n: int) -> None:
    """In place: where a unit's input is on different sides of zero at a segment's two ends, write +-1 by its sign
    at the midpoint over the first end's, so that ``values[i] > 0`` says the side of every unit along the segment
    point ``i`` opens (after :func:`merge_crossings`, each unit keeps its side along each segment)."""
    if compiled_available(values):
        _record_sides_compiled(values.numpy(), path.numpy(), n)
        return
    point, unit = _flips(values > 0, _segment_starts(path))
    midpoint = values[point, unit] + values[point + 1, unit]
    values[point, unit] = torch.where(midpoint > 0, 1.0, -1.0).to(values.dtype)


def _segment_starts(path: torch.Tensor) -> torch.Tensor:
    """Whether point i and point i + 1 bound a segment (of the same path), for every i but the last."""
    return (path[:-1] == path[1:]) & (path[:-1] >= 0)


def _true_entries(flags: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, column) of the true entries of a contiguous 2-D bool tensor where few are true.

    Scans it as 64-bit words (eight flags each) first: ``nonzero`` over every byte costs several times more.
    """
    n_columns = flags.shape[1]
    flat = flags.reshape(-1)
    n_words = flat.numel() // 8
    words = flat[: 8 * n_words].view(torch.int64)
    (word,) = (words != 0).nonzero(as_tuple=True)
    shifts = torch.arange(0, 64, 8, device=flags.device, dtype=torch.int64)
    byte, within = (((words[word].unsqueeze(1) >> shifts) & 0xFF) != 0).nonzero(as_tuple=True)
    index = word[byte] * 8 + within
    tail = flat[8 * n_words :].nonzero().squeeze(1) + 8 * n_words
    index = torch.cat((index, tail))
    return index // n_columns, index % n_columns


def _flips(above: torch.Tensor, segment_starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(point, unit) where a unit is on different sides at the two ends of the segment the point opens."""
    point, unit = _true_entries(above[:-1] ^ above[1:])
    inside = segment_starts[point]
    return point[inside], unit[inside]


def _merge_torch(
    values: torch.Tensor, alpha: torch.Tensor, path: torch.Tensor, n: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """:func:`merge_crossings` by torch operators (CUDA, and CPUs without numba)."""
    point, unit = _flips(values > 0, _segment_starts(path))
    if point.numel():
        t, position, inside = crossing_positions(values[point, unit], values[point + 1, unit], alpha[point],
                                                 alpha[point + 1])  # fmt: skip
        point, position, t = sorted_unique(point[inside], position[inside], t[inside])
    n_new = point.shape[0]
    parent = torch.arange(padded_rows(n + n_new), device=point.device)
    parent[n + n_new :] = 0  # padding rows carry zero gradients; any row will do
    if not n_new:
        return values, alpha, path, parent, n
    # Old point i moves down by the new points before it; new points follow the point opening their segment.
    before = torch.zeros(n + 1, dtype=torch.long, device=point.device)
    before[1:] = torch.cumsum(torch.bincount(point, minlength=n), 0)
    old_at = torch.arange(n, device=point.device) + before[:-1]
    new_at = point + 1 + torch.arange(n_new, device=point.device)
    new_values = torch.lerp(
        values.index_select(0, point), values.index_select(0, point + 1), t.to(values.dtype).unsqueeze(1)
    )
    total = n + n_new

    def merged(old: torch.Tensor, new: torch.Tensor, fill) -> torch.Tensor:
        out = old.new_empty((padded_rows(total), *old.shape[1:]))
        out.index_copy_(0, old_at, old[:n])
        out.index_copy_(0, new_at, new)
        out[total:] = fill
        return out

    parent[:total] = merged(parent[:n], point, 0)[:total]
    return merged(values, new_values, 0), merged(alpha, position, 2.0), merged(path, path[point], -1), parent, total


def _merge_compiled(values, alpha, path, n, block):
    """Crossings of every segment, inserted in path order: (values, alpha, path, parent, n) padded to ``block``."""
    width = values.shape[1]
    # Upper bound of the crossings of each segment: its units on different sides at its two ends.
    bound = np.zeros(n + 1, np.int64)
    for i in range(n - 1):
        if path[i] >= 0 and path[i] == path[i + 1]:
            count = 0
            for u in range(width):
                if (values[i, u] > 0) != (values[i + 1, u] > 0):
                    count += 1
            bound[i + 1] = count
    for i in range(n):
        bound[i + 1] += bound[i]
    found_alpha = np.empty(bound[n], np.float64)
    found_t = np.empty(bound[n], np.float64)
    kept = np.zeros(n, np.int64)
    for i in range(n - 1):
        start = bound[i]
        if bound[i + 1] == start:
            continue
        lo, hi = alpha[i], alpha[i + 1]
        k = 0
        for u in range(width):
            a, b = values[i, u], values[i + 1, u]
            if (a > 0) != (b > 0):
                d_lo, d_hi = np.float64(a), np.float64(b)
                t = d_lo / (d_lo - d_hi)
                position = lo + t * (hi - lo)
                # Float rounding can put a crossing at or past an end of its segment: then the segment keeps it.
                if position > lo and position < hi:
                    found_alpha[start + k] = position
                    found_t[start + k] = t
                    k += 1
        # Sorted along the segment (stable: among equal positions the first unit's is kept), without repeats.
        order = np.argsort(found_alpha[start : start + k], kind="mergesort")
        sorted_alpha = found_alpha[start : start + k][order]
        sorted_t = found_t[start : start + k][order]
        m = 0
        for j in range(k):
            if m == 0 or sorted_alpha[j] != found_alpha[start + m - 1]:
                found_alpha[start + m] = sorted_alpha[j]
                found_t[start + m] = sorted_t[j]
                m += 1
        kept[i] = m
    total = n + kept.sum()
    rows = max(block, -(-total // block) * block)  # padded as skig's passes are (see _gradients.ROW_BLOCK)
    out_values = np.zeros((rows, width), values.dtype)
    out_alpha = np.full(rows, 2.0)
    out_path = np.full(rows, -1, np.int64)
    out_parent = np.zeros(rows, np.int64)
    at = 0
    for i in range(n):
        out_values[at] = values[i]
        out_alpha[at] = alpha[i]
        out_path[at] = path[i]
        out_parent[at] = i
        at += 1
        start = bound[i]
        for j in range(kept[i]):
            t = found_t[start + j]
            for u in range(width):
                a = np.float64(values[i, u])
                out_values[at, u] = a + t * (np.float64(values[i + 1, u]) - a)
            out_alpha[at] = found_alpha[start + j]
            out_path[at] = path[i]
            out_parent[at] = i
            at += 1
    return out_values, out_alpha, out_path, out_parent, total


def _record_sides_compiled(values, path, n):
    """In place: where a unit is on different sides at a segment's two ends, +-1 by the sign at its midpoint."""
    width = values.shape[1]
    for i in range(n - 1):
        if path[i] >= 0 and path[i] == path[i + 1]:
            for u in range(width):
                a, b = values[i, u], values[i + 1, u]
                if (a > 0) != (b > 0):
                    values[i, u] = 1.0 if a + b > 0 else -1.0


def _compiled(function):
    # Compiled once per install and cached beside the module (or in the user's cache directory); where neither can
    # be written (a read-only install under a read-only home), compiled once per process instead.
    try:
        return njit(cache=True, nogil=True)(function)
    except RuntimeError:
        return njit(cache=False, nogil=True)(function)


if njit is not None:
    _merge_compiled = _compiled(_merge_compiled)
    _record_sides_compiled = _compiled(_record_sides_compiled)

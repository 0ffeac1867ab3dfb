"""The chain engine's cut on a CPU, as two compiled loops (numba, which shap already depends on).

The torch version in :mod:`._chain` makes some ten passes over a level's ``points x width`` values (comparing
sides, gathering and interpolating new points, merging them into path order, recording each segment's sides), each
an operator call with its own memory traffic. Here one loop over the segments finds, sorts and writes the crossings
of each into the merged arrays, and a second one records the sides: the same arithmetic, point for point.
"""

from __future__ import annotations

import numpy as np
import torch

try:
    from numba import njit
except ImportError:  # pragma: no cover - numba comes with shap
    njit = None


def available(values: torch.Tensor) -> bool:
    """Whether the compiled cut serves these values (a CPU tensor of float32 or float64)."""
    return njit is not None and values.device.type == "cpu" and values.dtype in (torch.float32, torch.float64)


def _merge(values, alpha, path, n, block):
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


def _record_sides(values, path, n):
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
    _merge = _compiled(_merge)
    _record_sides = _compiled(_record_sides)


def merge_crossings(
    values: torch.Tensor, alpha: torch.Tensor, path: torch.Tensor, n: int, block: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """The zero crossings of ``values`` (a hinge's inputs, affine on every segment) inserted in path order.

    Returns the merged values, alpha, path, the parent (the point opening the segment each point lies in) and the
    number of points; arrays padded to a multiple of ``block`` rows.
    """
    merged = _merge(values.contiguous().numpy(), alpha.numpy(), path.numpy(), n, block)
    *arrays, total = merged
    return (*(torch.from_numpy(array) for array in arrays), int(total))


def record_sides(values: torch.Tensor, path: torch.Tensor, n: int) -> None:
    """Write each segment's sides over ``values`` (see :meth:`skig.engine._chain._Points.cut`), in place."""
    _record_sides(values.numpy(), path.numpy(), n)

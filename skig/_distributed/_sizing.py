"""Rows per batch of a distributed explanation: enough passes per ``explain`` call that its fixed work is small.

Read by every engine on the driver; the batch size travels to the workers with the task.
"""

from __future__ import annotations

import numpy as np

from ..engine._device import resolve_device

# Rows per batch: at least enough to keep the Python overhead per batch small, at most what a worker holds easily.
MIN_BATCH_ROWS = 64
MAX_BATCH_ROWS = 2**16
#: Memory-bounded passes of path points per batch. One ``explain`` call has fixed work whatever its rows
#: (validation, the preprocessor's ``transform``, building the Explanation: 20-30 ms on the credit pipeline); with
#: batches of one pass that work cost 10x the explaining itself (300 against 25 us per row), with 256 passes it is
#: a few percent. Passes stay within the memory bound whatever the batch (the engine chunks path points); what
#: grows with it is per-row state: inputs, attributions, Guided IG's per-path state.
PASSES_PER_BATCH = 256


def points_per_row(explainer) -> int:
    """Model evaluations (path points) one row costs with the explainer's method and settings (its plan)."""
    return explainer.plan_.points_per_row(len(explainer.encoded_baseline_))


def max_points(explainer) -> int:
    """Path points per forward/backward pass, as the explainer's memory budget sizes them on this machine."""
    return explainer.plan_.budget.max_points(resolve_device(explainer.device))


def batch_rows(explainer) -> int:
    """Rows per batch: those whose path points fill ``PASSES_PER_BATCH`` passes, within [64, 65536]."""
    rows = PASSES_PER_BATCH * max_points(explainer) // points_per_row(explainer)
    return int(np.clip(rows, MIN_BATCH_ROWS, MAX_BATCH_ROWS))


def resolve_batch_rows(explainer, rows_per_batch: int | None) -> int:
    """``rows_per_batch`` checked, or :func:`batch_rows` when it is None."""
    if rows_per_batch is None:
        return batch_rows(explainer)
    if isinstance(rows_per_batch, bool) or not isinstance(rows_per_batch, (int, np.integer)) or rows_per_batch < 1:
        raise ValueError(f"batch_rows must be a positive integer, got {rows_per_batch!r}.")
    return int(rows_per_batch)

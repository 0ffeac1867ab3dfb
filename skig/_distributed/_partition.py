"""Explain one pandas partition (a Dask partition, a Spark Arrow batch): the layout's columns, indexed like it.

What every engine runs on its workers; the engine only hands partitions in and takes frames out.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from .._explanation import Explanation
from ..reporting._reason_codes import reason_codes
from ._allocator import task_allocator
from ._schema import RESULT_COLUMNS, OutputLayout
from ._threads import task_threads


def explain_frame(explainer, frame: pd.DataFrame, layout: OutputLayout, batch_rows: int) -> pd.DataFrame:
    """Explain the rows of one partition or Arrow batch: the layout's columns, indexed like ``frame``.

    Rows go to ``explainer.explain`` in slices of ``batch_rows``, each indexed by its row keys; whatever the slicing,
    every row gets the numbers it gets on one machine, since draws are keyed per row.
    """
    if len(frame) == 0:
        return layout.empty(frame)
    rows = _numpy_missing(frame.loc[:, list(layout.features)])
    rows.index = layout.row_index(frame)
    parts = [
        _explain_rows(explainer, rows.iloc[lo : lo + batch_rows], layout) for lo in range(0, len(rows), batch_rows)
    ]
    columns = {name: frame[name].array for name in layout.carried}
    for name in parts[0]:
        columns[name] = parts[0][name] if len(parts) == 1 else np.concatenate([part[name] for part in parts])
    # One frame built from arrays: no per-column insertion, no concatenation of frames.
    out = pd.DataFrame(columns, index=frame.index, copy=False)
    # pandas infers text arrays as its string dtype; the reason columns are object, as ``layout.empty`` has them.
    text = {name: dtype for name, dtype in layout.computed_dtypes().items() if dtype == np.dtype(object)}
    return out.astype(text) if text else out


def _numpy_missing(rows: pd.DataFrame) -> pd.DataFrame:
    """String columns whose missing values are ``pd.NA`` (Arrow strings, as Spark and Dask hand them over) as object
    columns with NaN, as pandas reads them: scikit-learn's imputers and encoders cannot compare with ``pd.NA``.
    """
    masked = [
        name
        for name, dtype in rows.dtypes.items()
        if (isinstance(dtype, pd.StringDtype) and dtype.na_value is pd.NA)
        or (isinstance(dtype, pd.ArrowDtype) and dtype.kind in "OSU")
    ]
    if not masked:
        return rows
    # One pass per column, into a new frame of the same columns (no copy of the others); object dtype stated, since
    # pandas would infer its string dtype from the array.
    columns = {
        name: pd.Series(rows[name].to_numpy(dtype=object, na_value=np.nan), index=rows.index, dtype=object)
        if name in masked
        else rows[name]
        for name in rows.columns
    }
    return pd.DataFrame(columns, index=rows.index, copy=False)


def _explain_rows(explainer, rows: pd.DataFrame, layout: OutputLayout) -> dict[str, np.ndarray]:
    """The computed columns of ``rows``, as arrays of the layout's dtypes."""
    exp = explainer.explain(rows)
    values = exp.values.to_numpy(dtype=np.float64)
    out = {name: values[:, position] for position, name in enumerate(layout.attributions)}
    results = (exp.predictions, exp.base_values, exp.delta)
    out.update({name: series.to_numpy(dtype=np.float64) for name, series in zip(RESULT_COLUMNS, results, strict=False)})
    out["n_steps"] = exp.n_steps.to_numpy(dtype=np.int64)
    if layout.reasons is not None:
        out.update(_reason_columns(exp, layout))
    return out


def _reason_columns(exp, layout: OutputLayout) -> dict[str, np.ndarray]:
    """Reason codes of every row, one (feature, contribution, text) triple of columns per rank."""
    # Rows by position: row keys may repeat or be tuples, positions never are.
    positional = Explanation(
        exp.values.reset_index(drop=True),
        exp.base_values.reset_index(drop=True),
        exp.predictions.reset_index(drop=True),
        exp.data.reset_index(drop=True),
    )
    with warnings.catch_warnings():
        # Unmapped features are reported once, on the driver (see check_reasons), not once per batch.
        warnings.simplefilter("ignore", UserWarning)
        codes = reason_codes(
            positional,
            n=layout.n_reasons,
            direction=layout.direction,
            reasons=layout.reasons,
            min_contribution=layout.min_contribution,
        )
    out = {}
    for rank in range(1, layout.n_reasons + 1):
        mine = codes[codes["rank"] == rank].set_index("row")
        feature = np.full(len(exp), None, dtype=object)
        contribution = np.full(len(exp), np.nan)
        text = np.full(len(exp), None, dtype=object)
        positions = mine.index.to_numpy(dtype=np.int64)
        feature[positions] = [str(name) for name in mine["feature"]]
        contribution[positions] = mine["contribution"].to_numpy(dtype=np.float64)
        text[positions] = [None if value is None else str(value) for value in mine["reason"]]
        out[f"reason_{rank}_feature"] = feature
        out[f"reason_{rank}_contribution"] = contribution
        out[f"reason_{rank}"] = text
    return out


@dataclass(frozen=True)
class PartitionTask:
    """What a worker runs on each partition: explain it with the layout, in batches, on the task's share of threads.

    Parameters
    ----------
    layout : OutputLayout
        The output columns and the input columns feeding them.
    batch_rows : int
        Rows per ``explain`` call.
    threads : callable
        ``threads(outer) -> int``: torch threads for the task, from the process's count outside tasks (the engine's
        rule, :meth:`Backend.task_threads`).
    """

    layout: OutputLayout
    batch_rows: int
    threads: Callable[[int], int]

    def __call__(self, partition: pd.DataFrame, explainer) -> pd.DataFrame:
        # One explainer serves every thread of a worker: explain runs on a private copy of the model.
        with task_threads(self.threads), task_allocator():
            return explain_frame(explainer, partition, self.layout, self.batch_rows)


# Explainers this worker process has unpickled, by the fingerprint of their pickled bytes (most recent last).
_LOADED: OrderedDict[str, object] = OrderedDict()
_LOADED_LOCK = threading.Lock()
#: Explainers a worker keeps: a job's explainer stays loaded across its tasks and the next jobs of the same one.
KEEP_LOADED = 4


def fingerprint(pickled: bytes) -> str:
    """A digest of a pickled explainer: equal bytes, equal fingerprint, in every process."""
    return hashlib.blake2b(pickled, digest_size=16).hexdigest()


def loaded_explainer(key: str, load: Callable[[], object]):
    """The explainer of fingerprint ``key`` in this worker process: ``load()`` the first time, then the same object.

    A worker unpickles an explainer once (the model, the preprocessing) and every later task of the job, and of a
    later job with the same explainer, reuses it; tasks may share it since each explanation runs on a private copy
    of the model. The last :data:`KEEP_LOADED` explainers are kept.
    """
    with _LOADED_LOCK:
        if key in _LOADED:
            _LOADED.move_to_end(key)
            return _LOADED[key]
    explainer = load()
    with _LOADED_LOCK:
        explainer = _LOADED.setdefault(key, explainer)
        _LOADED.move_to_end(key)
        while len(_LOADED) > KEEP_LOADED:
            _LOADED.popitem(last=False)
    return explainer


def shipped(explainer):
    """The explainer as it travels to workers: a shallow copy that never draws a progress bar."""
    check_is_fitted(explainer)
    out = copy.copy(explainer)
    out.progress = False
    return out

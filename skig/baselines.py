"""Baselines: the reference points that integrated-gradient paths start from, learned from reference data.

Strings name a statistic of the encoded reference data; rows given by the user are preprocessed like X.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

BASELINE_STATISTICS = ("zero", "mean", "median")


def fit_baselines(
    baseline, encoded_reference: np.ndarray, encode_rows: Callable[[object], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Baseline rows in encoded space and their weights.

    Parameters
    ----------
    baseline : {"zero", "mean", "median"}, array-like, Series or DataFrame
        A statistic of the encoded reference data, or raw row(s) that ``encode_rows`` validates and preprocesses.
    encoded_reference : ndarray of shape (n_samples, n_encoded)
        The reference data, preprocessed.
    encode_rows : callable
        Validates raw rows against the fitted columns and returns them encoded.

    Returns
    -------
    baselines : ndarray of shape (n_baselines, n_encoded)
    weights : ndarray of shape (n_baselines,)
        Non-negative, summing to 1.
    """
    if isinstance(baseline, str):
        if baseline == "zero":
            rows = np.zeros((1, encoded_reference.shape[1]))
        elif baseline == "mean":
            rows = encoded_reference.mean(axis=0, keepdims=True)
        elif baseline == "median":
            rows = np.median(encoded_reference, axis=0, keepdims=True)
        else:
            raise ValueError(f"baseline must be one of {list(BASELINE_STATISTICS)} or row(s); got {baseline!r}.")
    else:
        if isinstance(baseline, pd.Series):
            baseline = baseline.to_frame().T.infer_objects()
        elif not isinstance(baseline, pd.DataFrame):
            baseline = np.asarray(baseline)
            if baseline.ndim == 1:
                baseline = baseline.reshape(1, -1)
        rows = encode_rows(baseline)
    return rows.astype(np.float64), np.full(len(rows), 1.0 / len(rows))

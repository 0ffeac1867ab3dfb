"""Baselines and backgrounds: the reference points that paths start from, learned from reference data.

Every fitted baseline has a raw form (the applicant it stands for, in the user's columns) and an encoded form (what
the model reads). Statistics of categorical columns are their most frequent category, so a baseline is a real row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

#: One row summarising the reference data.
BASELINE_STATISTICS = ("zero", "mean", "median")
#: Several weighted rows standing for the reference distribution (Expected IG's background).
BACKGROUND_ESTIMATORS = ("sample", "kmeans")


@dataclass
class FittedBaselines:
    """Baseline rows in raw and encoded form, and their weights (summing to 1)."""

    raw: pd.DataFrame | None
    encoded: np.ndarray
    weights: np.ndarray


def _is_categorical(column: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column))


def _mode(column: pd.Series):
    counts = column.value_counts(dropna=False, sort=True)
    return counts.index[0] if len(counts) else np.nan


def _raw_statistic(name: str, raw: pd.DataFrame) -> pd.DataFrame:
    """One raw row: the mean or median of numeric columns (missing values ignored), the mode of the others."""
    row = {}
    for column in raw.columns:
        values = raw[column]
        if _is_categorical(values):
            row[column] = _mode(values)
        else:
            numbers = pd.to_numeric(values, errors="coerce").astype(np.float64)
            row[column] = float(numbers.mean() if name == "mean" else numbers.median())
    frame = pd.DataFrame([row], columns=raw.columns)
    for column in raw.columns:  # keep categorical dtypes so the preprocessing reads the row as it read X
        if isinstance(raw[column].dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(raw[column]):
            frame[column] = frame[column].astype(raw[column].dtype)
    return frame


def _cluster_summary(raw: pd.DataFrame, labels: np.ndarray, clusters: np.ndarray) -> pd.DataFrame:
    """Each cluster in raw terms: its members' mean for numeric columns, their most frequent value otherwise."""
    rows = []
    for cluster in clusters:
        members = raw[labels == cluster]
        rows.append(
            {
                column: _mode(members[column])
                if _is_categorical(members[column])
                else float(pd.to_numeric(members[column], errors="coerce").mean())
                for column in raw.columns
            }
        )
    return pd.DataFrame(rows, columns=raw.columns)


def _as_frame(rows, names: np.ndarray) -> pd.DataFrame:
    return rows.reset_index(drop=True) if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows, columns=names)


def _background(
    name: str, raw, encoded_reference: np.ndarray, names: np.ndarray, n_baselines: int, random_state
) -> FittedBaselines:
    n_rows = len(encoded_reference)
    rng = check_random_state(random_state)
    if name == "sample":
        if n_baselines >= n_rows:
            chosen = np.arange(n_rows)
        else:
            chosen = np.sort(rng.choice(n_rows, size=n_baselines, replace=False))
        picked = raw.iloc[chosen] if isinstance(raw, pd.DataFrame) else np.asarray(raw)[chosen]
        weights = np.full(len(chosen), 1.0 / len(chosen))
        return FittedBaselines(_as_frame(picked, names), encoded_reference[chosen], weights)
    from sklearn.cluster import KMeans

    n_distinct = len(np.unique(encoded_reference, axis=0))
    n_clusters = min(n_baselines, n_distinct)
    seed = rng.randint(np.iinfo(np.int32).max)
    kmeans = KMeans(n_clusters=n_clusters, n_init="auto", random_state=seed).fit(encoded_reference)
    sizes = np.bincount(kmeans.labels_, minlength=n_clusters)
    keep = np.flatnonzero(sizes > 0)
    summary = _cluster_summary(_as_frame(raw, names), kmeans.labels_, keep)
    return FittedBaselines(summary, kmeans.cluster_centers_[keep], sizes[keep] / sizes.sum())


def _check_weights(baseline_weights, n_rows: int) -> np.ndarray:
    weights = np.asarray(baseline_weights, dtype=np.float64)
    if weights.ndim != 1 or len(weights) != n_rows:
        raise ValueError(
            f"baseline_weights has shape {weights.shape}; the {n_rows} baseline row(s) need shape ({n_rows},)."
        )
    if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(
            f"baseline_weights must be finite, non-negative and not all zero; got {weights.tolist()[:10]}."
        )
    return weights / weights.sum()


def fit_baselines(
    baseline,
    raw_reference,
    encoded_reference: np.ndarray,
    encode_rows: Callable[[object], tuple[object, np.ndarray]],
    *,
    names: np.ndarray,
    encoded_is_raw: bool,
    one_to_one: bool = False,
    n_baselines: int = 64,
    baseline_weights=None,
    random_state=None,
) -> FittedBaselines:
    """Baseline rows in raw and encoded form, and their weights.

    Parameters
    ----------
    baseline : {"zero", "mean", "median", "sample", "kmeans"}, array-like, Series or DataFrame
        ``"mean"``/``"median"``: one row, the mean or median of each numeric column (missing values ignored) and the
        most frequent value of each categorical one, preprocessed like X, so the baseline is an applicant that can
        exist; ``"zero"``: zeros in the space the model reads; ``"sample"``: ``n_baselines`` reference rows drawn
        without replacement (all of them when there are fewer), equally weighted; ``"kmeans"``: ``n_baselines``
        k-means centroids of the encoded reference data, each weighted by its cluster's share of the rows; or raw
        row(s) that ``encode_rows`` validates and preprocesses.
    raw_reference : DataFrame or ndarray
        The validated raw reference rows.
    encoded_reference : ndarray of shape (n_samples, n_encoded)
        The same rows, preprocessed.
    encode_rows : callable
        ``encode_rows(rows) -> (validated raw rows, encoded rows)``.
    names : ndarray
        Raw column names.
    encoded_is_raw : bool
        Whether the model reads the raw columns as they are (no preprocessing): then statistics are taken on them
        directly.
    one_to_one : bool, default=False
        Whether each encoded column is one raw column, numbers as they are (``inputs=``: codes for categorical
        ones): then ``"zero"`` is 0 in the numeric raw columns too (the caller marks the code columns).
    n_baselines : int, default=64
        Rows of a ``"sample"`` or ``"kmeans"`` background.
    baseline_weights : array-like of shape (n_rows,) or None, default=None
        Weights of user rows (normalised to sum to 1); None weights them equally. Only for user rows.
    random_state : int, RandomState instance or None, default=None
        Seeds the sample and the k-means initialisation.

    Returns
    -------
    FittedBaselines
        ``raw`` is None only for ``"zero"`` through preprocessing, which has no raw form.
    """
    if isinstance(baseline, str):
        if baseline_weights is not None:
            raise ValueError(
                f"baseline_weights weighs reference rows given as baseline=; baseline={baseline!r} learns its own "
                "weights. Pass rows as baseline=, or baseline_weights=None."
            )
        if baseline == "zero":
            encoded = np.zeros((1, encoded_reference.shape[1]))
            raw = pd.DataFrame(encoded, columns=names) if encoded_is_raw or one_to_one else None
            return FittedBaselines(raw, encoded, np.ones(1))
        if baseline in ("mean", "median"):
            if encoded_is_raw:
                stat = np.mean if baseline == "mean" else np.median
                encoded = stat(encoded_reference, axis=0, keepdims=True).astype(np.float64)
                return FittedBaselines(pd.DataFrame(encoded, columns=names), encoded, np.ones(1))
            raw = _raw_statistic(baseline, _as_frame(raw_reference, names))
            return FittedBaselines(raw, encode_rows(raw)[1].astype(np.float64), np.ones(1))
        if baseline in BACKGROUND_ESTIMATORS:
            fitted = _background(baseline, raw_reference, encoded_reference, names, n_baselines, random_state)
            fitted.encoded = fitted.encoded.astype(np.float64)
            fitted.weights = fitted.weights.astype(np.float64)
            return fitted
        raise ValueError(
            f"baseline must be one of {list(BASELINE_STATISTICS + BACKGROUND_ESTIMATORS)} or row(s); got {baseline!r}."
        )
    if isinstance(baseline, pd.Series):
        baseline = baseline.to_frame().T.infer_objects()
    elif not isinstance(baseline, pd.DataFrame):
        baseline = np.asarray(baseline)
        if baseline.ndim == 1:
            baseline = baseline.reshape(1, -1)
    raw, encoded = encode_rows(baseline)
    encoded = encoded.astype(np.float64)
    weights = (
        np.full(len(encoded), 1.0 / len(encoded))
        if baseline_weights is None
        else _check_weights(baseline_weights, len(encoded))
    )
    return FittedBaselines(_as_frame(raw, names), encoded, weights)

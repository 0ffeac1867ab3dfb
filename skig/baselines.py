"""Baselines and backgrounds: the reference points that paths start from, learned from reference data.

Strings name a statistic or a background estimator of the encoded reference data; user rows are preprocessed like X.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

#: One row summarising the reference data.
BASELINE_STATISTICS = ("zero", "mean", "median")
#: Several weighted rows standing for the reference distribution (Expected IG's background).
BACKGROUND_ESTIMATORS = ("sample", "kmeans")


def _statistic(name: str, encoded_reference: np.ndarray) -> np.ndarray:
    if name == "zero":
        return np.zeros((1, encoded_reference.shape[1]))
    if name == "mean":
        return encoded_reference.mean(axis=0, keepdims=True)
    return np.median(encoded_reference, axis=0, keepdims=True)


def _background(
    name: str, encoded_reference: np.ndarray, n_baselines: int, random_state
) -> tuple[np.ndarray, np.ndarray]:
    n_rows = len(encoded_reference)
    rng = check_random_state(random_state)
    if name == "sample":
        if n_baselines >= n_rows:
            return encoded_reference, np.full(n_rows, 1.0 / n_rows)
        chosen = np.sort(rng.choice(n_rows, size=n_baselines, replace=False))
        return encoded_reference[chosen], np.full(n_baselines, 1.0 / n_baselines)
    from sklearn.cluster import KMeans

    n_distinct = len(np.unique(encoded_reference, axis=0))
    n_clusters = min(n_baselines, n_distinct)
    seed = rng.randint(np.iinfo(np.int32).max)
    kmeans = KMeans(n_clusters=n_clusters, n_init="auto", random_state=seed).fit(encoded_reference)
    sizes = np.bincount(kmeans.labels_, minlength=n_clusters)
    keep = sizes > 0
    return kmeans.cluster_centers_[keep], sizes[keep] / sizes.sum()


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
    encoded_reference: np.ndarray,
    encode_rows: Callable[[object], np.ndarray],
    *,
    n_baselines: int = 64,
    baseline_weights=None,
    random_state=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Baseline rows in encoded space and their weights.

    Parameters
    ----------
    baseline : {"zero", "mean", "median", "sample", "kmeans"}, array-like, Series or DataFrame
        A statistic of the encoded reference data (one row); ``"sample"``: ``n_baselines`` reference rows drawn
        without replacement (all of them when there are fewer), equally weighted; ``"kmeans"``: ``n_baselines``
        k-means centroids of the encoded reference data, each weighted by its cluster's share of the rows; or raw
        row(s) that ``encode_rows`` validates and preprocesses.
    encoded_reference : ndarray of shape (n_samples, n_encoded)
        The reference data, preprocessed.
    encode_rows : callable
        Validates raw rows against the fitted columns and returns them encoded.
    n_baselines : int, default=64
        Rows of a ``"sample"`` or ``"kmeans"`` background.
    baseline_weights : array-like of shape (n_rows,) or None, default=None
        Weights of user rows (normalised to sum to 1); None weights them equally. Only for user rows.
    random_state : int, RandomState instance or None, default=None
        Seeds the sample and the k-means initialisation.

    Returns
    -------
    baselines : ndarray of shape (n_baselines, n_encoded)
    weights : ndarray of shape (n_baselines,)
        Non-negative, summing to 1.
    """
    if isinstance(baseline, str):
        if baseline_weights is not None:
            raise ValueError(
                f"baseline_weights weighs reference rows given as baseline=; baseline={baseline!r} learns its own "
                "weights. Pass rows as baseline=, or baseline_weights=None."
            )
        if baseline in BASELINE_STATISTICS:
            rows = _statistic(baseline, encoded_reference)
            return rows.astype(np.float64), np.ones(1)
        if baseline in BACKGROUND_ESTIMATORS:
            rows, weights = _background(baseline, encoded_reference, n_baselines, random_state)
            return rows.astype(np.float64), weights.astype(np.float64)
        raise ValueError(
            f"baseline must be one of {list(BASELINE_STATISTICS + BACKGROUND_ESTIMATORS)} or row(s); got {baseline!r}."
        )
    if isinstance(baseline, pd.Series):
        baseline = baseline.to_frame().T.infer_objects()
    elif not isinstance(baseline, pd.DataFrame):
        baseline = np.asarray(baseline)
        if baseline.ndim == 1:
            baseline = baseline.reshape(1, -1)
    rows = encode_rows(baseline).astype(np.float64)
    if baseline_weights is None:
        return rows, np.full(len(rows), 1.0 / len(rows))
    return rows, _check_weights(baseline_weights, len(rows))

"""Attribution drift between two periods: per feature, its importance in each, the change with a bootstrap interval,
the population stability index of its attributions, the share of applicants whose reasons cite it, and a flag.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from ._reason_codes import check_reason_arguments, ranked_reasons

#: Bootstrap resamples of the importance change's interval.
N_RESAMPLES = 999
#: Bins of the population stability index: deciles of the reference period's attributions.
N_BINS = 10
#: A feature is flagged when the PSI of its attributions reaches this (the conventional "significant shift") ...
PSI_FLAG = 0.25
#: ... or when its importance moved by at least this share of the reference importance and the change's 95%
#: interval excludes 0.
RELATIVE_CHANGE_FLAG = 0.2
#: Floor of a bin's share in the PSI, so an empty bin counts as rare instead of infinitely far.
_PSI_FLOOR = 1e-4
#: Most bootstrap weights drawn at once (bounds memory on large periods).
_CHUNK_ELEMENTS = 4_000_000


def is_summary(period) -> bool:
    # a Spark or Dask summary (skig._distributed.Summary): figures only, no rows
    return hasattr(period, "importance") and hasattr(period, "mean_attribution") and not hasattr(period, "values")


def _importance(period) -> pd.Series:
    return period.importance if is_summary(period) else period.importance()


def _bootstrap_means(values: np.ndarray, random_state: np.random.RandomState) -> np.ndarray:
    """Means of ``N_RESAMPLES`` bootstrap resamples of the rows of ``values`` (n, d): (N_RESAMPLES, d)."""
    n = len(values)
    chunk = max(1, _CHUNK_ELEMENTS // max(n, 1))
    means = []
    for start in range(0, N_RESAMPLES, chunk):
        counts = random_state.multinomial(n, np.full(n, 1.0 / n), size=min(chunk, N_RESAMPLES - start))
        means.append(counts @ values / n)
    return np.vstack(means)


def psi(reference: np.ndarray, current: np.ndarray, bins: int = N_BINS) -> float:
    """Population stability index of ``current`` against ``reference``, on the reference's quantile bins.

    ``sum((c - r) * ln(c / r))`` over bins, with shares floored at 0.0001. Below 0.1 is usually read as stable,
    0.1 to 0.25 as a moderate shift, above 0.25 as a significant one.
    """
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    r = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1) / len(reference)
    c = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1) / len(current)
    r, c = np.maximum(r, _PSI_FLOOR), np.maximum(c, _PSI_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def _reason_share(exp, features, n_reasons: int, direction: str, min_contribution: float) -> pd.Series:
    """Share of rows whose principal reasons cite each feature."""
    ranked = ranked_reasons(exp, n_reasons, direction, None, min_contribution)
    counts = ranked.drop_duplicates(["row", "feature"])["feature"].astype(str).value_counts()
    return counts.reindex(features, fill_value=0) / max(len(exp), 1)


def drift(
    reference,
    current,
    *,
    n_reasons: int = 4,
    direction: str = "increase",
    min_contribution: float = 0.0,
    random_state=0,
) -> pd.DataFrame:
    """How each feature's attributions changed from ``reference`` to ``current``.

    A feature is **flagged** when the population stability index of its attributions is at least 0.25, or when its
    importance moved by at least 20% of its reference importance with a 95% bootstrap interval that excludes 0.
    With Spark or Dask summaries (which hold means, not rows) there is neither interval nor PSI nor reason share:
    a feature is then flagged on the 20% change alone.

    Parameters
    ----------
    reference, current : Explanation or Summary
        The two periods' explanations (of the same model and features), or the summaries that
        :func:`skig.spark.summarize` / :func:`skig.dask.summarize` return for them.
    n_reasons : int, default=4
        Principal reasons per applicant, as :func:`reason_codes` lists them, for the reason shares.
    direction : {"increase", "decrease"}, default="increase"
        The adverse direction of the explained output.
    min_contribution : float, default=0.0
        Smallest contribution counted as a reason.
    random_state : int, RandomState instance or None, default=0
        Seeds the bootstrap.

    Returns
    -------
    DataFrame
        One line per feature, largest PSI first (largest change first for summaries): ``importance (reference)``,
        ``importance (current)``, ``change``, ``change low`` / ``change high`` (95% bootstrap interval), ``PSI``,
        ``reason share (reference)``, ``reason share (current)`` and ``flagged``.
    """
    check_reason_arguments(n_reasons, direction, None, min_contribution)
    before, after = _importance(reference), _importance(current)
    if set(before.index) != set(after.index):
        only_before, only_after = (
            sorted(set(before.index) - set(after.index)),
            sorted(set(after.index) - set(before.index)),
        )
        raise ValueError(
            f"the two periods explain different features: only in reference {only_before}, only in current "
            f"{only_after}; explain both with the same model and columns."
        )
    features = list(before.index)
    table = pd.DataFrame(
        {"importance (reference)": before, "importance (current)": after.loc[features]}, index=features
    )
    table.index.name = "feature"
    table["change"] = table["importance (current)"] - table["importance (reference)"]
    relative = table["change"].abs() >= RELATIVE_CHANGE_FLAG * table["importance (reference)"].abs()
    if is_summary(reference) or is_summary(current):
        for column in ("change low", "change high", "PSI", "reason share (reference)", "reason share (current)"):
            table[column] = np.nan
        table["flagged"] = relative
        return table.sort_values("change", key=np.abs, ascending=False, kind="stable")
    random_state = check_random_state(random_state)
    old = np.abs(reference.values[features].to_numpy(dtype=np.float64))
    new = np.abs(current.values[features].to_numpy(dtype=np.float64))
    changes = _bootstrap_means(new, random_state) - _bootstrap_means(old, random_state)
    table["change low"], table["change high"] = np.quantile(changes, [0.025, 0.975], axis=0)
    table["PSI"] = [
        psi(reference.values[name].to_numpy(dtype=np.float64), current.values[name].to_numpy(dtype=np.float64))
        for name in features
    ]
    table["reason share (reference)"] = _reason_share(reference, features, n_reasons, direction, min_contribution)
    table["reason share (current)"] = _reason_share(current, features, n_reasons, direction, min_contribution)
    excludes_zero = (table["change low"] > 0) | (table["change high"] < 0)
    table["flagged"] = (table["PSI"] >= PSI_FLAG) | (relative & excludes_zero)
    return table.sort_values("PSI", ascending=False, kind="stable")

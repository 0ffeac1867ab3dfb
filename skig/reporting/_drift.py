"""Attribution drift between two periods: per feature, its importance in each, the change with an interval, the
population stability index of its attributions, the share of applicants whose reasons cite it, and a flag.

From two Explanations (rows: a bootstrap interval, PSI on the reference's deciles) or from Spark / Dask summaries
(totals: a normal-approximation interval, PSI on the summaries' fixed histogram grid).
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from ._reason_codes import check_reason_arguments, cited_features

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


def _psi_of_shares(reference: np.ndarray, current: np.ndarray) -> float:
    """``sum((c - r) * ln(c / r))`` over bins of the two periods' shares, each floored at :data:`_PSI_FLOOR`."""
    r, c = np.maximum(reference, _PSI_FLOOR), np.maximum(current, _PSI_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def psi(reference: np.ndarray, current: np.ndarray, bins: int = N_BINS) -> float:
    """Population stability index of ``current`` against ``reference``, on the reference's quantile bins.

    ``sum((c - r) * ln(c / r))`` over bins, with shares floored at 0.0001. Below 0.1 is usually read as stable,
    0.1 to 0.25 as a moderate shift, above 0.25 as a significant one.
    """
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    r = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1) / len(reference)
    c = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1) / len(current)
    return _psi_of_shares(r, c)


def grid_psi(reference: np.ndarray, current: np.ndarray, bins: int = N_BINS) -> float:
    """Population stability index from two periods' counts on one fine grid of bins (in value order).

    The fine bins are merged into ``bins`` groups by the reference's quantiles: each fine bin joins the quantile
    group its midpoint (in the reference's cumulative share) falls in, and bins above the reference's largest value
    join the last. The result is :func:`psi` with each decile edge of the reference moved to the nearest fine edge.
    """
    reference, current = np.asarray(reference, dtype=np.float64), np.asarray(current, dtype=np.float64)
    share = reference / reference.sum()
    middle = np.cumsum(share) - share / 2
    group = np.minimum((middle * bins).astype(np.int64), bins - 1)
    r = np.bincount(group, weights=reference, minlength=bins) / reference.sum()
    c = np.bincount(group, weights=current, minlength=bins) / current.sum()
    return _psi_of_shares(r, c)


def _reason_share(exp, features, n_reasons: int, direction: str, min_contribution: float) -> pd.Series:
    """Share of rows whose principal reasons cite each feature."""
    cited = cited_features(exp.values[features].to_numpy(dtype=np.float64), n_reasons, direction, min_contribution)
    return pd.Series(cited.sum(0) / max(len(exp), 1), index=features)


def _as_summaries(reference, current, n_reasons, direction, min_contribution):
    """Both periods as summaries counting reasons alike: an Explanation is summarized here, a summary's own
    counting must match the other's and any given."""
    given = {"n_reasons": n_reasons, "direction": direction, "min_contribution": min_contribution}
    counted = [period.reasons for period in (reference, current) if is_summary(period)]
    missing = [period for period in (reference, current) if is_summary(period) and period.histogram is None]
    if missing:
        raise ValueError(
            "a summary without spread, histograms and reason counts cannot be compared; make it with "
            "skig.spark.summarize or skig.dask.summarize."
        )
    settings = dict(counted[0])
    for other in counted[1:]:
        if other != settings:
            raise ValueError(
                f"the two summaries count reasons differently ({settings} and {other}); summarize both periods with "
                "the same n_reasons, direction and min_contribution."
            )
    for name, value in given.items():
        if value is not None and value != settings[name]:
            raise ValueError(
                f"the summaries counted reasons with {name}={settings[name]!r}, not {value!r}: pass the same to "
                "skig.drift (or leave it out), or summarize again with it."
            )

    def summarized(period):
        if is_summary(period):
            return period
        from .._distributed._summary import Summary

        return Summary.of_explanation(period, **settings)

    return summarized(reference), summarized(current), settings


def _summary_columns(table: pd.DataFrame, before, after) -> None:
    """Interval, PSI and reason shares of two summaries, into ``table`` (indexed by feature)."""
    features = table.index
    spread = np.sqrt(
        before.abs_variance.loc[features] / before.rows + after.abs_variance.loc[features] / after.rows
    ).to_numpy()
    z = NormalDist().inv_cdf(0.975)
    table["change low"] = table["change"] - z * spread
    table["change high"] = table["change"] + z * spread
    bins = before.histogram.index.union(after.histogram.index)
    old = before.histogram.reindex(bins, fill_value=0)
    new = after.histogram.reindex(bins, fill_value=0)
    table["PSI"] = [grid_psi(old[name].to_numpy(), new[name].to_numpy()) for name in features]
    table["reason share (reference)"] = before.reason_counts.loc[features] / before.rows
    table["reason share (current)"] = after.reason_counts.loc[features] / after.rows


def drift(
    reference,
    current,
    *,
    n_reasons: int | None = None,
    direction: str | None = None,
    min_contribution: float | None = None,
    random_state=0,
) -> pd.DataFrame:
    """How each feature's attributions changed from ``reference`` to ``current``.

    A feature is **flagged** when the population stability index of its attributions is at least 0.25, or when its
    importance moved by at least 20% of its reference importance with a 95% interval that excludes 0.

    Two Explanations: the interval is a bootstrap over rows (999 resamples), the PSI is on the reference's deciles.
    A Spark or Dask summary (either period; an Explanation beside one is summarized here): the interval is the
    normal approximation of a difference of two means, ``change +/- 1.96 sqrt(s_ref^2 / n_ref + s_cur^2 / n_cur)``
    from each period's variance of ``|attribution|``, and the PSI is on the reference's deciles read from the
    summaries' histograms (a fixed grid of 32 bins per power of ten, the same for both periods): each decile edge
    moves to the nearest grid edge. Reason shares are exact either way. See docs/compliance.md for how closely the
    two ways agree.

    Parameters
    ----------
    reference, current : Explanation or Summary
        The two periods' explanations (of the same model and features), or the summaries that
        :func:`skig.spark.summarize` / :func:`skig.dask.summarize` return for them.
    n_reasons : int, default=None
        Principal reasons per applicant, as :func:`reason_codes` lists them, for the reason shares. None: 4, or
        what the summaries counted (a value given must match theirs).
    direction : {"increase", "decrease"}, default=None
        The adverse direction of the explained output. None: ``"increase"``, or the summaries'.
    min_contribution : float, default=None
        Smallest contribution counted as a reason. None: 0, or the summaries'.
    random_state : int, RandomState instance or None, default=0
        Seeds the bootstrap (two Explanations).

    Returns
    -------
    DataFrame
        One line per feature, largest PSI first: ``importance (reference)``, ``importance (current)``, ``change``,
        ``change low`` / ``change high`` (95% interval), ``PSI``, ``reason share (reference)``, ``reason share
        (current)`` and ``flagged``.
    """
    check_reason_arguments(
        4 if n_reasons is None else n_reasons,
        "increase" if direction is None else direction,
        None,
        0.0 if min_contribution is None else min_contribution,
    )
    summaries = is_summary(reference) or is_summary(current)
    if summaries:
        reference, current, _ = _as_summaries(reference, current, n_reasons, direction, min_contribution)
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
    if summaries:
        _summary_columns(table, reference, current)
    else:
        n_reasons = 4 if n_reasons is None else n_reasons
        direction = "increase" if direction is None else direction
        min_contribution = 0.0 if min_contribution is None else min_contribution
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

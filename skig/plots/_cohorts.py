"""Cohorts: an explanation split into groups of rows by one column's values, for plots that compare groups.

Categories (and numbers with few distinct values) give one cohort each up to a bound, the rest "other" (ordered ones
contiguous ranges); other numbers quantile bins; NaN is "missing".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._common import (
    MISSING,
    OTHER,
    categories,
    check_count,
    feature_column,
    format_number,
    format_value,
    is_numeric,
    is_ordered,
)

MAX_COHORTS = 8
DEFAULT_BINS = 4


def cohorts(exp, column: str, bins: int | Sequence[float] | None = None, max_cohorts: int = MAX_COHORTS) -> dict:
    """Split the rows of an explanation by the values of one column of its data.

    Parameters
    ----------
    exp : Explanation
        The explanation to split.
    column : str
        A column of ``exp.data``.
    bins : int or sequence of float, default=None
        How to split a numeric column. ``None``: one cohort per value when the column has at most ``max_cohorts``
        distinct values, else 4 quantile bins. An int: that many quantile bins (fewer when quantiles coincide). A
        sequence: the cut points, giving ``len(bins) + 1`` cohorts (``x <= bins[0]``, ..., ``x > bins[-1]``).
        Ignored for categorical columns.
    max_cohorts : int, default=8
        Most cohorts of a categorical column (besides "missing"), so that a 50-level column stays readable. Beyond
        it, the ``max_cohorts - 1`` largest categories keep a cohort each (largest first) and the rest form
        ``"other"``, last; an ordered ``pd.Categorical`` is cut instead into ``max_cohorts`` runs of consecutive
        levels of about equal size (``"A1-B3"``), in its order.

    Returns
    -------
    dict of str to Explanation
        Cohort name to the explanation of its rows, in the categories' (or bins') order, empty cohorts left out.
        Categories are named by their value (``"rent"``), bins by their interval (``"Income <= 1,250"``,
        ``"1,250 < Income <= 3,000"``, ``"Income > 3,000"``), runs of ordered levels by their ends (``"A1-B3"``);
        rows whose value is missing form ``"missing"``, last.

    Examples
    --------
    >>> import pandas as pd
    >>> import skig
    >>> from skig.plots import cohorts
    >>> exp = skig.Explanation(
    ...     values=pd.DataFrame({"Income": [0.2, -0.1, 0.05], "Home": [0.1, 0.0, -0.2]}),
    ...     base_values=pd.Series([0.1, 0.1, 0.1]),
    ...     predictions=pd.Series([0.4, 0.0, -0.05]),
    ...     data=pd.DataFrame({"Income": [900.0, 3000.0, 1500.0], "Home": ["rent", "owner", None]}),
    ... )
    >>> {name: len(part) for name, part in cohorts(exp, "Home").items()}
    {'owner': 1, 'rent': 1, 'missing': 1}
    """
    max_cohorts = check_count(max_cohorts, "max_cohorts")
    values = feature_column(exp.data, column)
    missing = values.isna().to_numpy()
    if is_numeric(values) and (bins is not None or values.nunique() > max_cohorts):
        labels, codes = _bin(values.astype(np.float64), column, DEFAULT_BINS if bins is None else bins)
    else:
        labels, codes = _split_categories(values, max_cohorts)
    groups = {label: exp[codes == code] for code, label in enumerate(labels) if (codes == code).any()}
    if missing.any():
        groups[MISSING] = exp[missing]
    return groups


def _split_categories(values: pd.Series, max_cohorts: int) -> tuple[list[str], np.ndarray]:
    """Cohort names and each row's cohort (-1 when missing): a category each, or the largest and "other", or runs."""
    levels = categories(values)
    level_codes = np.full(len(values), -1)
    for code, level in enumerate(levels):
        level_codes[(values == level).to_numpy(dtype=bool, na_value=False)] = code
    if len(levels) <= max_cohorts:
        return [format_value(level) for level in levels], level_codes
    counts = np.bincount(level_codes[level_codes >= 0], minlength=len(levels))
    if is_ordered(values):
        # Cut the order where the cumulative share of rows crosses 1/k, 2/k, ...: runs of about equal size.
        share_before = (np.cumsum(counts) - counts) / counts.sum()
        runs = np.minimum((share_before * max_cohorts).astype(int), max_cohorts - 1)
        runs = np.unique(runs, return_inverse=True)[1]  # renumber runs left empty by a large level
        ends = [
            (levels[np.flatnonzero(runs == run)[0]], levels[np.flatnonzero(runs == run)[-1]])
            for run in range(runs.max() + 1)
        ]
        labels = [
            format_value(low) if low == high else f"{format_value(low)}-{format_value(high)}" for low, high in ends
        ]
        return labels, np.where(level_codes >= 0, runs[level_codes], -1)
    largest = np.argsort(-counts, kind="stable")[: max_cohorts - 1]
    cohort_of_level = np.full(len(levels), max_cohorts - 1)
    cohort_of_level[largest] = np.arange(len(largest))
    labels = [format_value(levels[code]) for code in largest] + [OTHER]
    return labels, np.where(level_codes >= 0, cohort_of_level[level_codes], -1)


def _bin(values: pd.Series, name: str, bins) -> tuple[list[str], np.ndarray]:
    """Interval labels and each row's bin (-1 when missing) for quantile bins or given cut points."""
    present = values.dropna()
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        if bins < 1:
            raise ValueError(f"bins must be a positive integer or a sequence of cut points, got {bins!r}.")
        # Inner quantiles only: the outer bins are open, so every value lands in one.
        cuts = np.unique(np.quantile(present, np.linspace(0, 1, int(bins) + 1)[1:-1])) if len(present) else []
    else:
        cuts = np.asarray(bins, dtype=np.float64)
        if cuts.ndim != 1 or np.any(np.diff(cuts) <= 0):
            raise ValueError(f"bins as cut points must be a strictly increasing sequence of numbers, got {bins!r}.")
    cuts = [float(cut) for cut in cuts]
    if not cuts:
        return [f"all {name}"], np.where(values.isna(), -1, 0)
    texts = [format_number(cut) for cut in cuts]
    labels = (
        [f"{name} <= {texts[0]}"]
        + [f"{low} < {name} <= {high}" for low, high in zip(texts[:-1], texts[1:], strict=True)]
        + [f"{name} > {texts[-1]}"]
    )
    codes = np.searchsorted(np.asarray(cuts), values.to_numpy(), side="left")
    codes = np.where(values.isna().to_numpy(), -1, codes)
    return labels, codes

"""Cohorts: an explanation split into groups of rows by one column's values, for plots that compare groups.

Categories (and numbers with few distinct values) give one cohort each up to a bound, the rest "other" (ordered ones
contiguous ranges); other numbers quantile bins; NaN is "missing".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._labels import missing_label, pooled_label, value_labels
from ._common import (
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
        Cohort name to the explanation of its rows, in the categories' (or bins') order, empty cohorts left out;
        every row is in exactly one cohort. Categories are named by their value (``"rent"``; values written alike,
        such as the number 1 and the string ``"1"``, are written in full: ``"1"`` and ``"'1'"``), bins by their
        interval (``"Income <= 1,250"``, ``"1,250 < Income <= 3,000"``, ``"Income > 3,000"``), runs of ordered levels
        by their ends (``"A1-B3"``); rows whose value is missing form ``"missing"``, last. The names skig invents,
        ``"other"`` and ``"missing"``, become ``"other (pooled)"`` and ``"missing (no value)"`` when a category is
        already called so; they are :class:`skig.plots.InventedLabel` strings, whose ``kind`` says what they
        hold.

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
        taken = labels
    else:
        labels, codes = _split_categories(values, max_cohorts)
        # Pooled levels too: "missing" must not read like a user's "missing" inside "other".
        taken = [*labels, *value_labels(categories(values), format_value)]
    groups = {label: exp[codes == code] for code, label in enumerate(labels) if (codes == code).any()}
    if missing.any():
        groups[missing_label(taken)] = exp[missing]
    return groups


def _split_categories(values: pd.Series, max_cohorts: int) -> tuple[list[str], np.ndarray]:
    """Cohort names and each row's cohort (-1 when missing): a category each, or the largest and "other", or runs."""
    levels = categories(values)
    level_codes = np.full(len(values), -1)
    for code, level in enumerate(levels):
        level_codes[(values == level).to_numpy(dtype=bool, na_value=False)] = code
    names = value_labels(levels, format_value)
    if len(levels) <= max_cohorts:
        return names, level_codes
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
        name_of = dict(zip(levels, names, strict=True))
        labels = [name_of[low] if low == high else f"{name_of[low]}-{name_of[high]}" for low, high in ends]
        return labels, np.where(level_codes >= 0, runs[level_codes], -1)
    largest = np.argsort(-counts, kind="stable")[: max_cohorts - 1]
    cohort_of_level = np.full(len(levels), max_cohorts - 1)
    cohort_of_level[largest] = np.arange(len(largest))
    # "other" holds user's levels too: it must differ from every level's name, not only the kept ones.
    labels = [names[code] for code in largest] + [pooled_label(names)]
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
    texts = _cut_texts(cuts)
    labels = (
        [f"{name} <= {texts[0]}"]
        + [f"{low} < {name} <= {high}" for low, high in zip(texts[:-1], texts[1:], strict=True)]
        + [f"{name} > {texts[-1]}"]
    )
    codes = np.searchsorted(np.asarray(cuts), values.to_numpy(), side="left")
    codes = np.where(values.isna().to_numpy(), -1, codes)
    return labels, codes


def _cut_texts(cuts: list[float]) -> list[str]:
    """The cut points with the fewest significant digits (3 at least) that keep them apart, each within a quarter of
    its distance to the next cut, so that no two bins share a name and no name moves a cut past a neighbour.
    """
    gaps = np.diff(cuts)
    tolerance = np.minimum(np.append(gaps, np.inf), np.insert(gaps, 0, np.inf)) / 4
    for digits in range(3, 18):
        texts = [format_number(cut, digits=digits) for cut in cuts]
        close = all(
            abs(float(text.replace(",", "")) - cut) <= limit
            for text, cut, limit in zip(texts, cuts, tolerance, strict=True)
        )
        if close and len(set(texts)) == len(texts):
            return texts
    return [repr(cut) for cut in cuts]

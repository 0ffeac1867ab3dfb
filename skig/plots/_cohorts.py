"""Cohorts: an explanation split into groups of rows by one column's values, for plots that compare groups.

Categories (and numbers with few distinct values) give one cohort each, other numbers quantile bins; NaN is "missing".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._common import MISSING, categories, feature_column, format_number, format_value, is_numeric

# A numeric column with more distinct values than this is binned rather than split value by value.
MAX_VALUES_UNBINNED = 10
DEFAULT_BINS = 4


def cohorts(exp, column: str, bins: int | Sequence[float] | None = None) -> dict:
    """Split the rows of an explanation by the values of one column of its data.

    Parameters
    ----------
    exp : Explanation
        The explanation to split.
    column : str
        A column of ``exp.data``.
    bins : int or sequence of float, default=None
        How to split a numeric column. ``None``: one cohort per value when the column has at most 10 distinct
        values, else 4 quantile bins. An int: that many quantile bins (fewer when quantiles coincide). A sequence:
        the cut points, giving ``len(bins) + 1`` cohorts (``x <= bins[0]``, ..., ``x > bins[-1]``). Ignored for
        categorical columns.

    Returns
    -------
    dict of str to Explanation
        Cohort name to the explanation of its rows, in the categories' (or bins') order, empty cohorts left out.
        Categories are named by their value (``"rent"``), bins by their interval (``"Income <= 1,250"``,
        ``"1,250 < Income <= 3,000"``, ``"Income > 3,000"``); rows whose value is missing form ``"missing"``, last.

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
    values = feature_column(exp.data, column)
    missing = values.isna().to_numpy()
    if is_numeric(values) and (bins is not None or values.nunique() > MAX_VALUES_UNBINNED):
        labels, codes = _bin(values.astype(np.float64), column, DEFAULT_BINS if bins is None else bins)
    else:
        levels = categories(values)
        labels = [format_value(level) for level in levels]
        codes = np.full(len(values), -1)
        for code, level in enumerate(levels):
            codes[(values == level).to_numpy(dtype=bool, na_value=False)] = code
    groups = {label: exp[codes == code] for code, label in enumerate(labels) if (codes == code).any()}
    if missing.any():
        groups[MISSING] = exp[missing]
    return groups


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

"""The explainer's side of embedding nets: code columns checked against their tables, and baselines that are
categories (the modal one for a statistic, each cluster's modal one for k-means), never averaged codes.

The space itself (tracing lookups, points, the wrapped module) is :mod:`skig.engine._inputs`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ..engine._inputs import InputSpace


def _values_at(rows, position_rows: np.ndarray, raw_column: int) -> list:
    if isinstance(rows, pd.DataFrame):
        return rows.iloc[position_rows, raw_column].tolist()
    return np.asarray(rows, dtype=object)[position_rows, raw_column].tolist()


def _spelling(raw_reference, codes: np.ndarray, code: float, raw_column: int):
    """How the reference rows spell ``code``: the first of its rows' values that is not missing (an imputer may map a
    missing value to a real category's code), else the first row's."""
    values = _values_at(raw_reference, np.flatnonzero(codes == code)[:256], raw_column)
    return next((value for value in values if not pd.isna(value)), values[0])


def check_codes(
    space: InputSpace, encoded: np.ndarray, rows, index, groups: np.ndarray, names_of: Callable[[], Sequence]
) -> None:
    """Refuse rows whose code for some embedding table stands for no row of it, naming column, values and rows.

    ``names_of()`` gives the columns' names for the message: asked only when a code is bad (reading the explainer's
    names costs more than the check on every call).

    Raises
    ------
    ValueError
        For codes out of the table's range (e.g. -1 or NaN for a category the encoder never saw), or not whole.
    """
    bad = space.bad_codes(encoded)
    if not bad:
        return
    column, (at, (low, high)) = next(iter(bad.items()))
    names = names_of()
    raw_column = int(groups[column])
    codes = [int(code) if float(code).is_integer() else code for code in pd.unique(encoded[at, column])[:10]]
    raw = pd.unique(pd.Series(_values_at(rows, at[:10], raw_column), dtype=object)).tolist()
    shown = ", ".join(repr(label) for label in list(index[at[:5]]))
    others = [str(names[int(groups[c])]) for c in bad if c != column]
    raise ValueError(
        f"column {names[raw_column]!r} is looked up in an embedding table that holds codes {low} to {high - 1}, but "
        f"rows [{shown}{', ...' if len(at) > 5 else ''}] ({len(at)} row(s)) have codes {codes} (values {raw}): a "
        "category the net never saw, a missing value or a code out of range. Map them to a category the net knows "
        "(e.g. its 'unknown' code) or drop those rows." + (f" Columns {others} have such codes too." if others else "")
    )


def _modes(codes: np.ndarray, labels: np.ndarray, n_groups: int) -> np.ndarray:
    """The most frequent code of each group of rows (the smallest on ties)."""
    found = np.empty(n_groups)
    for group in range(n_groups):
        values, counts = np.unique(codes[labels == group], return_counts=True)
        found[group] = values[np.argmax(counts)] if len(values) else np.nan
    return found


def categorical_baselines(
    space: InputSpace, fitted, baseline, encoded_reference: np.ndarray, raw_reference, groups: np.ndarray
) -> None:
    """Make the fitted baselines' code columns categories: in place on ``fitted`` (a ``FittedBaselines``).

    ``"mean"``/``"median"``: the modal code; ``"kmeans"``: each centroid's cluster's modal code (rows assigned to
    the nearest centroid); ``"zero"``: the zero vector of embedding space, which no category is (the raw baseline
    shows NaN); sampled or given rows keep their own codes. The raw baseline shows the category each code stands
    for, as the reference rows spell it.
    """
    columns = space.code_columns
    if len(columns) == 0 or not isinstance(baseline, str) or baseline == "sample":
        return
    if baseline == "zero":
        if fitted.raw is not None:
            fitted.raw = fitted.raw.astype(object)
            fitted.raw.iloc[:, np.unique(groups[columns])] = np.nan
        return
    if baseline == "kmeans":
        from sklearn.metrics import pairwise_distances_argmin

        labels = pairwise_distances_argmin(encoded_reference, fitted.encoded)
    else:
        labels = np.zeros(len(encoded_reference), dtype=np.int64)
    for column in columns:
        modes = _modes(encoded_reference[:, column], labels, len(fitted.encoded))
        fitted.encoded[:, column] = modes
        if fitted.raw is None:
            continue
        raw_column = int(groups[column])
        values = [_spelling(raw_reference, encoded_reference[:, column], mode, raw_column) for mode in modes]
        fitted.raw = fitted.raw.astype({fitted.raw.columns[raw_column]: object})
        fitted.raw.iloc[:, raw_column] = values

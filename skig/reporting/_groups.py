"""Groups of rows for a fair-lending review: labels aligned to the explained rows, small groups pooled, and each
feature's gap between group means with a bootstrap interval and a permutation p-value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from .._labels import missing_label, pooled_label, value_labels

#: Resamples of the bootstrap intervals and relabellings of the permutation test.
N_RESAMPLES = 999
#: Most matrix elements one bootstrap chunk draws (bounds memory on large groups).
_CHUNK_ELEMENTS = 4_000_000


def group_labels(group, X: pd.DataFrame) -> tuple[pd.Series, str, dict]:
    """One group label (a string) per row of ``X``, the group's name, and the value each label stands for.

    Parameters
    ----------
    group : str, Series or array-like of shape (n_rows,)
        A column of ``X`` (read by the model or not); a Series, aligned on ``X``'s index by label (never by
        position: its order and extra labels do not matter); or an array or list, taken in ``X``'s row order.
    X : DataFrame
        The explained rows.

    Returns
    -------
    labels : Series of str, indexed like ``X``
        A different label for each different value: the value as text, written in full where two values read alike
        (the number 1 is ``"1"``, the string ``"1"`` is ``"'1'"``). Missing values become ``"missing"``
        (``"missing (no value)"`` when a value is the string ``"missing"``).
    name : str
        The column's or Series' name, else ``"group"``.
    values : dict of str to object
        The value each label stands for (NaN for missing values' label).
    """
    if isinstance(group, str):
        if group not in X.columns:
            raise ValueError(f"group {group!r} is not a column of X; columns: {[str(c) for c in X.columns]}.")
        labels, name = X[group], group
    elif isinstance(group, pd.Series):
        if not group.index.is_unique:
            duplicated = group.index[group.index.duplicated()].unique().tolist()[:5]
            raise ValueError(f"group's index has duplicated labels {duplicated}; it must label each row once.")
        absent = X.index.difference(group.index)
        if len(absent):
            raise ValueError(
                f"group (a Series) has no value for {len(absent)} rows of X, e.g. labels {absent[:5].tolist()}; a "
                "Series is aligned on X's index by label. Pass .to_numpy() to take values in X's row order instead."
            )
        labels, name = group.reindex(X.index), group.name
    else:
        values = np.asarray(group, dtype=object)
        if values.ndim != 1 or len(values) != len(X):
            raise ValueError(
                f"group has shape {values.shape}; an array or list needs one label per row of X ({len(X)} rows)."
            )
        labels, name = pd.Series(values, index=X.index), None
    raw = labels.astype(object).to_numpy()
    present = pd.notna(raw)
    values = list(pd.unique(raw[present]))
    names = value_labels(values)
    label_of = dict(zip(values, names, strict=True))
    missing = str(missing_label(names))
    text = np.full(len(raw), missing, dtype=object)
    text[present] = [label_of[value] for value in raw[present]]
    stands_for = dict(zip(names, values, strict=True)) | ({missing: np.nan} if not present.all() else {})
    return pd.Series(text, index=X.index), str(name) if name is not None else "group", stands_for


def labelled_columns(frame: pd.DataFrame, values: dict) -> pd.DataFrame:
    """The columns of ``frame`` (one per group value, as a full-data summary has them) that a label stands for,
    renamed to their labels, in ``values``' order.

    ``values`` maps labels to their values, as :func:`group_labels` gives it (NaN for missing values). A string never
    matches a number that reads the same.
    """
    positions, labels = [], []
    for label, value in values.items():
        for position, group in enumerate(frame.columns):
            if pd.isna(value):
                found = np.ndim(group) == 0 and bool(pd.isna(group))
            else:
                found = isinstance(group, str) == isinstance(value, str) and bool(group == value)
            if found:
                positions.append(position)
                labels.append(label)
                break
    return frame.iloc[:, positions].set_axis(labels, axis=1)


@dataclass
class PooledGroups:
    """Group labels after pooling, with the table of group sizes."""

    labels: pd.Series
    sizes: pd.DataFrame
    pooled: list[str]
    other: str | None


def pool_groups(labels: pd.Series, *, min_size: int, max_groups: int) -> PooledGroups:
    """Keep the ``max_groups`` largest groups with at least ``min_size`` rows; pool the rest as ``"other"``.

    Ties in size are broken by label, so the result does not depend on row order. The pooled group is named
    ``"other"`` (``"other (pooled)"`` when a group is called ``"other"``, kept or pooled, and so on until no group
    has the name); every row keeps exactly one label.
    """
    counts = labels.value_counts()
    order = sorted(counts.index, key=lambda label: (-counts[label], label))
    kept = [label for label in order if counts[label] >= min_size][:max_groups]
    pooled = [label for label in order if label not in set(kept)]
    other = None
    if pooled:
        other = str(pooled_label(counts.index))
        labels = labels.where(labels.isin(kept), other)
    rows = [(label, int(counts[label]), "") for label in kept]
    if pooled:
        small = [label for label in pooled if counts[label] < min_size]
        beyond = [label for label in pooled if counts[label] >= min_size]
        notes = []
        if small:
            notes.append(f"{len(small)} group{'s' * (len(small) > 1)} under {min_size} rows ({_names(small)})")
        if beyond:
            notes.append(
                f"{len(beyond)} group{'s' * (len(beyond) > 1)} beyond the largest {max_groups} ({_names(beyond)})"
            )
        rows.append((other, int(counts[pooled].sum()), "pooled: " + "; ".join(notes)))
    sizes = pd.DataFrame(rows, columns=["group", "rows", "note"]).set_index("group")
    return PooledGroups(labels, sizes, pooled, other)


def _names(labels: list[str], limit: int = 8) -> str:
    shown = ", ".join(labels[:limit])
    return shown + (f", and {len(labels) - limit} more" if len(labels) > limit else "")


def group_means(values: pd.DataFrame, labels: pd.Series, order: list[str]) -> pd.DataFrame:
    """Mean attribution of every feature (rows) in every group (columns, in ``order``)."""
    means = values.groupby(labels.to_numpy()).mean().T
    return means.loc[:, order]


def compare_groups(
    values: pd.DataFrame, labels: pd.Series, *, n_resamples: int = N_RESAMPLES, random_state=0
) -> pd.DataFrame:
    """Each feature's largest gap between two group means, with an interval and a p-value for that pair.

    Both are adjusted for picking the pair out of all ``k (k - 1) / 2`` pairs of ``k`` groups (Bonferroni), so a
    gap between two small noisy groups is not mistaken for a disparity, and the interval and the p-value agree.

    Parameters
    ----------
    values : DataFrame of shape (n_rows, n_features)
        Attributions.
    labels : Series of shape (n_rows,)
        Group of each row (at least two groups).
    n_resamples : int, default=999
        Bootstrap resamples and permutations.
    random_state : int, RandomState instance or None, default=0
        Seeds the resampling.

    Returns
    -------
    DataFrame indexed by feature, largest gap first
        ``highest`` and ``lowest`` (the groups with the highest and lowest mean), ``difference`` (their gap),
        ``low`` and ``high`` (percentile bootstrap interval of the gap, resampling rows within each group, at
        95% over all pairs: each tail holds ``2.5% / n_pairs``) and ``p_value`` (two-sided permutation test of the
        gap, shuffling the two groups' labels, times ``n_pairs``, at most 1). ``attrs["n_pairs"]`` is ``n_pairs``.
    """
    rng = check_random_state(random_state)
    groups, codes = np.unique(labels.to_numpy(), return_inverse=True)
    if len(groups) < 2:
        raise ValueError(f"comparing groups needs at least 2 groups, got {list(groups)}.")
    n_pairs = len(groups) * (len(groups) - 1) // 2
    matrix = values.to_numpy(dtype=np.float64)
    n_features = matrix.shape[1]
    members = [matrix[codes == g] for g in range(len(groups))]
    means = np.stack([rows.mean(axis=0) for rows in members])
    highest, lowest = means.argmax(axis=0), means.argmin(axis=0)
    columns = np.arange(n_features)
    gap = means[highest, columns] - means[lowest, columns]

    p_values = np.ones(n_features)
    for high, low in sorted(set(zip(highest.tolist(), lowest.tolist(), strict=True))):
        if high == low:  # every group has the same mean: no gap to test
            continue
        features = columns[(highest == high) & (lowest == low)]
        pooled = np.concatenate([members[high][:, features], members[low][:, features]])
        n_high = len(members[high])
        exceed = np.zeros(len(features))
        for _ in range(n_resamples):
            shuffled = pooled[rng.permutation(len(pooled))]
            diff = shuffled[:n_high].mean(axis=0) - shuffled[n_high:].mean(axis=0)
            # a relative tolerance, so ties with the observed gap count despite float rounding
            exceed += np.abs(diff) >= gap[features] * (1 - 1e-9)
        p_values[features] = np.minimum(1.0, n_pairs * (1 + exceed) / (1 + n_resamples))

    boot = np.empty((n_resamples, len(groups), n_features))
    for g, rows in enumerate(members):
        chunk = max(1, _CHUNK_ELEMENTS // (len(rows) * n_features))
        for start in range(0, n_resamples, chunk):
            stop = min(n_resamples, start + chunk)
            draws = rng.randint(0, len(rows), size=(stop - start, len(rows)))
            boot[start:stop, g] = rows[draws].mean(axis=1)
    gaps = boot[:, highest, columns] - boot[:, lowest, columns]
    tail = 2.5 / n_pairs
    low, high = np.percentile(gaps, [tail, 100 - tail], axis=0)
    table = pd.DataFrame(
        {
            "highest": groups[highest],
            "lowest": groups[lowest],
            "difference": gap,
            "low": low,
            "high": high,
            "p_value": p_values,
        },
        index=pd.Index(values.columns, name="feature"),
    )
    table = table.sort_values("difference", ascending=False, kind="stable")
    table.attrs["n_pairs"] = n_pairs
    return table

"""Reason codes: for each row, the features that push the explained output furthest in the adverse direction.

What US adverse-action notices list for a declined applicant, read straight off an :class:`Explanation`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

DIRECTIONS = ("increase", "decrease")


def _reason_text(reasons, feature: str, value) -> str | None:
    if reasons is None:
        return None
    if callable(reasons):
        return reasons(feature, value)
    return reasons.get(feature, feature)


def reason_codes(
    exp,
    n: int = 4,
    direction: str = "increase",
    reasons: Mapping[str, str] | Callable[[str, object], str] | None = None,
) -> pd.DataFrame:
    """The ``n`` most adverse features of every row, with their raw value and contribution.

    Parameters
    ----------
    exp : Explanation
        Attributions, e.g. of the probability of default.
    n : int, default=4
        Most reasons per row. Rows with fewer adverse features get fewer; a feature whose contribution is not adverse
        is never listed.
    direction : {"increase", "decrease"}, default="increase"
        The adverse direction of the explained output: ``"increase"`` when a higher output is worse (probability of
        default), ``"decrease"`` when a lower one is (a credit score).
    reasons : mapping or callable, default=None
        Reason text per feature (``{"Income": "Income insufficient for amount requested"}``), or a callable
        ``(feature, value) -> str``. Fills a ``reason`` column; features missing from a mapping fall back to their
        name, with a warning that lists them.

    Returns
    -------
    DataFrame
        One line per row and rank: ``row`` (the row's index label), ``rank`` (1 = most adverse), ``feature``,
        ``value`` (raw), ``contribution`` (signed attribution), and ``reason`` when ``reasons`` is given. Ordered by
        row, then rank.

    Examples
    --------
    >>> import pandas as pd
    >>> import skig
    >>> exp = skig.Explanation(
    ...     values=pd.DataFrame({"Income": [0.20, -0.1], "Debt": [0.05, 0.3], "Age": [-0.02, 0.0]}),
    ...     base_values=pd.Series([0.1, 0.1]),
    ...     predictions=pd.Series([0.33, 0.3]),
    ...     data=pd.DataFrame({"Income": [80, 200], "Debt": [900, 4000], "Age": [25, 40]}),
    ... )
    >>> skig.reason_codes(exp, n=2, reasons={"Income": "Income too low", "Debt": "Debt too high"})
       row  rank feature  value  contribution          reason
    0    0     1  Income     80          0.20  Income too low
    1    0     2    Debt    900          0.05   Debt too high
    2    1     1    Debt   4000          0.30   Debt too high
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {list(DIRECTIONS)}, got {direction!r}.")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    if reasons is not None and not (callable(reasons) or isinstance(reasons, Mapping)):
        raise TypeError(f"reasons must be a mapping or a callable, got {type(reasons).__name__}.")
    values = exp.values.to_numpy(dtype=np.float64)
    adverse = values if direction == "increase" else -values
    order = np.argsort(-adverse, axis=1, kind="stable")[:, :n]
    features = np.asarray(exp.values.columns)
    records = []
    for position, label in enumerate(exp.values.index):
        for rank, column in enumerate(order[position], start=1):
            if adverse[position, column] <= 0:
                break
            feature = features[column]
            value = exp.data.iloc[position, column]
            record = {"row": label, "rank": rank, "feature": feature, "value": value}
            record["contribution"] = values[position, column]
            if reasons is not None:
                record["reason"] = _reason_text(reasons, feature, value)
            records.append(record)
    columns = ["row", "rank", "feature", "value", "contribution"] + (["reason"] if reasons is not None else [])
    table = pd.DataFrame.from_records(records, columns=columns)
    if isinstance(reasons, Mapping):
        unmapped = sorted(set(table["feature"]) - set(reasons))
        if unmapped:
            warnings.warn(f"no reason text for features {unmapped}; their names are used instead.", stacklevel=2)
    return table

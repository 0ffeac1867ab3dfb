"""Reason codes: for each row, the features that push the explained output furthest in the adverse direction.

What US adverse-action notices list for a declined applicant, read straight off an :class:`Explanation`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from numbers import Real

import numpy as np
import pandas as pd

from ._format import outcome_text

DIRECTIONS = ("increase", "decrease")


def reason_text(reasons, feature: str, value, *, missing: bool | None = None) -> str | None:
    """The reason text of ``feature`` at ``value``; None when ``reasons`` has none for it.

    A mapping's entry is a text, or ``{"text": ..., "missing": ...}`` that names the missing-value case apart ("No
    debt-to-income ratio on file" is not "Debt-to-income ratio too high"). ``missing`` overrides whether ``value``
    counts as missing (to ask for the text of a present value without one).
    """
    if reasons is None:
        return None
    if callable(reasons):
        text = reasons(feature, value)
    else:
        text = reasons.get(feature)
        if isinstance(text, Mapping):
            is_missing = _is_missing(value) if missing is None else missing
            text = text.get("missing", text.get("text")) if is_missing else text.get("text")
    return text if isinstance(text, str) and text.strip() else None


def _is_missing(value) -> bool:
    return value is None or (not isinstance(value, str) and bool(np.all(pd.isna(value))))


def unmapped_features(reasons, features) -> list[str]:
    """Features of ``features`` that a reasons mapping has no text for (none can be known for a callable)."""
    if not isinstance(reasons, Mapping):
        return []
    return [str(feature) for feature in features if reason_text(reasons, feature, None, missing=False) is None]


def unexplained_rows(exp) -> list:
    """Index labels of the rows whose attributions are not all finite."""
    finite = np.isfinite(exp.values.to_numpy(dtype=np.float64)).all(axis=1)
    return exp.values.index[~finite].tolist()


def check_reason_arguments(n, direction: str, reasons, min_contribution: float = 0.0) -> None:
    """Refuse a bad ``n``, ``direction``, ``reasons`` or ``min_contribution``, naming what is accepted."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {list(DIRECTIONS)}, got {direction!r}.")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    if reasons is not None and not (callable(reasons) or isinstance(reasons, Mapping)):
        raise TypeError(f"reasons must be a mapping or a callable, got {type(reasons).__name__}.")
    if isinstance(reasons, Mapping):
        for feature, entry in reasons.items():
            if isinstance(entry, Mapping) and not set(entry) <= {"text", "missing"}:
                raise ValueError(
                    f"the reason entry of {feature!r} has keys {sorted(map(str, entry))}; give a text, or "
                    '{"text": ..., "missing": ...} to name the missing-value case apart.'
                )
    if isinstance(min_contribution, bool) or not isinstance(min_contribution, Real) or not min_contribution >= 0:
        raise ValueError(
            f"min_contribution must be a number >= 0 in the units of the attributions, got {min_contribution!r}."
        )


def principal_reasons(values: np.ndarray, n: int, direction: str, min_contribution: float = 0.0):
    """Which features each row's principal reasons cite: ``(order, listed)``.

    ``order`` (rows, up to ``n``) holds the column positions of each row's most adverse attributions, most adverse
    first; ``listed`` (same shape) says which of them are reasons: adverse (positive in ``direction``), at least
    ``min_contribution``, and ranked before any that is not. Rows whose attributions are not all finite list none.
    """
    values = np.asarray(values, dtype=np.float64)
    adverse = values if direction == "increase" else -values
    order = np.argsort(-adverse, axis=1, kind="stable")[:, :n]
    ranked = np.take_along_axis(adverse, order, axis=1)
    material = (ranked > 0) & (ranked >= min_contribution)
    listed = np.logical_and.accumulate(material, axis=1) & np.isfinite(values).all(axis=1)[:, None]
    return order, listed


def cited_features(values: np.ndarray, n: int, direction: str, min_contribution: float = 0.0) -> np.ndarray:
    """(rows, features) bool: whether each row's principal reasons cite each column of ``values``."""
    order, listed = principal_reasons(values, n, direction, min_contribution)
    cited = np.zeros(np.shape(values), dtype=bool)
    rows = np.broadcast_to(np.arange(len(order))[:, None], order.shape)
    cited[rows[listed], order[listed]] = True
    return cited


def ranked_reasons(exp, n: int, direction: str, reasons, min_contribution: float = 0.0) -> pd.DataFrame:
    """Every row's ``n`` most adverse features, as :func:`reason_codes` lists them, without warnings.

    A feature is listed when its adverse contribution is positive and at least ``min_contribution``.

    The ``reason`` column falls back to the feature's name; ``mapped`` says whether ``reasons`` had a text. Rows whose
    attributions are not all finite (the model was NaN or infinite on their path) get no reasons and one warning
    naming them: ranking NaN would list their features in column order.
    """
    values = exp.values.to_numpy(dtype=np.float64)
    unexplained = unexplained_rows(exp)
    if len(unexplained):
        shown = ", ".join(repr(label) for label in unexplained[:10])
        warnings.warn(
            f"rows [{shown}{', ...' if len(unexplained) > 10 else ''}] have NaN attributions (the model was NaN or "
            "infinite on their path) and get no reasons; fix their values or the model and explain them again.",
            UserWarning,
            stacklevel=3,
        )
    order, listed = principal_reasons(values, n, direction, min_contribution)
    features = np.asarray(exp.values.columns)
    records = []
    for position, label in enumerate(exp.values.index):
        for rank, column in enumerate(order[position][listed[position]], start=1):
            feature = features[column]
            value = exp.data.iloc[position, column]
            text = reason_text(reasons, feature, value)
            records.append(
                {
                    "row": label,
                    "rank": rank,
                    "feature": feature,
                    "value": value,
                    "contribution": values[position, column],
                    "reason": str(feature) if text is None else text,
                    "mapped": text is not None,
                }
            )
    columns = ["row", "rank", "feature", "value", "contribution", "reason", "mapped"]
    table = pd.DataFrame.from_records(records, columns=columns)
    table.attrs["outcome"] = outcome_text(exp)
    return table


def warn_unmapped(features) -> None:
    """Warn that ``features`` have no reason text (nothing when there are none)."""
    if len(features):
        warnings.warn(f"no reason text for features {sorted(features)}; their names are used instead.", stacklevel=3)


def reason_codes(
    exp,
    n: int = 4,
    direction: str = "increase",
    reasons: Mapping[str, str | Mapping[str, str]] | Callable[[str, object], str] | None = None,
    *,
    min_contribution: float = 0.0,
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
        ``(feature, value) -> str``. A mapping's entry may name the missing-value case apart:
        ``{"DTI": {"text": "Debt-to-income ratio too high", "missing": "No debt-to-income ratio on file"}}``.
        Fills a ``reason`` column; features missing from a mapping fall back to their name, with a warning that
        lists them (as do empty texts a callable returns).
    min_contribution : float, default=0.0
        Smallest adverse contribution listed, in the units of the attributions (0.01 is 1 percentage point of a
        probability): a reason that moved the outcome less is not a principal reason, so a row may get fewer
        than ``n``, or none.

    Returns
    -------
    DataFrame
        One line per row and rank: ``row`` (the row's index label), ``rank`` (1 = most adverse), ``feature``,
        ``value`` (raw), ``contribution`` (signed attribution), and ``reason`` when ``reasons`` is given. Ordered by
        row, then rank. ``attrs["outcome"]`` says what the contributions move ("the probability of default", from
        the explainer's ``outcome``).

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
    check_reason_arguments(n, direction, reasons, min_contribution)
    table = ranked_reasons(exp, n, direction, reasons, min_contribution)
    if reasons is None:
        return table.drop(columns=["reason", "mapped"])
    warn_unmapped(sorted(set(table.loc[~table["mapped"], "feature"].astype(str))))
    return table.drop(columns="mapped")

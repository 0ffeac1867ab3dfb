"""Model performance over an explanation's predictions: discrimination, calibration, and decisions per audit group.

What SR 11-7's outcomes analysis and the EU AI Act's accuracy and per-group performance ask, from ``exp.predictions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real

import numpy as np
import pandas as pd
from scipy import special, stats
from sklearn.metrics import brier_score_loss, roc_auc_score

#: Two-sided 95% normal quantile of every interval here.
_Z = float(stats.norm.ppf(0.975))
#: The four-fifths rule (US Uniform Guidelines, 29 CFR 1607.4(D)): an adverse impact ratio below it is flagged.
FOUR_FIFTHS = 0.8


@dataclass
class Performance:
    """Performance of a model's predictions against outcomes.

    Attributes
    ----------
    overall : DataFrame
        One line per measure (``rows``, ``event rate``, ``AUC``, ``KS``, ``Brier score``, ``decision rate``) with its
        ``value`` and 95% interval (``low``, ``high``; NaN where none applies).
    calibration : DataFrame or None
        Rows by decile of the predicted probability: ``rows``, ``mean prediction``, ``event rate`` with its Wilson
        interval. None when the output is no probability (raw outputs).
    groups : DataFrame or None
        Per audit group: ``rows``, ``mean prediction``, ``event rate``, ``decision rate`` (adverse decisions at the
        threshold), ``adverse impact ratio`` (the group's favourable rate over that of the most favoured group),
        ``AUC``, each rate and ratio with a 95% interval (``... low``, ``... high``), and ``flagged`` (ratio
        below 0.8).
    threshold : float or None
        The decision threshold, on the probability scale (or the raw output's).
    """

    overall: pd.DataFrame
    calibration: pd.DataFrame | None
    groups: pd.DataFrame | None
    threshold: float | None


def event_indicator(y, index: pd.Index, event=None) -> np.ndarray:
    """Whether each row's outcome is the event the output measures, for the rows of ``index``.

    ``y`` is a Series (aligned by index label) or an array in row order; ``event`` the value of ``y`` that is the
    event (the explained class, e.g. ``1`` or ``"bad"``); None takes 1 (or True) and needs ``y`` to be 0/1.
    """
    if isinstance(y, pd.Series):
        absent = index.difference(y.index)
        if len(absent):
            raise ValueError(
                f"y (a Series) has no value for {len(absent)} explained rows, e.g. labels {absent[:5].tolist()}; a "
                "Series is aligned on X's index by label. Pass .to_numpy() to take values in X's row order instead."
            )
        values = y.loc[index].to_numpy()
    else:
        values = np.asarray(y)
        if values.ndim != 1 or len(values) != len(index):
            raise ValueError(f"y has shape {values.shape}; give one outcome per row of X ({len(index)} rows).")
    if pd.isna(values).any():
        raise ValueError(f"y is missing for {int(pd.isna(values).sum())} rows; performance needs every outcome.")
    if event is None:
        found = set(pd.unique(values).tolist())
        if not found <= {0, 1}:
            raise ValueError(
                f"y has values {sorted(map(str, found))[:5]}; give 0/1 outcomes (1 = the event the output "
                "measures, e.g. default) or explain a classifier whose classes y holds."
            )
        event = 1
    return values == event


def _probability(predictions: np.ndarray, output: str) -> np.ndarray | None:
    if output == "probability":
        return predictions
    if output == "logit":
        return special.expit(predictions)
    return None


def wilson(successes, trials) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score 95% interval of a proportion (good where a group is small or a rate near 0 or 1)."""
    successes, trials = np.asarray(successes, dtype=np.float64), np.asarray(trials, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = successes / trials
        centre = (p + _Z**2 / (2 * trials)) / (1 + _Z**2 / trials)
        half = _Z / (1 + _Z**2 / trials) * np.sqrt(p * (1 - p) / trials + _Z**2 / (4 * trials**2))
    return centre - half, centre + half


def auc_interval(event: np.ndarray, score: np.ndarray) -> tuple[float, float, float]:
    """AUC with a 95% interval from Hanley and McNeil's (1982) standard error; NaN with only one class."""
    positives, negatives = int(event.sum()), int((~event).sum())
    if positives == 0 or negatives == 0:
        return float("nan"), float("nan"), float("nan")
    auc = float(roc_auc_score(event, score))
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (
        positives * negatives
    )
    half = _Z * np.sqrt(max(variance, 0.0))
    return auc, max(0.0, auc - half), min(1.0, auc + half)


def _calibration(event: np.ndarray, probability: np.ndarray) -> pd.DataFrame:
    decile = pd.qcut(probability, 10, labels=False, duplicates="drop")
    frame = pd.DataFrame({"decile": decile + 1, "p": probability, "event": event})
    table = frame.groupby("decile").agg(rows=("p", "size"), mean_prediction=("p", "mean"), events=("event", "sum"))
    low, high = wilson(table["events"], table["rows"])
    return pd.DataFrame(
        {
            "rows": table["rows"],
            "mean prediction": table["mean_prediction"],
            "event rate": table["events"] / table["rows"],
            "low": low,
            "high": high,
        },
        index=table.index,
    )


def _group_table(event, prediction, adverse, labels: pd.Series, order) -> pd.DataFrame:
    records = {}
    for name in order:
        mine = (labels == name).to_numpy()
        n = int(mine.sum())
        auc, auc_low, auc_high = auc_interval(event[mine], prediction[mine])
        records[name] = {
            "rows": n,
            "mean prediction": float(prediction[mine].mean()),
            "events": int(event[mine].sum()),
            "adverse": int(adverse[mine].sum()) if adverse is not None else 0,
            "AUC": auc,
            "AUC low": auc_low,
            "AUC high": auc_high,
        }
    table = pd.DataFrame.from_dict(records, orient="index")
    table["event rate"] = table["events"] / table["rows"]
    table["event rate low"], table["event rate high"] = wilson(table["events"], table["rows"])
    if adverse is None:
        return table.drop(columns=["events", "adverse"])
    table["decision rate"] = table["adverse"] / table["rows"]
    table["decision rate low"], table["decision rate high"] = wilson(table["adverse"], table["rows"])
    favourable = 1 - table["decision rate"]
    reference = favourable.idxmax()
    table["adverse impact ratio"] = favourable / favourable.loc[reference]
    # Katz's log interval of a ratio of two proportions, against the most favoured group (which is 1 by definition)
    approved = table["rows"] - table["adverse"]
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.sqrt(
            1 / approved - 1 / table["rows"] + 1 / approved.loc[reference] - 1 / table["rows"].loc[reference]
        )
    table["adverse impact ratio low"] = table["adverse impact ratio"] * np.exp(-_Z * spread)
    table["adverse impact ratio high"] = table["adverse impact ratio"] * np.exp(_Z * spread)
    table.loc[reference, ["adverse impact ratio low", "adverse impact ratio high"]] = np.nan
    table["most favoured"] = table.index == reference
    table["flagged"] = table["adverse impact ratio"] < FOUR_FIFTHS
    return table.drop(columns=["events", "adverse"])


def performance(
    exp, y, *, event=None, threshold: float | None = None, direction: str = "increase", groups=None
) -> Performance:
    """How well ``exp``'s predictions tell the outcomes ``y``, overall and per group.

    Parameters
    ----------
    exp : Explanation
        Its ``predictions`` are scored (probabilities, log-odds turned into probabilities, or raw outputs).
    y : Series or array-like of shape (n_rows,)
        Outcomes: a Series aligned on ``exp``'s index by label, or an array in its row order.
    event : object, default=None
        The value of ``y`` that the explained output measures (the explained class: ``1``, ``"bad"``); None: 1.
    threshold : float, default=None
        Decision threshold on the probability (on the raw output when there is no probability): a row gets the
        adverse decision when its prediction is at or above it (``direction="increase"``) or below it
        (``"decrease"``). None: no decision rates or adverse impact ratios.
    direction : {"increase", "decrease"}, default="increase"
        The adverse direction of the output.
    groups : Series, default=None
        Group label of each row, indexed like ``exp`` (e.g. pooled audit groups).

    Returns
    -------
    Performance
    """
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, Real)):
        raise ValueError(f"threshold must be a number on the probability scale, got {threshold!r}.")
    index = exp.values.index
    is_event = event_indicator(y, index, event)
    predictions = exp.predictions.to_numpy(dtype=np.float64)
    probability = _probability(predictions, exp.output)
    scale = predictions if probability is None else probability
    adverse = None
    if threshold is not None:
        adverse = scale >= threshold if direction == "increase" else scale < threshold
    auc, auc_low, auc_high = auc_interval(is_event, predictions)
    both = is_event.any() and (~is_event).any()
    ks = float(stats.ks_2samp(scale[is_event], scale[~is_event]).statistic) if both else float("nan")
    n = len(index)
    events = int(is_event.sum())
    event_low, event_high = wilson(events, n)
    rows = {
        "rows": (n, np.nan, np.nan),
        "event rate": (events / n, float(event_low), float(event_high)),
        "AUC": (auc, auc_low, auc_high),
        "KS": (ks, np.nan, np.nan),
    }
    if probability is not None:
        rows["Brier score"] = (float(brier_score_loss(is_event, probability)), np.nan, np.nan)
    if adverse is not None:
        low, high = wilson(int(adverse.sum()), n)
        rows["decision rate"] = (float(adverse.mean()), float(low), float(high))
    overall = pd.DataFrame.from_dict(rows, orient="index", columns=["value", "low", "high"])
    overall.index.name = "measure"
    calibration = None if probability is None else _calibration(is_event, probability)
    table = None
    if groups is not None:
        labels = groups.loc[index]
        order = labels.value_counts(sort=True).index.tolist()
        table = _group_table(is_event, scale, adverse, labels, order)
        table.index.name = groups.name
    return Performance(overall, calibration, table, threshold)

"""The report's evidence sections laid out: performance, faithfulness tests and attribution drift.

The numbers come from :mod:`._performance`, :mod:`._quality` and :mod:`._drift`; this module only writes them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import _format as fmt
from ._page import heading, paragraph, table
from ._performance import FOUR_FIFTHS, Performance


def _interval(low: float, high: float, write) -> str:
    return "" if np.isnan(low) or np.isnan(high) else f"{write(low)} to {write(high)}"


def _ratio(value: float) -> str:
    return "n/a" if np.isnan(value) else fmt.plain(value, 3)


def performance_section(measured: Performance, units: fmt.Units, outcome: str, group_name: str | None) -> list[str]:
    """Overall discrimination and calibration, then decisions and AUC per group."""
    overall = measured.overall
    writers = {"rows": fmt.count, "event rate": fmt.proportion, "decision rate": fmt.proportion}
    cells = pd.DataFrame(
        {
            "value": [writers.get(name, _ratio)(value) for name, value in overall["value"].items()],
            "95% interval": [
                _interval(low, high, writers.get(name, _ratio))
                for name, low, high in zip(overall.index, overall["low"], overall["high"], strict=True)
            ],
        },
        index=overall.index,
    )
    threshold = (
        f" The decision rate is the share of rows at or beyond the threshold {units.level(measured.threshold)}."
        if measured.threshold is not None
        else ""
    )
    parts = [
        heading(2, "Model performance", "performance"),
        table(
            cells,
            f"How well {outcome} separates the rows with the event from the others: AUC (0.5 is chance, 1 perfect; "
            "interval by Hanley and McNeil), KS (the largest gap between the two groups' distributions), Brier score "
            f"(mean squared error of the probability; lower is better); rates with Wilson intervals.{threshold}",
            numeric=["value", "95% interval"],
        ),
    ]
    if measured.calibration is not None:
        calibration = measured.calibration
        parts.append(
            table(
                pd.DataFrame(
                    {
                        "rows": calibration["rows"].map(fmt.count),
                        "mean prediction": calibration["mean prediction"].map(fmt.proportion),
                        "event rate": calibration["event rate"].map(fmt.proportion),
                        "95% interval": [
                            _interval(low, high, fmt.proportion)
                            for low, high in zip(calibration["low"], calibration["high"], strict=True)
                        ],
                    },
                    index=calibration.index,
                ),
                "Calibration by decile of the predicted probability: a calibrated model's event rate (with its Wilson "
                "interval) matches its mean prediction in every decile.",
                numeric=["rows", "mean prediction", "event rate", "95% interval"],
            )
        )
    if measured.groups is None:
        return parts
    groups = measured.groups
    columns = {
        "rows": groups["rows"].map(fmt.count),
        "mean prediction": groups["mean prediction"].map(units.level),
        "event rate": [
            f"{fmt.proportion(v)} ({_interval(lo, hi, fmt.proportion)})"
            for v, lo, hi in zip(groups["event rate"], groups["event rate low"], groups["event rate high"], strict=True)
        ],
        "AUC": [
            f"{_ratio(v)} ({_interval(lo, hi, _ratio)})" if not np.isnan(v) else "n/a (one outcome only)"
            for v, lo, hi in zip(groups["AUC"], groups["AUC low"], groups["AUC high"], strict=True)
        ],
    }
    caption = (
        f"Per group of {group_name}: rows, mean prediction, event rate and AUC, each with a 95% interval (Wilson; "
        "Hanley and McNeil)"
    )
    flagged = None
    if "decision rate" in groups:
        columns["decision rate"] = [
            f"{fmt.proportion(v)} ({_interval(lo, hi, fmt.proportion)})"
            for v, lo, hi in zip(
                groups["decision rate"], groups["decision rate low"], groups["decision rate high"], strict=True
            )
        ]
        columns["adverse impact ratio"] = [
            ("1 (most favoured)" if top else f"{_ratio(v)} ({_interval(lo, hi, _ratio)})")
            for v, lo, hi, top in zip(
                groups["adverse impact ratio"],
                groups["adverse impact ratio low"],
                groups["adverse impact ratio high"],
                groups["most favoured"],
                strict=True,
            )
        ]
        caption += (
            "; the decision rate is the share given the adverse decision at the threshold, and the adverse impact "
            "ratio is the group's favourable rate over the most favoured group's (Katz interval); highlighted: a "
            f"ratio below {FOUR_FIFTHS} (the four-fifths rule)"
        )
        flagged = list(groups["flagged"])
    cells = pd.DataFrame(columns, index=groups.index)
    parts += [
        heading(3, f"Performance by {group_name}"),
        table(cells, caption + ".", numeric=list(cells.columns), flagged=flagged),
    ]
    small = groups.index[groups["rows"] < 100].tolist()
    if small:
        parts.append(
            paragraph(
                f"Groups {', '.join(map(str, small))} have fewer than 100 rows: read their intervals, not their point "
                "values.",
                "note",
            )
        )
    return parts

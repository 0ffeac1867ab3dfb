"""The report's evidence sections laid out: performance, faithfulness tests and attribution drift.

The numbers come from :mod:`._performance`, :mod:`._quality` and :mod:`._drift`; this module only writes them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import _format as fmt
from ._drift import PSI_FLAG, RELATIVE_CHANGE_FLAG
from ._page import figure, heading, paragraph, table
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


def quality_section(tests: pd.DataFrame) -> list[str]:
    """The faithfulness and sanity tests as a table with verdicts, and the deletion curves."""
    cells = pd.DataFrame(
        {
            "value": [("n/a" if pd.isna(v) else fmt.plain(v, 3)) for v in tests["value"]],
            "compared with": tests["compared with"],
            "verdict": tests["verdict"].str.upper(),
            "what it says": tests["what it says"],
        },
        index=tests.index,
    )
    failed = tests.index[tests["verdict"] == "fail"].tolist()
    parts = [
        heading(2, "Are these explanations faithful?", "faithfulness"),
        table(
            cells,
            "Tests of whether the attributions reflect what the model does (skig.quality): deleting the most "
            "attributed columns against random ones, re-initialising the model's weights from the top layer down "
            "(Adebayo et al., 2018), perturbing rows slightly (Yeh et al., 2019), a second method (SHAP), and "
            "completeness; highlighted: a failed test.",
            numeric=["value"],
            flagged=[name in failed for name in tests.index],
        ),
    ]
    curves = tests.attrs.get("deletion")
    if curves is not None:

        def draw(ax):
            for column, style in zip(curves.columns, ("-", "--"), strict=True):
                ax.plot(curves.index, curves[column], style, marker="o", label=column)
            ax.set_xlabel("columns set to the baseline (k)")
            ax.set_ylabel("|f(x) - f(x with k columns replaced)|, share")
            ax.legend(frameon=False)
            return ax

        parts.append(
            figure(
                draw,
                "deletion curves",
                "How far the model's output moves when each row's k most attributed columns take the baseline's "
                "values (solid) and when k random columns do (dashed), as shares of the mean |f(x) - f(baseline)|: "
                "a faithful explanation's curve rises first.",
            )
        )
    if failed:
        parts.append(paragraph(f"Failed: {', '.join(failed)}. Read the explanations with that in mind.", "flag"))
    return parts


def drift_section(changes: pd.DataFrame, units: fmt.Units) -> list[str]:
    """Each feature's importance in both periods, the change with its interval, PSI, reason shares, flags."""

    def share(value: float) -> str:
        return "n/a" if pd.isna(value) else fmt.proportion(value)

    cells = pd.DataFrame(
        {
            "importance then": changes["importance (reference)"].map(lambda v: units.change(v, signed=False)),
            "importance now": changes["importance (current)"].map(lambda v: units.change(v, signed=False)),
            "change (95% interval)": [
                units.change(v) + ("" if pd.isna(lo) else f" ({units.change(lo)} to {units.change(hi)})")
                for v, lo, hi in zip(changes["change"], changes["change low"], changes["change high"], strict=True)
            ],
            "PSI": changes["PSI"].map(lambda v: "n/a" if pd.isna(v) else fmt.plain(v, 3)),
            "reasons then": changes["reason share (reference)"].map(share),
            "reasons now": changes["reason share (current)"].map(share),
        },
        index=changes.index,
    )
    flagged = changes.index[changes["flagged"]].tolist()
    parts = [
        heading(2, "Attribution drift since the reference period", "drift"),
        table(
            cells,
            "Each feature's mean |attribution| in the reference period and now, the change with a 95% interval "
            "(a bootstrap over rows; from Spark or Dask summaries, the normal approximation), the population "
            "stability index of its attributions (PSI, on the reference's deciles; from summaries, the deciles "
            "read off a fixed histogram grid) and "
            "the share of applicants whose principal reasons cite it; highlighted (flagged): PSI at least "
            f"{PSI_FLAG}, or a change of at least {RELATIVE_CHANGE_FLAG:.0%} of the reference importance whose "
            "interval excludes 0.",
            numeric=list(cells.columns),
            flagged=list(changes["flagged"]),
        ),
    ]
    if flagged:
        parts.append(
            paragraph(
                f"Flagged: {', '.join(map(str, flagged))}. Check whether these columns' data changed (units, "
                "sources, coding) or the population moved, before trusting this period's reasons.",
                "flag",
            )
        )
    else:
        parts.append(paragraph("No feature's attributions drifted by the rule above.", "note"))
    return parts

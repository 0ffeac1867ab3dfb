"""Global figures of a distributed explanation from sums per partition: only totals reach the driver.

Each engine adds up :func:`partial_totals` its own way (Spark's ``groupBy``, Dask's partitions); :class:`Summary`
turns the totals into importance, completeness and group tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


def partial_totals(explained: pd.DataFrame, attributions: Sequence[str], by: Sequence[str]) -> pd.DataFrame:
    """Per group of ``by`` (one group without it): row count, sums of attributions and of their absolute values,
    and the completeness figures. Adding these up over partitions gives the totals of the whole data.

    Total ``sum_i`` / ``abs_i`` belongs to attribution column ``i``: positions, since feature names may be anything.
    """
    by = tuple(by)
    values = explained.loc[:, list(attributions)].to_numpy(dtype=np.float64)
    abs_delta = explained["delta"].abs().to_numpy(dtype=np.float64)
    parts = {"rows": np.ones(len(explained), dtype=np.int64), "abs_delta_max": abs_delta, "abs_delta_sum": abs_delta}
    parts["abs_change_sum"] = (explained["prediction"] - explained["base_value"]).abs().to_numpy(dtype=np.float64)
    for position in range(values.shape[1]):
        parts[f"sum_{position}"] = values[:, position]
        parts[f"abs_{position}"] = np.abs(values[:, position])
    frame = pd.DataFrame(parts, index=explained.index)
    for column in by:
        frame[column] = explained[column]
    return combine_totals(frame.reset_index(drop=True), by)


def combine_totals(partials: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Partial totals added up per group (the maximum for ``abs_delta_max``), groups in sorted order."""
    by = tuple(by)
    how = {column: "sum" for column in partials.columns if column not in by}
    how["abs_delta_max"] = "max"
    if not by:
        return partials.agg(how).to_frame().T.astype({"rows": np.int64})
    return partials.groupby(list(by), dropna=False, observed=True, sort=True).agg(how).reset_index()


@dataclass
class Summary:
    """Global figures of a distributed explanation, computed without collecting its attributions.

    Attributes
    ----------
    rows : int
        Rows explained.
    importance : Series
        Mean absolute attribution per feature, largest first (as :meth:`Explanation.importance`).
    mean_attribution : Series
        Mean signed attribution per feature, in ``importance``'s order.
    completeness : Series
        ``max |delta|``, ``mean |delta|`` and ``mean |prediction - base value|`` (what the report audits).
    by : tuple of str
        The grouping columns; empty without groups.
    group_rows : Series or None
        Rows per group.
    group_mean : DataFrame or None
        Mean attribution per feature (rows, in ``importance``'s order) and group (columns).
    group_mean_abs : DataFrame or None
        Mean absolute attribution per feature and group.
    """

    rows: int
    importance: pd.Series
    mean_attribution: pd.Series
    completeness: pd.Series
    by: tuple[str, ...] = ()
    group_rows: pd.Series | None = None
    group_mean: pd.DataFrame | None = None
    group_mean_abs: pd.DataFrame | None = None

    @classmethod
    def from_totals(cls, totals: pd.DataFrame, features: Sequence[str], by: tuple[str, ...]) -> Summary:
        """The summary of per-group totals (as :func:`combine_totals` gives them)."""
        n_features = len(features)
        sums = totals[[f"sum_{i}" for i in range(n_features)]].to_numpy(dtype=np.float64)
        abs_sums = totals[[f"abs_{i}" for i in range(n_features)]].to_numpy(dtype=np.float64)
        counts = totals["rows"].to_numpy(dtype=np.int64)
        rows = int(counts.sum())
        if rows == 0:
            raise ValueError("there are no rows to summarize.")
        names = pd.Index(list(features), name="feature")
        importance = pd.Series(abs_sums.sum(0) / rows, index=names, name="mean_abs_attribution")
        importance = importance.sort_values(ascending=False)
        mean = pd.Series(sums.sum(0) / rows, index=names, name="mean_attribution").loc[importance.index]
        completeness = pd.Series(
            {
                "max |delta|": float(totals["abs_delta_max"].max()),
                "mean |delta|": float(totals["abs_delta_sum"].sum() / rows),
                "mean |prediction - base value|": float(totals["abs_change_sum"].sum() / rows),
            },
            name="completeness",
        )
        summary = cls(rows, importance, mean, completeness, by)
        if by:
            groups = pd.Index(totals[by[0]], name=by[0]) if len(by) == 1 else pd.MultiIndex.from_frame(totals[list(by)])
            summary.group_rows = pd.Series(counts, index=groups, name="rows")
            summary.group_mean = pd.DataFrame((sums / counts[:, None]).T, index=names, columns=groups).loc[
                importance.index
            ]
            summary.group_mean_abs = pd.DataFrame((abs_sums / counts[:, None]).T, index=names, columns=groups).loc[
                importance.index
            ]
        return summary


def summary_features(explainer, prefix: str) -> tuple[list[str], list[str]]:
    """The feature names of a summary, and the attribution columns they are read from."""
    names = [str(name) for name in explainer.get_feature_names_out()]
    return names, [f"{prefix}{name}" for name in names]

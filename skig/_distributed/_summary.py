"""Global figures of a distributed explanation from sums per partition: only totals reach the driver.

Every partition (a Dask partition, a Spark Arrow batch) is reduced to **partial totals** by :func:`partials_of`, in
long form: one line per (group, statistic, position, bin) with a value. The engines add the partial totals up
(Spark's ``groupBy``, a tree of Dask tasks, both through :func:`combine_partials`'s rule: sums, and the maximum for
the maxima) and :class:`Summary` turns the totals into importance, spread, histograms, reason counts, completeness,
group tables and, with interactions, pair tables. Long form keeps histograms sparse (only occupied bins travel) and
holds the ``features x features`` interaction sums without a column per pair.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..reporting._reason_codes import check_reason_arguments, cited_features
from ._allocator import task_allocator
from ._partition import _numpy_missing
from ._schema import OutputLayout
from ._threads import task_threads

#: The columns of partial totals after the group columns: statistic code, position, bin and value.
KEYS = ("skig_statistic", "skig_position", "skig_bin")
VALUE = "skig_value"
TOTAL_COLUMNS = (*KEYS, VALUE)

#: Statistic codes (the ``skig_statistic`` column). Positions are feature positions (``i``), pair positions
#: (``i * n_features + j``), or 0 for the row-level figures; bins are histogram bins (0 elsewhere).
ROWS, ABS_DELTA_MAX, ABS_DELTA_SUM, ABS_CHANGE_SUM = 0, 1, 2, 3
SUM, ABS, SQUARE, HISTOGRAM, REASONS = 4, 5, 6, 7, 8
INTERACTION, INTERACTION_ABS, INTERACTION_DELTA_MAX = 9, 10, 11
#: Statistics combined by their maximum; every other is summed.
MAXIMA = (ABS_DELTA_MAX, INTERACTION_DELTA_MAX)

#: The histogram grid of attributions: fixed, the same for every period and model, so two periods' histograms add
#: and compare bin by bin. Bins are signed and logarithmic: ``BINS_PER_DECADE`` per power of ten of ``|a|`` (each
#: bin's upper edge 7.5% above its lower), from 1e-12 to 1e12 (smaller magnitudes share the innermost bin of their
#: sign, larger the outermost), and one bin for exactly 0. Bin ``b > 0`` holds ``10**((b - 1 - GRID_OFFSET) /
#: BINS_PER_DECADE) <= a < 10**((b - GRID_OFFSET) / BINS_PER_DECADE)``, bin ``-b`` its mirror image; bins sort as the
#: values do.
BINS_PER_DECADE = 32
GRID_DECADES = 12
GRID_OFFSET = GRID_DECADES * BINS_PER_DECADE
#: Default reason counting of a summary: as :func:`skig.reason_codes` and :func:`skig.drift` count by default.
DEFAULT_REASONS = {"n_reasons": 4, "direction": "increase", "min_contribution": 0.0}


def histogram_bins(values: np.ndarray) -> np.ndarray:
    """The grid bin of each value (int64); NaN has none (-(2**62), dropped by :func:`partials_of`)."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        level = np.floor(BINS_PER_DECADE * np.log10(np.abs(values)))
    level = np.clip(np.nan_to_num(level, nan=-GRID_OFFSET, neginf=-GRID_OFFSET), -GRID_OFFSET, GRID_OFFSET)
    bins = np.sign(values) * (level + GRID_OFFSET + 1)
    bins[values == 0] = 0
    return np.where(np.isnan(values), -(2**62), bins).astype(np.int64)


def reason_settings(n_reasons=None, direction=None, min_contribution=None) -> dict[str, object]:
    """Reason counting settings, the defaults filled in and checked."""
    chosen = {
        "n_reasons": DEFAULT_REASONS["n_reasons"] if n_reasons is None else n_reasons,
        "direction": DEFAULT_REASONS["direction"] if direction is None else direction,
        "min_contribution": DEFAULT_REASONS["min_contribution"] if min_contribution is None else min_contribution,
    }
    check_reason_arguments(chosen["n_reasons"], chosen["direction"], None, chosen["min_contribution"])
    chosen["n_reasons"], chosen["min_contribution"] = int(chosen["n_reasons"]), float(chosen["min_contribution"])
    return chosen


def empty_partials(groups: pd.DataFrame) -> pd.DataFrame:
    """Partial totals of no rows: ``groups``' columns and dtypes, then the total columns."""
    out = groups.iloc[:0].reset_index(drop=True)
    for name in KEYS:
        out[name] = np.array([], dtype=np.int64)
    out[VALUE] = np.array([], dtype=np.float64)
    return out


def partials_of(
    values: np.ndarray,
    abs_delta: np.ndarray,
    abs_change: np.ndarray,
    groups: pd.DataFrame,
    reasons: dict[str, object],
    interactions: np.ndarray | None = None,
    interaction_error: np.ndarray | None = None,
) -> pd.DataFrame:
    """Partial totals of some rows, per group of ``groups``' columns (one group when it has none).

    Parameters
    ----------
    values : ndarray of shape (n, d)
        Attributions.
    abs_delta, abs_change : ndarray of shape (n,)
        ``|delta|`` and ``|prediction - base value|``.
    groups : DataFrame
        The rows' group columns (``n`` rows; no columns for one group).
    reasons : dict
        ``n_reasons``, ``direction``, ``min_contribution``: how each row's principal reasons are counted.
    interactions : ndarray of shape (n, d, d), optional
        Interaction matrices.
    interaction_error : ndarray of shape (n, 2), optional
        Per row: the largest ``|sum_j G_ij - a_i|`` and ``|sum_ij G_ij - (prediction - base value)|``.

    Returns
    -------
    DataFrame
        ``groups``' columns, then ``skig_statistic``, ``skig_position``, ``skig_bin`` (int64) and ``skig_value``.
    """
    values = np.asarray(values, dtype=np.float64)
    n_rows, n_features = values.shape
    if n_rows == 0:
        return empty_partials(groups)
    by = list(groups.columns)
    if by:
        codes = groups.groupby(by, dropna=False, sort=False, observed=True).ngroup().to_numpy()
    else:
        codes = np.zeros(n_rows, dtype=np.int64)
    cited = cited_features(values, reasons["n_reasons"], reasons["direction"], reasons["min_contribution"])
    features = np.arange(n_features, dtype=np.int64)
    parts, firsts = [], []
    for code in np.unique(codes):
        rows = np.flatnonzero(codes == code)
        firsts.append(rows[0])
        mine = values[rows]
        pieces = [
            (ROWS, [0], [0], [float(len(rows))]),
            (ABS_DELTA_MAX, [0], [0], [float(abs_delta[rows].max())]),
            (ABS_DELTA_SUM, [0], [0], [float(abs_delta[rows].sum())]),
            (ABS_CHANGE_SUM, [0], [0], [float(abs_change[rows].sum())]),
            (SUM, features, 0, mine.sum(0)),
            (ABS, features, 0, np.abs(mine).sum(0)),
            (SQUARE, features, 0, np.square(mine).sum(0)),
            (REASONS, features, 0, cited[rows].sum(0, dtype=np.float64)),
        ]
        bins = histogram_bins(mine)
        for position in range(n_features):
            kept = bins[:, position]
            occupied, counts = np.unique(kept[kept != -(2**62)], return_counts=True)
            pieces.append((HISTOGRAM, position, occupied, counts.astype(np.float64)))
        if interactions is not None:
            matrices = interactions[rows].reshape(len(rows), -1)
            pairs = np.arange(n_features * n_features, dtype=np.int64)
            pieces += [
                (INTERACTION, pairs, 0, matrices.sum(0)),
                (INTERACTION_ABS, pairs, 0, np.abs(matrices).sum(0)),
                (INTERACTION_DELTA_MAX, [0, 1], 0, interaction_error[rows].max(0)),
            ]
        parts.append(_lines(pieces))
    lengths = [len(part[VALUE]) for part in parts]
    out = {name: np.concatenate([part[name] for part in parts]) for name in TOTAL_COLUMNS}
    taken = np.repeat(np.asarray(firsts), lengths)
    frame = groups.iloc[taken].reset_index(drop=True) if by else pd.DataFrame(index=pd.RangeIndex(sum(lengths)))
    for name in TOTAL_COLUMNS:
        frame[name] = out[name]
    return frame


def _lines(pieces) -> dict[str, np.ndarray]:
    statistic, position, bins, value = [], [], [], []
    for code, positions, bin_numbers, numbers in pieces:
        numbers = np.atleast_1d(np.asarray(numbers, dtype=np.float64))
        statistic.append(np.full(len(numbers), code, dtype=np.int64))
        position.append(np.broadcast_to(np.asarray(positions, dtype=np.int64), numbers.shape))
        bins.append(np.broadcast_to(np.asarray(bin_numbers, dtype=np.int64), numbers.shape))
        value.append(numbers)
    return dict(zip(TOTAL_COLUMNS, map(np.concatenate, (statistic, position, bins, value)), strict=True))


def explained_partials(frame: pd.DataFrame, attributions: Sequence[str], by: Sequence[str], reasons) -> pd.DataFrame:
    """Partial totals of rows of an explanation's output frame (attribution, prediction, base value and delta
    columns, and the ``by`` columns)."""
    groups = frame.loc[:, list(by)]
    if len(frame) == 0:
        return empty_partials(groups)
    return partials_of(
        frame.loc[:, list(attributions)].to_numpy(dtype=np.float64),
        frame["delta"].abs().to_numpy(dtype=np.float64),
        (frame["prediction"] - frame["base_value"]).abs().to_numpy(dtype=np.float64),
        groups,
        reasons,
    )


def explanation_partials(exp, groups: pd.DataFrame, reasons) -> pd.DataFrame:
    """Partial totals of an :class:`Explanation` (with its interactions when it has them)."""
    interactions, error = getattr(exp, "_interactions", None), None
    if interactions is not None:
        error = exp.interaction_delta.abs().to_numpy(dtype=np.float64)
    return partials_of(
        exp.values.to_numpy(dtype=np.float64),
        exp.delta.abs().to_numpy(dtype=np.float64),
        (exp.predictions - exp.base_values).abs().to_numpy(dtype=np.float64),
        groups.reset_index(drop=True),
        reasons,
        interactions,
        error,
    )


@dataclass(frozen=True)
class ExplainedTotals:
    """What a worker runs on each partition of an explanation's output: its partial totals."""

    attributions: tuple[str, ...]
    by: tuple[str, ...]
    reasons: dict

    def __call__(self, frame: pd.DataFrame, explainer=None) -> pd.DataFrame:
        return explained_partials(frame, self.attributions, self.by, self.reasons)


@dataclass(frozen=True)
class InteractionTotals:
    """What a worker runs on each partition of the data for ``summarize(..., interactions=True)``: explain its rows
    with interactions, ``batch_rows`` at a time, and keep only their partial totals (no row's matrix leaves it).

    Parameters
    ----------
    layout : OutputLayout
        The input columns (``layout.needed``) and the row key.
    by : tuple of str
        Group columns.
    reasons : dict
        How principal reasons are counted.
    batch_rows : int
        Rows per ``explain`` call.
    threads : callable
        ``threads(outer) -> int``: torch threads for the task (:meth:`Backend.task_threads`).
    """

    layout: OutputLayout
    by: tuple[str, ...]
    reasons: dict
    batch_rows: int
    threads: Callable[[int], int]

    def __call__(self, frame: pd.DataFrame, explainer) -> pd.DataFrame:
        groups = frame.loc[:, list(self.by)]
        if len(frame) == 0:
            return empty_partials(groups)
        rows = _numpy_missing(frame.loc[:, list(self.layout.features)])
        rows.index = self.layout.row_index(frame)
        parts = []
        with task_threads(self.threads), task_allocator():
            for lo in range(0, len(rows), self.batch_rows):
                exp = explainer.explain(rows.iloc[lo : lo + self.batch_rows], interactions=True)
                parts.append(explanation_partials(exp, groups.iloc[lo : lo + self.batch_rows], self.reasons))
        return parts[0] if len(parts) == 1 else combine_partials(parts, self.by)


def pick_totals(aggregated: pd.DataFrame, sums: str, maxima: str) -> pd.DataFrame:
    """Totals from a frame holding each line's sum (column ``sums``) and maximum (``maxima``): the maximum for
    :data:`MAXIMA`, the sum for every other statistic."""
    keep_max = aggregated["skig_statistic"].isin(MAXIMA).to_numpy()
    out = aggregated.drop(columns=[sums, maxima])
    out[VALUE] = np.where(keep_max, aggregated[maxima].to_numpy(np.float64), aggregated[sums].to_numpy(np.float64))
    return out


def combine_partials(partials: pd.DataFrame | Sequence[pd.DataFrame], by: Sequence[str]) -> pd.DataFrame:
    """Partial totals added up per (group, statistic, position, bin), the maxima kept as maxima."""
    if not isinstance(partials, pd.DataFrame):
        partials = pd.concat(list(partials), ignore_index=True)
    keys = [*by, *KEYS]
    grouped = partials.groupby(keys, dropna=False, sort=True, observed=True)[VALUE]
    aggregated = grouped.agg(["sum", "max"]).reset_index()
    return pick_totals(aggregated, "sum", "max")


def check_by(by: Sequence[str]) -> None:
    """Refuse group columns named as the total columns."""
    clashes = sorted(set(by) & set(TOTAL_COLUMNS))
    if clashes:
        raise ValueError(f"by columns may not be named {clashes} (skig's summary columns); rename them.")


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
    abs_variance : Series or None
        Sample variance (``ddof=1``) of ``|attribution|`` per feature, in ``importance``'s order: with ``rows``, what
        :func:`skig.drift`'s normal-approximation interval of the importance change needs.
    histogram : DataFrame or None
        Rows per bin of the fixed attribution grid (index: bin numbers in value order, only occupied bins; columns:
        features; see :data:`BINS_PER_DECADE`): what :func:`skig.drift`'s PSI reads. NaN attributions are not counted.
    reason_counts : Series or None
        Rows whose principal reasons (counted as ``reasons`` says) cite each feature, in ``importance``'s order.
    reasons : dict or None
        How reasons were counted: ``n_reasons``, ``direction`` and ``min_contribution``.
    interaction_importance : Series or None
        With interactions: mean ``|G_ij|`` per pair of distinct features, each unordered pair once, largest first
        (as :meth:`Explanation.interaction_importance`).
    mean_interaction : DataFrame or None
        With interactions: the mean signed interaction matrix (features x features; rows sum to the mean
        attributions).
    group_interaction_importance : DataFrame or None
        With interactions and ``by``: mean ``|G_ij|`` per pair (rows, in ``interaction_importance``'s order) and
        group (columns).
    interaction_completeness : Series or None
        With interactions: the largest ``|sum_j G_ij - a_i|`` and ``|sum_ij G_ij - (f(x) - f(x'))|`` over all rows.
    """

    rows: int
    importance: pd.Series
    mean_attribution: pd.Series
    completeness: pd.Series
    by: tuple[str, ...] = ()
    group_rows: pd.Series | None = None
    group_mean: pd.DataFrame | None = None
    group_mean_abs: pd.DataFrame | None = None
    abs_variance: pd.Series | None = None
    histogram: pd.DataFrame | None = None
    reason_counts: pd.Series | None = None
    reasons: dict | None = None
    interaction_importance: pd.Series | None = None
    mean_interaction: pd.DataFrame | None = None
    group_interaction_importance: pd.DataFrame | None = None
    interaction_completeness: pd.Series | None = None

    @classmethod
    def from_totals(
        cls, totals: pd.DataFrame, features: Sequence[str], by: tuple[str, ...], reasons: dict[str, object]
    ) -> Summary:
        """The summary of combined totals (as :func:`combine_partials` gives them)."""
        by = tuple(by)
        n_features = len(features)
        if by:
            grouped = totals.groupby(list(by), dropna=False, sort=True, observed=True)
            codes = grouped.ngroup().to_numpy()
            labels = grouped.size().index
        else:
            codes, labels = np.zeros(len(totals), dtype=np.int64), pd.RangeIndex(1)
        n_groups = len(labels)
        statistic = totals["skig_statistic"].to_numpy(dtype=np.int64)
        position = totals["skig_position"].to_numpy(dtype=np.int64)
        value = totals[VALUE].to_numpy(dtype=np.float64)

        def table(code: int, width: int) -> np.ndarray:
            out = np.zeros((n_groups, width))
            mine = statistic == code
            np.add.at(out, (codes[mine], position[mine]), value[mine])
            return out

        counts = table(ROWS, 1)[:, 0].astype(np.int64)
        rows = int(counts.sum())
        if rows == 0:
            raise ValueError("there are no rows to summarize.")
        sums, abs_sums, squares = table(SUM, n_features), table(ABS, n_features), table(SQUARE, n_features)
        names = pd.Index(list(features), name="feature")
        importance = pd.Series(abs_sums.sum(0) / rows, index=names, name="mean_abs_attribution")
        importance = importance.sort_values(ascending=False)
        order = importance.index
        mean = pd.Series(sums.sum(0) / rows, index=names, name="mean_attribution").loc[order]
        maxima = statistic == ABS_DELTA_MAX
        completeness = pd.Series(
            {
                "max |delta|": float(value[maxima].max()),
                "mean |delta|": float(table(ABS_DELTA_SUM, 1).sum() / rows),
                "mean |prediction - base value|": float(table(ABS_CHANGE_SUM, 1).sum() / rows),
            },
            name="completeness",
        )
        summary = cls(rows, importance, mean, completeness, by)
        abs_total = abs_sums.sum(0)
        variance = (squares.sum(0) - abs_total * abs_total / rows) / max(rows - 1, 1)
        summary.abs_variance = pd.Series(np.maximum(variance, 0.0), index=names, name="abs_variance").loc[order]
        summary.histogram = _histogram(totals[statistic == HISTOGRAM], names)
        summary.reason_counts = pd.Series(
            table(REASONS, n_features).sum(0).astype(np.int64), index=names, name="reason_count"
        ).loc[order]
        summary.reasons = dict(reasons)
        if by:
            groups = pd.Index(labels, name=by[0]) if len(by) == 1 else pd.MultiIndex.from_tuples(labels, names=by)
            summary.group_rows = pd.Series(counts, index=groups, name="rows")
            summary.group_mean = pd.DataFrame((sums / counts[:, None]).T, index=names, columns=groups).loc[order]
            summary.group_mean_abs = pd.DataFrame((abs_sums / counts[:, None]).T, index=names, columns=groups).loc[
                order
            ]
        if (statistic == INTERACTION).any():
            summary._set_interactions(
                table(INTERACTION, n_features**2), table(INTERACTION_ABS, n_features**2), counts, names
            )
            error = value[statistic == INTERACTION_DELTA_MAX]
            where = position[statistic == INTERACTION_DELTA_MAX]
            summary.interaction_completeness = pd.Series(
                {"max row error": float(error[where == 0].max()), "max |total error|": float(error[where == 1].max())},
                name="interaction_completeness",
            )
        return summary

    def _set_interactions(self, sums, abs_sums, counts, names) -> None:
        n_features = len(names)
        mean = (sums.sum(0) / self.rows).reshape(n_features, n_features)
        self.mean_interaction = pd.DataFrame(mean, index=names, columns=pd.Index(names, name="other"))
        first, second = np.triu_indices(n_features, k=1)
        index = pd.MultiIndex.from_arrays([names[first], names[second]], names=["feature", "other"])
        mean_abs = (abs_sums.sum(0) / self.rows).reshape(n_features, n_features)
        pairs = pd.Series(mean_abs[first, second], index=index, name="mean_abs_interaction")
        self.interaction_importance = pairs.sort_values(ascending=False, kind="stable")
        if self.by:
            by_group = (abs_sums / counts[:, None]).reshape(len(counts), n_features, n_features)[:, first, second]
            table = pd.DataFrame(by_group.T, index=index, columns=self.group_rows.index)
            self.group_interaction_importance = table.loc[self.interaction_importance.index]

    @classmethod
    def of_explanation(cls, exp, *, n_reasons=None, direction=None, min_contribution=None) -> Summary:
        """The summary of an :class:`Explanation` computed here, as :func:`skig.spark.summarize` computes one."""
        reasons = reason_settings(n_reasons, direction, min_contribution)
        totals = combine_partials(explanation_partials(exp, pd.DataFrame(index=exp.values.index), reasons), ())
        return cls.from_totals(totals, [str(name) for name in exp.values.columns], (), reasons)


def _histogram(lines: pd.DataFrame, names: pd.Index) -> pd.DataFrame:
    """Rows per (bin, feature) over all groups: bins in value order, only occupied ones."""
    counts = lines.groupby(["skig_bin", "skig_position"])[VALUE].sum().unstack("skig_position", fill_value=0.0)
    counts = counts.reindex(columns=range(len(names)), fill_value=0.0).sort_index()
    counts.columns = names
    counts.index.name = "bin"
    return counts.astype(np.int64)


def summary_features(explainer, prefix: str) -> tuple[list[str], list[str]]:
    """The feature names of a summary, and the attribution columns they are read from."""
    names = [str(name) for name in explainer.get_feature_names_out()]
    return names, [f"{prefix}{name}" for name in names]

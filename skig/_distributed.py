"""What the Spark and Dask adapters share: the flat output frame and its columns, row keys, batch sizes, summaries.

Nothing here imports pyspark or dask: the engines live in ``skig.spark`` and ``skig.dask``, imported on demand.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from .engine import STOCHASTIC_METHODS
from .engine._device import resolve_device
from .reporting import reason_codes

#: The columns that follow the attributions, in this order.
RESULT_COLUMNS = ("prediction", "base_value", "delta", "n_steps")
DIRECTIONS = ("increase", "decrease")
ENGINES = ("spark", "dask")
# Rows per batch: at least enough to keep the Python overhead per batch small, at most what a worker holds easily.
MIN_BATCH_ROWS = 64
MAX_BATCH_ROWS = 2**16
#: Rows the command line samples from distributed data to fit the explainer when no reference file is given.
REFERENCE_ROWS = 10_000


def _as_columns(columns, what: str) -> tuple[str, ...]:
    if columns is None:
        return ()
    if isinstance(columns, str):
        return (columns,)
    columns = tuple(columns)
    if not all(isinstance(column, str) for column in columns):
        raise TypeError(f"{what} must be a column name or a list of column names, got {list(columns)!r}.")
    return columns


@dataclass(frozen=True)
class OutputLayout:
    """The columns of a distributed explanation, and which input columns feed them.

    Output: ``key`` columns, ``keep`` columns (both as in the input), one float64 attribution column per raw
    feature (``prefix`` + the explainer's ``get_feature_names_out()``), ``prediction``, ``base_value``, ``delta``
    (float64), ``n_steps`` (int64), then, when ``reasons`` is given, ``reason_{k}_feature``,
    ``reason_{k}_contribution`` and ``reason_{k}`` for ranks ``k = 1..n_reasons``.

    Parameters
    ----------
    key : tuple of str
        Columns that identify a row: the row key of random draws, set as the index of each batch before explaining.
    keep : tuple of str
        Other input columns carried to the output unchanged (partition or group columns).
    features : tuple of str
        Input columns the explainer reads, in its order.
    attributions : tuple of str
        Output names of the attribution columns, one per explained feature.
    reasons : mapping, callable or None
        Reason texts, as :func:`skig.reason_codes` takes them; None: no reason columns.
    n_reasons : int
        Reasons per row.
    direction : {"increase", "decrease"}
        The adverse direction of the explained output.
    """

    key: tuple[str, ...]
    keep: tuple[str, ...]
    features: tuple[str, ...]
    attributions: tuple[str, ...]
    reasons: Mapping[str, str] | Callable[[str, object], str] | None = None
    n_reasons: int = 4
    direction: str = "increase"

    @classmethod
    def build(
        cls,
        explainer,
        input_columns: Sequence[str],
        *,
        key=None,
        keep=None,
        reasons=None,
        n_reasons: int = 4,
        direction: str = "increase",
        prefix: str = "",
    ) -> OutputLayout:
        """The layout of ``explainer`` on a frame with ``input_columns``; checks every name against them.

        Raises
        ------
        ValueError
            If a named column is missing, two output columns share a name, or a reason option is invalid.
        """
        check_is_fitted(explainer)
        key, keep = _as_columns(key, "key"), _as_columns(keep, "keep")
        input_columns = [str(column) for column in input_columns]
        fitted = getattr(explainer, "feature_names_in_", None)
        if fitted is not None:
            features = tuple(str(name) for name in fitted)
        else:
            # Fitted without column names: the features are the other input columns, in their order.
            features = tuple(column for column in input_columns if column not in set(key) | set(keep))
            if len(features) != explainer.n_features_in_:
                raise ValueError(
                    f"the explainer was fitted on {explainer.n_features_in_} unnamed columns, but the data has "
                    f"{len(features)} columns besides key and keep: {features}; fit the explainer on a DataFrame."
                )
        missing = [column for column in (*key, *keep, *features) if column not in set(input_columns)]
        if missing:
            raise ValueError(
                f"the data is missing columns {missing}; it has {input_columns} (key={list(key)}, keep={list(keep)}, "
                f"the explainer reads {list(features)})."
            )
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {list(DIRECTIONS)}, got {direction!r}.")
        if reasons is not None and not (callable(reasons) or isinstance(reasons, Mapping)):
            raise TypeError(f"reasons must be a mapping or a callable, got {type(reasons).__name__}.")
        if not isinstance(n_reasons, (int, np.integer)) or isinstance(n_reasons, bool) or n_reasons < 1:
            raise ValueError(f"n_reasons must be a positive integer, got {n_reasons!r}.")
        attributions = tuple(f"{prefix}{name}" for name in explainer.get_feature_names_out())
        layout = cls(key, keep, features, attributions, reasons, int(n_reasons), direction)
        columns = layout.columns
        duplicated = sorted({column for column in columns if columns.count(column) > 1})
        if duplicated:
            raise ValueError(
                f"output columns {duplicated} would appear twice (key, keep, attributions and {list(RESULT_COLUMNS)} "
                "share one namespace); pass prefix='attribution_' or rename the input columns."
            )
        return layout

    @property
    def carried(self) -> tuple[str, ...]:
        """Input columns copied to the output: key, then keep (each once)."""
        return tuple(dict.fromkeys((*self.key, *self.keep)))

    @property
    def reason_columns(self) -> tuple[str, ...]:
        if self.reasons is None:
            return ()
        return tuple(
            name
            for rank in range(1, self.n_reasons + 1)
            for name in (f"reason_{rank}_feature", f"reason_{rank}_contribution", f"reason_{rank}")
        )

    @property
    def columns(self) -> list[str]:
        """Every output column, in order."""
        return [*self.carried, *self.attributions, *RESULT_COLUMNS, *self.reason_columns]

    @property
    def needed(self) -> list[str]:
        """The input columns a batch needs: carried columns and features, each once."""
        return list(dict.fromkeys((*self.carried, *self.features)))

    def computed_dtypes(self) -> dict[str, object]:
        """dtypes of the columns skig computes (all but the carried ones)."""
        dtypes: dict[str, object] = dict.fromkeys(self.attributions, np.dtype(np.float64))
        dtypes.update(dict.fromkeys(RESULT_COLUMNS[:3], np.dtype(np.float64)))
        dtypes["n_steps"] = np.dtype(np.int64)
        for rank in range(1, self.n_reasons + 1 if self.reasons is not None else 1):
            dtypes[f"reason_{rank}_feature"] = np.dtype(object)
            dtypes[f"reason_{rank}_contribution"] = np.dtype(np.float64)
            dtypes[f"reason_{rank}"] = np.dtype(object)
        return dtypes

    def empty(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The output of a batch of no rows: the layout's columns and dtypes, ``frame``'s carried dtypes and index."""
        carried = frame.loc[:, list(self.carried)].iloc[:0]
        computed = pd.DataFrame(
            {name: pd.Series([], dtype=dtype) for name, dtype in self.computed_dtypes().items()}, index=carried.index
        )
        return pd.concat([carried, computed], axis=1)[self.columns]

    def row_index(self, frame: pd.DataFrame) -> pd.Index:
        """The row key of each row: the key columns (a MultiIndex for several), or the frame's own index."""
        if not self.key:
            return frame.index
        nulls = [column for column in self.key if frame[column].isna().any()]
        if nulls:
            raise ValueError(f"key columns {nulls} have missing values; every row needs a key.")
        if len(self.key) == 1:
            return pd.Index(frame[self.key[0]], name=self.key[0])
        return pd.MultiIndex.from_frame(frame.loc[:, list(self.key)])


def explain_frame(explainer, frame: pd.DataFrame, layout: OutputLayout, batch_rows: int) -> pd.DataFrame:
    """Explain the rows of one partition or Arrow batch: the layout's columns, indexed like ``frame``.

    Rows go to ``explainer.explain`` in slices of ``batch_rows``, each indexed by its row keys; whatever the slicing,
    every row gets the numbers it gets on one machine, since draws are keyed per row.
    """
    if len(frame) == 0:
        return layout.empty(frame)
    rows = _numpy_missing(frame.loc[:, list(layout.features)])
    rows.index = layout.row_index(frame)
    parts = [
        _explain_rows(explainer, rows.iloc[lo : lo + batch_rows], layout) for lo in range(0, len(rows), batch_rows)
    ]
    computed = pd.concat(parts, axis=0) if len(parts) > 1 else parts[0]
    computed.index = frame.index
    out = pd.concat([frame.loc[:, list(layout.carried)], computed], axis=1)
    return out[layout.columns]


def _numpy_missing(rows: pd.DataFrame) -> pd.DataFrame:
    """String columns whose missing values are ``pd.NA`` (Arrow strings, as Spark and Dask hand them over) as object
    columns with NaN, as pandas reads them: scikit-learn's imputers and encoders cannot compare with ``pd.NA``.
    """
    masked = [
        name
        for name, dtype in rows.dtypes.items()
        if (isinstance(dtype, pd.StringDtype) and dtype.na_value is pd.NA)
        or (isinstance(dtype, pd.ArrowDtype) and dtype.kind in "OSU")
    ]
    if not masked:
        return rows
    rows = rows.copy()
    for name in masked:
        column = rows[name]
        rows[name] = column.astype(object).where(column.notna(), np.nan)
    return rows


def _explain_rows(explainer, rows: pd.DataFrame, layout: OutputLayout) -> pd.DataFrame:
    exp = explainer.explain(rows)
    out = pd.DataFrame(exp.values.to_numpy(dtype=np.float64), columns=list(layout.attributions))
    out["prediction"] = exp.predictions.to_numpy(dtype=np.float64)
    out["base_value"] = exp.base_values.to_numpy(dtype=np.float64)
    out["delta"] = exp.delta.to_numpy(dtype=np.float64)
    out["n_steps"] = exp.n_steps.to_numpy(dtype=np.int64)
    if layout.reasons is not None:
        out = pd.concat([out, _reason_columns(exp, layout)], axis=1)
    return out.astype(layout.computed_dtypes())


def _reason_columns(exp, layout: OutputLayout) -> pd.DataFrame:
    """Reason codes of every row, one (feature, contribution, text) triple of columns per rank."""
    from ._explanation import Explanation

    # Rows by position: row keys may repeat or be tuples, positions never are.
    positional = Explanation(
        exp.values.reset_index(drop=True),
        exp.base_values.reset_index(drop=True),
        exp.predictions.reset_index(drop=True),
        exp.data.reset_index(drop=True),
    )
    with warnings.catch_warnings():
        # Unmapped features are reported once, on the driver (see check_reasons), not once per batch.
        warnings.simplefilter("ignore", UserWarning)
        codes = reason_codes(positional, n=layout.n_reasons, direction=layout.direction, reasons=layout.reasons)
    out = {}
    for rank in range(1, layout.n_reasons + 1):
        mine = codes[codes["rank"] == rank].set_index("row")
        feature = np.full(len(exp), None, dtype=object)
        contribution = np.full(len(exp), np.nan)
        text = np.full(len(exp), None, dtype=object)
        positions = mine.index.to_numpy(dtype=np.int64)
        feature[positions] = [str(name) for name in mine["feature"]]
        contribution[positions] = mine["contribution"].to_numpy(dtype=np.float64)
        text[positions] = [None if value is None else str(value) for value in mine["reason"]]
        out[f"reason_{rank}_feature"] = feature
        out[f"reason_{rank}_contribution"] = contribution
        out[f"reason_{rank}"] = text
    return pd.DataFrame(out)


def check_reasons(layout: OutputLayout) -> None:
    """Warn once, on the driver, about features that a reasons mapping does not name."""
    if isinstance(layout.reasons, Mapping):
        unmapped = sorted(set(layout.features) - set(layout.reasons))
        if unmapped:
            warnings.warn(f"no reason text for features {unmapped}; their names are used instead.", stacklevel=3)


def plan(explainer, columns, engine: str, *, rows_per_batch: int | None, **layout_options) -> tuple[OutputLayout, int]:
    """What both engines check before explaining: the output layout, the row key, the reasons, the batch size.

    Returns the layout and the rows per batch (``rows_per_batch``, or what skig's memory bound gives).
    """
    layout = OutputLayout.build(explainer, list(columns), **layout_options)
    check_key(explainer, layout, engine)
    check_reasons(layout)
    rows = int(rows_per_batch) if rows_per_batch is not None else batch_rows(explainer)
    if rows < 1:
        raise ValueError(f"batch_rows must be a positive integer, got {rows_per_batch!r}.")
    return layout, rows


def check_key(explainer, layout: OutputLayout, engine: str) -> None:
    """Refuse a stochastic method without a row key where the engine gives rows no index (Spark)."""
    if engine == "spark" and not layout.key and explainer.method in STOCHASTIC_METHODS:
        raise ValueError(
            f"method={explainer.method!r} draws random numbers per row from the row key, and Spark rows have no "
            "index: pass key='<id column>' (or a list of columns) naming columns that identify each row."
        )


# ------------------------------------------------------------------------------------------------- batch sizes
def points_per_row(explainer) -> int:
    """Model evaluations (path points) one row costs with the explainer's method and settings (its plan)."""
    return explainer.plan_.points_per_row(len(explainer.encoded_baseline_))


def max_points(explainer) -> int:
    """Path points per forward/backward pass, as the explainer's memory budget sizes them on this machine."""
    return explainer.plan_.budget.max_points(resolve_device(explainer.device))


def batch_rows(explainer) -> int:
    """Rows per batch: those whose path points fill one pass of the engine, within [64, 65536].

    A batch of that size does the work of one memory-bounded pass (so the bound on path points also bounds what a
    batch holds) with a Python overhead per batch that is small beside it.
    """
    rows = max_points(explainer) // points_per_row(explainer)
    return int(np.clip(rows, MIN_BATCH_ROWS, MAX_BATCH_ROWS))


def shipped(explainer):
    """The explainer as it travels to workers: a shallow copy that never draws a progress bar."""
    check_is_fitted(explainer)
    out = copy.copy(explainer)
    out.progress = False
    return out


# --------------------------------------------------------------------------------------------------- summaries
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


# ------------------------------------------------------------------------------------------------------ reports
@dataclass
class ReportData:
    """What a report of distributed data needs: a sample explained locally, and figures from the full data.

    Attributes
    ----------
    sample : DataFrame
        The sampled rows, the explainer's columns only, indexed by their row key.
    explanation : Explanation
        The sample explained on this machine: the same numbers the distributed run gives those rows.
    group : Series or None
        The sample's group labels (``by``), indexed like ``sample``.
    summary : Summary
        Importance, completeness and group tables of the full data.
    """

    sample: pd.DataFrame
    explanation: object
    group: pd.Series | None
    summary: Summary


def report_data(explainer, data, *, sample_size: int = 1000, key=None, by=None, random_state=0) -> ReportData:
    """Explain ``data`` (a Spark or Dask DataFrame) on its engine for the report's tables, and a sample locally.

    Parameters
    ----------
    explainer : Explainer
        A fitted explainer.
    data : pyspark.sql.DataFrame or dask.dataframe.DataFrame
        The rows: the explainer's columns, the key columns and ``by``.
    sample_size : int, default=1000
        Rows explained on this machine, for the report's per-row sections and plots.
    key : str or list of str, default=None
        Row key columns (see :func:`skig.spark.explain`, :func:`skig.dask.explain`).
    by : str, default=None
        One column to compare attributions across (e.g. a protected attribute); need not be a model input.
    random_state : int, default=0
        Seed of the sample.

    Returns
    -------
    ReportData
    """
    engine = engine_module(data)
    if by is not None and not isinstance(by, str):
        raise TypeError(f"by must be one column name, got {by!r}.")
    # Attribution columns are prefixed so that ``by`` may also be a feature.
    prefix = "attribution_"
    keep = [by] if by is not None and by not in set(_as_columns(key, "key")) else None
    explained = engine.explain(explainer, data, key=key, keep=keep, prefix=prefix)
    summary = engine.summarize(explainer, explained, by=by, prefix=prefix)
    layout = OutputLayout.build(explainer, list(data.columns), key=key, keep=keep)
    sample = engine._sample_rows(engine._select(data, layout.needed), sample_size, random_state)
    index = layout.row_index(sample)
    group = None if by is None else pd.Series(sample[by].to_numpy(), index=index, name=by)
    rows = sample.loc[:, list(layout.features)]
    rows.index = index
    return ReportData(rows, explainer.explain(rows), group, summary)


_SPARK_MODULES = ("pyspark.",)
_DASK_MODULES = ("dask.", "dask_expr.")


def is_distributed(data) -> bool:
    """Whether ``data`` is a Spark or Dask DataFrame, told by its type's module: neither engine is imported."""
    return type(data).__module__.startswith(_SPARK_MODULES + _DASK_MODULES)


def engine_module(data):
    """``skig.spark`` or ``skig.dask``, from the type of ``data``; neither engine is imported for the check."""
    module = type(data).__module__
    if module.startswith(_SPARK_MODULES):
        from . import spark

        return spark
    if module.startswith(_DASK_MODULES):
        from . import dask

        return dask
    raise TypeError(f"expected a Spark or Dask DataFrame, got {type(data).__module__}.{type(data).__name__}.")


# ------------------------------------------------------------------------------------------------- command line
def hive_partition_columns(path: Path) -> list[str]:
    """Partition columns of a Parquet directory laid out as ``column=value/`` folders, outermost first."""
    columns: list[str] = []
    folder = path
    while True:
        children = [child for child in folder.iterdir() if child.is_dir() and "=" in child.name]
        if not children:
            return columns
        columns.append(children[0].name.split("=", 1)[0])
        folder = children[0]


def explain_parquet(
    data: Path,
    out: Path,
    *,
    engine: str,
    key,
    make_explainer: Callable[[pd.DataFrame], object],
    sample_rows: int = REFERENCE_ROWS,
) -> int:
    """The command line's ``--engine``: explain a Parquet directory on Spark or Dask, write Parquet partitioned alike.

    Parameters
    ----------
    data, out : Path
        Input Parquet directory (or file) and the output directory (must not exist).
    engine : {"spark", "dask"}
        Spark uses the active (or a new) SparkSession; Dask the scheduler configured in Dask (a
        ``distributed.Client`` when ``DASK_SCHEDULER_ADDRESS`` is set, threads otherwise).
    key : list of str or None
        Row key columns.
    make_explainer : callable
        ``make_explainer(reference_rows) -> fitted Explainer``; the rows are the data's model columns.
    sample_rows : int, default=10_000
        Rows sampled from the data (seed 0) and handed to ``make_explainer`` as reference rows.

    Returns
    -------
    int
        The number of rows written.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {list(ENGINES)}, got {engine!r}.")
    if not data.exists():
        raise ValueError(f"data {str(data)!r} does not exist")
    if out.exists():
        raise ValueError(f"output {str(out)!r} already exists; the engines write a new directory")
    partitions = hive_partition_columns(data) if data.is_dir() else []
    key = list(_as_columns(key, "key"))
    keep = [column for column in partitions if column not in set(key)]
    if engine == "spark":
        from . import spark as module

        frame = module._session().read.parquet(str(data))
    else:
        from . import dask as module

        module._connect()
        import dask.dataframe as dd

        frame = dd.read_parquet(str(data))
    model_columns = [column for column in frame.columns if column not in set(key) | set(keep)]
    reference = module._sample_rows(module._select(frame, model_columns), sample_rows, 0)
    explainer = make_explainer(reference)
    explained = module.explain(explainer, frame, key=key or None, keep=keep or None, prefix="attribution_")
    return module._write_parquet(explained, out, partitions)

"""What skig asks of a distributed engine (:class:`Backend`), and the explain and summarize that drive any of them.

``skig.spark`` and ``skig.dask`` each implement the interface; everything above it (the output layout, batch sizes,
explaining a partition, totals, the report's data, the command line) is shared and engine-free.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .._interactions import check_interactions
from ._partition import PartitionTask, shipped
from ._schema import RESULT_COLUMNS, OutputLayout, as_columns, check_key, check_reasons
from ._sizing import resolve_batch_rows
from ._summary import (
    ExplainedTotals,
    InteractionTotals,
    Summary,
    check_by,
    reason_settings,
    summary_features,
)


class Backend(ABC):
    """A distributed engine as skig uses it: partitions in, frames out; totals per group; sampling and Parquet.

    Every method but :meth:`task_threads` runs on the driver; :meth:`map_partitions` returns a lazy frame of the
    engine.
    """

    #: The engine's name, as the command line's ``--engine`` takes it.
    name: str
    #: Whether partitions reach the workers with their index: without one (Spark) the stochastic methods need a key.
    rows_have_index: bool

    @abstractmethod
    def columns(self, data) -> list[str]:
        """The column names of ``data``."""

    @abstractmethod
    def map_partitions(self, data, task: PartitionTask, explainer):
        """``task(partition, explainer)`` on every pandas partition of ``data[task.layout.needed]``, lazily.

        The engine ships ``explainer`` to its workers once (a broadcast, a scatter) and builds an output of
        ``task.layout``'s columns and dtypes.
        """

    @abstractmethod
    def task_threads(self, outer: int) -> int:
        """Torch threads for one task, inside the task; ``outer`` is the process's count outside tasks."""

    @abstractmethod
    def reduce(
        self, data, columns: Sequence[str], function, by: tuple[str, ...], explainer=None, batch_rows=None
    ) -> pd.DataFrame:
        """Totals of all of ``data``, computed on the engine: only they reach the driver.

        ``function(frame, explainer)`` runs on every pandas partition (or batch of at most ``batch_rows`` rows)
        of ``data[columns]`` and returns its partial totals (``by`` columns, then
        :data:`~skig._distributed._summary.TOTAL_COLUMNS`); the engine adds them up by
        :func:`~skig._distributed._summary.combine_partials`'s rule. ``explainer``, when given, is shipped to the
        workers once.
        """

    @abstractmethod
    def sample(self, data, columns: Sequence[str], n: int, random_state: int) -> pd.DataFrame:
        """About ``n`` rows of ``data[columns]`` drawn without replacement with seed ``random_state``, as pandas."""

    @abstractmethod
    def read_parquet(self, path: Path):
        """A Parquet file or directory as a lazy frame of the engine (its default session or scheduler)."""

    @abstractmethod
    def write_parquet(self, explained, out: Path, partitions: Sequence[str]) -> int:
        """Write ``explained`` as Parquet under ``out``, in ``partitions`` folders; the number of rows written."""


def explain_on(backend: Backend, explainer, data, *, batch_rows: int | None = None, **layout_options):
    """Explain every row of ``data`` on ``backend``: see :func:`skig.spark.explain` and :func:`skig.dask.explain`.

    ``layout_options`` are :meth:`OutputLayout.build`'s: ``key``, ``keep``, ``reasons``, ``n_reasons``,
    ``direction``, ``prefix``, ``min_contribution``.
    """
    layout = OutputLayout.build(explainer, backend.columns(data), **layout_options)
    check_key(explainer, layout, backend.rows_have_index)
    check_reasons(layout)
    task = PartitionTask(layout, resolve_batch_rows(explainer, batch_rows), backend.task_threads)
    return backend.map_partitions(data, task, shipped(explainer))


def summarize_on(
    backend: Backend,
    explainer,
    explained,
    *,
    by=None,
    prefix: str = "",
    interactions: bool = False,
    key=None,
    batch_rows: int | None = None,
    n_reasons: int | None = None,
    direction: str | None = None,
    min_contribution: float | None = None,
) -> Summary:
    """Summarize an explanation on ``backend``: see :func:`skig.spark.summarize` and :func:`skig.dask.summarize`.

    With ``interactions``, ``explained`` is the data (as :func:`explain_on` takes it): its rows are explained with
    interactions on the workers and reduced to totals there.
    """
    names, attributions = summary_features(explainer, prefix)
    by = as_columns(by, "by")
    check_by(by)
    reasons = reason_settings(n_reasons, direction, min_contribution)
    columns = backend.columns(explained)
    if interactions:
        check_interactions(explainer)
        keep = [column for column in by if column not in set(as_columns(key, "key"))] or None
        # The prefix keeps by-columns that are also features apart from attribution names (none are written).
        layout = OutputLayout.build(explainer, columns, key=key, keep=keep, prefix="skig_attribution_")
        check_key(explainer, layout, backend.rows_have_index)
        rows = resolve_batch_rows(explainer, batch_rows)
        task = InteractionTotals(layout, by, reasons, rows, backend.task_threads)
        needed = list(dict.fromkeys((*layout.needed, *by)))
        totals = backend.reduce(explained, needed, task, by, shipped(explainer), rows)
    else:
        missing = [column for column in (*by, *attributions, *RESULT_COLUMNS[:3]) if column not in set(columns)]
        if missing:
            raise ValueError(f"explained has no columns {missing}; it has {columns}.")
        needed = list(dict.fromkeys((*by, *attributions, *RESULT_COLUMNS[:3])))
        totals = backend.reduce(explained, needed, ExplainedTotals(tuple(attributions), by, reasons), by)
    return Summary.from_totals(totals, names, by, reasons)

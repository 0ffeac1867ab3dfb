"""What skig asks of a distributed engine (:class:`Backend`), and the explain and summarize that drive any of them.

``skig.spark`` and ``skig.dask`` each implement the interface; everything above it (the output layout, batch sizes,
explaining a partition, totals, the report's data, the command line) is shared and engine-free.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ._partition import PartitionTask, shipped
from ._schema import RESULT_COLUMNS, OutputLayout, as_columns, check_key, check_reasons
from ._sizing import resolve_batch_rows
from ._summary import Summary, summary_features


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
    def totals(self, explained, attributions: Sequence[str], by: tuple[str, ...]) -> pd.DataFrame:
        """:func:`~skig._distributed._summary.partial_totals` of all of ``explained``, one row per group of ``by``
        (sorted, missing last), computed on the engine."""

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
    ``direction``, ``prefix``.
    """
    layout = OutputLayout.build(explainer, backend.columns(data), **layout_options)
    check_key(explainer, layout, backend.rows_have_index)
    check_reasons(layout)
    task = PartitionTask(layout, resolve_batch_rows(explainer, batch_rows), backend.task_threads)
    return backend.map_partitions(data, task, shipped(explainer))


def summarize_on(backend: Backend, explainer, explained, *, by=None, prefix: str = "") -> Summary:
    """Summarize an explanation on ``backend``: see :func:`skig.spark.summarize` and :func:`skig.dask.summarize`."""
    names, attributions = summary_features(explainer, prefix)
    by = as_columns(by, "by")
    columns = backend.columns(explained)
    missing = [column for column in (*by, *attributions, *RESULT_COLUMNS[:3]) if column not in set(columns)]
    if missing:
        raise ValueError(f"explained has no columns {missing}; it has {columns}.")
    return Summary.from_totals(backend.totals(explained, attributions, by), names, by)

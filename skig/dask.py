"""Explain a Dask DataFrame: ``map_partitions`` with the right ``meta``, the fitted explainer scattered once.

Needs the ``dask`` extra: ``pip install 'skig[dask]'`` (dask, distributed, dask-ml). Works on a
``dask.distributed`` cluster and with Dask's threaded scheduler.
"""

from __future__ import annotations

import threading

import pandas as pd

try:
    import dask
    import dask.dataframe as dd
    from dask.system import CPU_COUNT
except ImportError as error:  # pragma: no cover - the message is the point
    raise ImportError("skig.dask needs dask: pip install 'skig[dask]'.") from error

from ._distributed._backend import Backend, explain_on, summarize_on
from ._distributed._partition import PartitionTask
from ._distributed._summary import Summary, combine_partials

__all__ = ["explain", "summarize"]

#: Partial totals added up per task of the tree that reduces a summary.
SPLIT_EVERY = 8


def _client():
    """The active ``distributed.Client``, or None under a local scheduler."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def _ship(explainer):
    """The explainer as tasks take it: scattered once to every worker under a client, else the object itself."""
    client = _client()
    if client is None:
        return explainer
    return client.scatter(explainer, broadcast=True, hash=False)


def explain(
    explainer,
    ddf: dd.DataFrame,
    *,
    key=None,
    keep=None,
    reasons=None,
    n_reasons: int = 4,
    direction: str = "increase",
    prefix: str = "",
    batch_rows: int | None = None,
    min_contribution: float = 0.0,
) -> dd.DataFrame:
    """Explain every row of a Dask DataFrame; a lazy Dask DataFrame of attributions, indexed like ``ddf``, comes back.

    Each partition is explained with ``explainer.explain`` (``map_partitions``). Under a ``distributed.Client``
    the fitted explainer is scattered once to every worker; under the threaded scheduler threads share it (each
    explanation runs on a private copy of the model). Tasks that run at once in one process share its torch threads
    (a worker's threads divide them; see docs/scaling.md), restored when they end. Every row gets the numbers
    ``explainer.explain`` gives it on one machine, whatever the partitioning: draws of the stochastic methods are
    keyed by the row key.

    Parameters
    ----------
    explainer : Explainer
        A fitted explainer. Its model must unpickle on the workers (classes importable there) and live on the CPU
        or a device every worker has; ``device="auto"`` puts it on the worker's GPU when there is one.
    ddf : dask.dataframe.DataFrame
        Rows with the columns the explainer was fitted on, plus any ``key`` and ``keep`` columns.
    key : str or list of str, default=None
        Columns that identify a row; they come first in the output and are the row key of random draws. None: the
        Dask index is the row key (it must then identify rows: an index that restarts in every partition, as
        ``read_parquet`` gives without ``index=``, does not).
    keep : str or list of str, default=None
        Other columns carried to the output as they are; not part of the key.
    reasons : mapping or callable, default=None
        Reason texts as :func:`skig.reason_codes` takes them; adds ``reason_{k}_feature``,
        ``reason_{k}_contribution`` and ``reason_{k}`` for ``k = 1..n_reasons``.
    n_reasons : int, default=4
        Reasons per row.
    direction : {"increase", "decrease"}, default="increase"
        The adverse direction of the explained output.
    prefix : str, default=""
        Put before each attribution column's name.
    batch_rows : int, default=None
        Rows per call of ``explain`` inside a partition. None sizes them from skig's memory bound: the rows whose
        path points fill 256 passes of the engine.
    min_contribution : float, default=0.0
        Smallest adverse contribution listed in the reason columns, as :func:`skig.reason_codes` takes it: a row
        may get fewer than ``n_reasons`` reasons (the rest of its reason columns are null).

    Returns
    -------
    dask.dataframe.DataFrame
        Indexed like ``ddf``. Columns: ``key``, ``keep``, one float64 attribution per raw feature, ``prediction``,
        ``base_value``, ``delta``, ``n_steps`` (int64) and the reason columns.

    Examples
    --------
    >>> import skig.dask  # doctest: +SKIP
    >>> attributions = skig.dask.explain(explainer, accounts, key="account_id")  # doctest: +SKIP
    >>> attributions.to_parquet("s3://bank/attributions/2024-06")  # doctest: +SKIP
    """
    return explain_on(
        DASK,
        explainer,
        ddf,
        key=key,
        keep=keep,
        reasons=reasons,
        n_reasons=n_reasons,
        direction=direction,
        prefix=prefix,
        batch_rows=batch_rows,
        min_contribution=min_contribution,
    )


def summarize(
    explainer,
    explained: dd.DataFrame,
    *,
    by=None,
    prefix: str = "",
    n_reasons: int = 4,
    direction: str = "increase",
    min_contribution: float = 0.0,
    interactions: bool = False,
    key=None,
    batch_rows: int | None = None,
) -> Summary:
    """Importance, spread, histograms, reason counts, completeness and group tables of an explanation, aggregated
    partition by partition; with ``interactions=True``, pair tables too.

    Each partition is reduced to sums, counts and histogram counts per group; a tree of tasks adds them up and only
    those totals reach the client, never the attributions (nor, with interactions, any row's matrix).

    Parameters
    ----------
    explainer : Explainer
        The explainer that made ``explained`` (it names the attribution columns).
    explained : dask.dataframe.DataFrame
        The result of :func:`explain`. With ``interactions=True``: the data instead, as :func:`explain` takes it.
    by : str or list of str, default=None
        Columns of ``explained`` to group by.
    prefix : str, default=""
        The ``prefix`` given to :func:`explain`.
    n_reasons : int, default=4
        Principal reasons per row counted in ``reason_counts``.
    direction : {"increase", "decrease"}, default="increase"
        The adverse direction of the explained output, for ``reason_counts``.
    min_contribution : float, default=0.0
        Smallest adverse contribution counted as a reason.
    interactions : bool, default=False
        Explain the rows of ``explained`` (the data) with interactions on the workers and add pair tables.
    key : str or list of str, default=None
        With ``interactions``: columns that identify a row; None: the Dask index.
    batch_rows : int, default=None
        With ``interactions``: rows per ``explain`` call inside a partition.

    Returns
    -------
    Summary
        See :func:`skig.spark.summarize`.
    """
    return summarize_on(
        DASK,
        explainer,
        explained,
        by=by,
        prefix=prefix,
        interactions=interactions,
        key=key,
        batch_rows=batch_rows,
        n_reasons=n_reasons,
        direction=direction,
        min_contribution=min_contribution,
    )


def _connect():
    """A ``distributed.Client`` to the scheduler Dask is configured with (``DASK_SCHEDULER_ADDRESS``), if any."""
    address = dask.config.get("scheduler-address", None)
    if not address or _client() is not None:
        return _client()
    from distributed import Client

    return Client(address)


def _worker_threads() -> int | None:
    """Threads of the ``distributed`` worker running this task, or None outside one."""
    try:
        from distributed import get_worker
    except ImportError:
        return None
    try:
        return get_worker().state.nthreads
    except ValueError:
        return None


class DaskBackend(Backend):
    """Dask: ``map_partitions`` with the layout's ``meta``, the explainer scattered once, totals added up by a tree."""

    name = "dask"
    rows_have_index = True

    def columns(self, data: dd.DataFrame) -> list[str]:
        return list(data.columns)

    def map_partitions(self, data: dd.DataFrame, task: PartitionTask, explainer) -> dd.DataFrame:
        selected = data[task.layout.needed]
        return selected.map_partitions(task, _ship(explainer), meta=task.layout.empty(selected._meta))

    def task_threads(self, outer: int) -> int:
        """The process's threads shared among the tasks that run in it at once.

        On a ``distributed`` worker those are its ``nthreads``; under the threaded scheduler Dask's pool
        (``num_workers``, the CPU count by default); under the synchronous scheduler (the main thread) one.
        """
        tasks = _worker_threads()
        if tasks is None:
            main = threading.current_thread() is threading.main_thread()
            tasks = 1 if main else dask.config.get("num_workers", None) or CPU_COUNT
        return max(1, outer // tasks)

    def reduce(self, data: dd.DataFrame, columns, function, by, explainer=None, batch_rows=None) -> pd.DataFrame:
        """Partial totals per partition, added up by a tree of tasks (``SPLIT_EVERY`` at a time); only the totals
        reach the client. ``batch_rows`` is left to ``function`` (partitions are not re-sliced)."""
        selected = data[list(columns)]
        meta = function(selected._meta, None)
        shipped = None if explainer is None else _ship(explainer)
        parts = selected.map_partitions(function, shipped, meta=meta).to_delayed()
        while True:
            parts = [
                dask.delayed(combine_partials)(parts[lo : lo + SPLIT_EVERY], by)
                for lo in range(0, len(parts), SPLIT_EVERY)
            ]
            if len(parts) == 1:
                return parts[0].compute()

    def sample(self, data: dd.DataFrame, columns, n: int, random_state: int) -> pd.DataFrame:
        data = data[list(columns)]
        count = int(data.shape[0].compute())
        if count <= n:
            return data.compute()
        fraction = min(1.0, (1.2 * n + 20) / count)
        return data.sample(frac=fraction, random_state=random_state).compute().iloc[:n]

    def read_parquet(self, path) -> dd.DataFrame:
        """Connected to the scheduler Dask is configured with (``DASK_SCHEDULER_ADDRESS``), if any."""
        _connect()
        return dd.read_parquet(str(path))

    def write_parquet(self, explained: dd.DataFrame, out, partitions) -> int:
        explained.to_parquet(str(out), partition_on=list(partitions) or None, write_index=False)
        return int(dd.read_parquet(str(out)).shape[0].compute())


#: The Dask backend of :mod:`skig._distributed`.
DASK = DaskBackend()

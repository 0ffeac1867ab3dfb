"""Explain a Dask DataFrame: ``map_partitions`` with the right ``meta``, the fitted explainer scattered once.

Needs the ``dask`` extra: ``pip install 'skig[dask]'`` (dask, distributed, dask-ml). Works on a
``dask.distributed`` cluster and with Dask's threaded scheduler.
"""

from __future__ import annotations

import functools

import pandas as pd

try:
    import dask
    import dask.dataframe as dd
except ImportError as error:  # pragma: no cover - the message is the point
    raise ImportError("skig.dask needs dask: pip install 'skig[dask]'.") from error

from ._distributed import (
    RESULT_COLUMNS,
    OutputLayout,
    Summary,
    _as_columns,
    combine_totals,
    explain_frame,
    partial_totals,
    plan,
    shipped,
    summary_features,
)

__all__ = ["explain", "summarize"]


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


def _explain_partition(partition: pd.DataFrame, explainer, *, layout: OutputLayout, batch_rows: int) -> pd.DataFrame:
    # One explainer serves every thread of a worker: explain runs on a private copy of the model.
    return explain_frame(explainer, partition, layout, batch_rows)


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
) -> dd.DataFrame:
    """Explain every row of a Dask DataFrame; a lazy Dask DataFrame of attributions, indexed like ``ddf``, comes back.

    Each partition is explained with ``explainer.explain`` (``map_partitions``). Under a ``distributed.Client``
    the fitted explainer is scattered once to every worker; under the threaded scheduler threads share it (each
    explanation runs on a private copy of the model). Every row gets the numbers ``explainer.explain`` gives it on
    one machine, whatever the partitioning: draws of the stochastic methods are keyed by the row key.

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
        Rows per call of ``explain`` inside a partition. None sizes them from skig's memory bound.

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
    layout, rows = plan(
        explainer,
        ddf.columns,
        "dask",
        rows_per_batch=batch_rows,
        key=key,
        keep=keep,
        reasons=reasons,
        n_reasons=n_reasons,
        direction=direction,
        prefix=prefix,
    )
    selected = ddf[layout.needed]
    # A partial keeps the layout out of Dask's traversal of task arguments.
    function = functools.partial(_explain_partition, layout=layout, batch_rows=rows)
    return selected.map_partitions(function, _ship(shipped(explainer)), meta=layout.empty(selected._meta))


def summarize(explainer, explained: dd.DataFrame, *, by=None, prefix: str = "") -> Summary:
    """Importance, completeness and group tables of an explanation, aggregated partition by partition.

    Each partition is reduced to sums per group; only those reach the client, never the attributions.

    Parameters
    ----------
    explainer : Explainer
        The explainer that made ``explained`` (it names the attribution columns).
    explained : dask.dataframe.DataFrame
        The result of :func:`explain`.
    by : str or list of str, default=None
        Columns of ``explained`` to group by.
    prefix : str, default=""
        The ``prefix`` given to :func:`explain`.

    Returns
    -------
    Summary
        See :func:`skig.spark.summarize`.
    """
    names, columns = summary_features(explainer, prefix)
    by = _as_columns(by, "by")
    missing = [column for column in (*by, *columns, *RESULT_COLUMNS[:3]) if column not in set(explained.columns)]
    if missing:
        raise ValueError(f"explained has no columns {missing}; it has {list(explained.columns)}.")
    meta = partial_totals(explained._meta, columns, by)
    partials = explained.map_partitions(partial_totals, columns, by, meta=meta).compute()
    return Summary.from_totals(combine_totals(partials, by), names, by)


def _connect():
    """A ``distributed.Client`` to the scheduler Dask is configured with (``DASK_SCHEDULER_ADDRESS``), if any."""
    address = dask.config.get("scheduler-address", None)
    if not address or _client() is not None:
        return _client()
    from distributed import Client

    return Client(address)


def _select(ddf: dd.DataFrame, columns) -> dd.DataFrame:
    """The named columns."""
    return ddf[list(columns)]


def _sample_rows(ddf: dd.DataFrame, n: int, random_state: int) -> pd.DataFrame:
    """About ``n`` rows drawn without replacement with seed ``random_state``, computed as pandas."""
    count = int(ddf.shape[0].compute())
    if count <= n:
        return ddf.compute()
    fraction = min(1.0, (1.2 * n + 20) / count)
    return ddf.sample(frac=fraction, random_state=random_state).compute().iloc[:n]


def _write_parquet(explained: dd.DataFrame, out, partitions) -> int:
    """Write ``explained`` as Parquet under ``out``, in ``partitions`` folders; the number of rows written."""
    explained.to_parquet(str(out), partition_on=list(partitions) or None, write_index=False)
    return int(dd.read_parquet(str(out)).shape[0].compute())

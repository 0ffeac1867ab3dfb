"""Explain a Spark DataFrame: ``mapInPandas`` over Arrow batches, the fitted explainer broadcast once.

Needs the ``spark`` extra: ``pip install 'skig[spark]'`` (pyspark, and Java 17 or later on every machine).
"""

from __future__ import annotations

import pandas as pd

try:
    from pyspark import TaskContext, cloudpickle
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
except ImportError as error:  # pragma: no cover - the message is the point
    raise ImportError(
        "skig.spark needs pyspark: pip install 'skig[spark]' (Spark also needs Java 17 or later)."
    ) from error

from ._distributed._backend import Backend, explain_on, summarize_on
from ._distributed._partition import PartitionTask, fingerprint, loaded_explainer
from ._distributed._schema import OutputLayout
from ._distributed._summary import KEYS, VALUE, Summary, combine_partials, pick_totals
from ._spark_workers import check_workers

__all__ = ["explain", "summarize"]

#: The session setting that bounds the rows of each Arrow batch handed to Python.
MAX_RECORDS_PER_BATCH = "spark.sql.execution.arrow.maxRecordsPerBatch"


def _column(name: str):
    """A column by its exact name, whatever characters it holds (dots, spaces, backticks)."""
    return F.col("`" + name.replace("`", "``") + "`")


def output_schema(layout: OutputLayout, input_schema: T.StructType) -> T.StructType:
    """The Spark schema of an explanation: carried columns with their input types, then skig's columns."""
    fields = [input_schema[name] for name in layout.carried]
    kinds = {"float64": T.DoubleType(), "int64": T.LongType(), "object": T.StringType()}
    fields += [T.StructField(name, kinds[str(dtype)], True) for name, dtype in layout.computed_dtypes().items()]
    return T.StructType(fields)


# (Spark application, explainer fingerprint) pairs whose workers passed the check, in this driver process.
_CHECKED: set[tuple[str, str]] = set()


def _broadcast(session, explainer):
    """Broadcast ``explainer`` and check that the workers load it; the function a task calls for the worker's copy.

    A clear error now, rather than "No module named 'skig'" at the first action. Each Python worker unpickles the
    explainer once (in the check, or in its first task) and keeps it by the fingerprint of its bytes. The check runs
    once per Spark application and explainer: a later call with the same bytes (``summarize`` after ``explain``, the
    next month's data) skips its job.
    """
    pickled = cloudpickle.dumps(explainer)
    context = session.sparkContext
    payload, key = context.broadcast(pickled), fingerprint(pickled)
    if (context.applicationId, key) not in _CHECKED:
        check_workers(session, payload, key)
        _CHECKED.add((context.applicationId, key))
    return lambda: loaded_explainer(key, lambda: cloudpickle.loads(payload.value))


def explain(
    explainer,
    sdf: DataFrame,
    *,
    key=None,
    keep=None,
    reasons=None,
    n_reasons: int = 4,
    direction: str = "increase",
    prefix: str = "",
    batch_rows: int | None = None,
    min_contribution: float = 0.0,
) -> DataFrame:
    """Explain every row of a Spark DataFrame; a lazy Spark DataFrame of attributions comes back.

    Each Python worker explains Arrow batches of rows with ``explainer.explain`` (``mapInPandas``); the fitted
    explainer is pickled once and broadcast. Each task runs torch on ``spark.task.cpus`` threads (1 by default),
    restored when it ends. Every row gets the numbers ``explainer.explain`` gives it on one
    machine, whatever the partitioning: draws of the stochastic methods are keyed by the row key.

    Parameters
    ----------
    explainer : Explainer
        A fitted explainer. Its model must unpickle on the workers (classes importable there) and live on the CPU
        or a device every worker has; ``device="auto"`` puts it on the worker's GPU when there is one.
    sdf : pyspark.sql.DataFrame
        Rows with the columns the explainer was fitted on, plus any ``key`` and ``keep`` columns.
    key : str or list of str, default=None
        Columns that identify a row (an account id, a month). They come first in the output with their Spark types
        and are the row key of random draws. Required for the stochastic methods (``"smoothgrad"``,
        ``"smoothgrad_sq"``, ``"vargrad"``, ``"expected"``), since Spark rows have no index.
    keep : str or list of str, default=None
        Other columns carried to the output as they are, e.g. a segment to summarize by; not part of the key.
    reasons : mapping or callable, default=None
        Reason texts as :func:`skig.reason_codes` takes them. When given, the output also has, for each rank
        ``k = 1..n_reasons``, ``reason_{k}_feature``, ``reason_{k}_contribution`` and ``reason_{k}`` (the text);
        null where a row has fewer adverse features.
    n_reasons : int, default=4
        Reasons per row.
    direction : {"increase", "decrease"}, default="increase"
        The adverse direction of the explained output (see :func:`skig.reason_codes`).
    prefix : str, default=""
        Put before each attribution column's name (``"attribution_"`` when a feature shares a name with a key,
        keep or result column).
    batch_rows : int, default=None
        Rows per Arrow batch (``spark.sql.execution.arrow.maxRecordsPerBatch``, set on the session). None sizes
        batches from skig's memory bound: the rows whose path points fill 256 passes of the engine.
    min_contribution : float, default=0.0
        Smallest adverse contribution listed in the reason columns, as :func:`skig.reason_codes` takes it: a row
        may get fewer than ``n_reasons`` reasons (the rest of its reason columns are null).

    Returns
    -------
    pyspark.sql.DataFrame
        Columns: ``key``, ``keep``, one float64 attribution per raw feature (named as
        ``explainer.get_feature_names_out()``, after ``prefix``), ``prediction``, ``base_value``, ``delta``,
        ``n_steps``, and the reason columns. One row per input row.

    Raises
    ------
    ValueError
        If a column is missing, output names collide, or a stochastic method has no ``key``.
    RuntimeError
        If Spark's Python workers cannot load the explainer (no skig, or not the model's modules, there): checked
        by one small Spark job (a second or two) when ``explain`` is called, before any job of the explanation runs.

    Examples
    --------
    >>> import skig.spark  # doctest: +SKIP
    >>> attributions = skig.spark.explain(explainer, accounts, key="account_id")  # doctest: +SKIP
    >>> attributions.write.parquet("s3://bank/attributions/2024-06")  # doctest: +SKIP
    """
    return explain_on(
        SPARK,
        explainer,
        sdf,
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
    explained: DataFrame,
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
    by Spark; with ``interactions=True``, pair tables too.

    Every Arrow batch is reduced to sums, counts and histogram counts per group on the workers; Spark adds them up
    (``groupBy``) and only those totals reach the driver, never the attributions (nor, with interactions, any row's
    matrix). The totals are sums: a summary does not depend on the partitioning (counts exactly, means and
    variances up to float rounding of the sums, about 1e-15 relative). :func:`skig.drift` compares two summaries.

    Parameters
    ----------
    explainer : Explainer
        The explainer that made ``explained`` (it names the attribution columns).
    explained : pyspark.sql.DataFrame
        The result of :func:`explain` (or that result read back). With ``interactions=True``: the data instead, as
        :func:`explain` takes it (the explainer's columns, ``key`` and ``by``).
    by : str or list of str, default=None
        Columns of ``explained`` to group by (``key`` or ``keep`` columns of :func:`explain`).
    prefix : str, default=""
        The ``prefix`` given to :func:`explain`.
    n_reasons : int, default=4
        Principal reasons per row counted in ``reason_counts``, as :func:`skig.reason_codes` lists them.
    direction : {"increase", "decrease"}, default="increase"
        The adverse direction of the explained output, for ``reason_counts``.
    min_contribution : float, default=0.0
        Smallest adverse contribution counted as a reason.
    interactions : bool, default=False
        Explain the rows of ``explained`` (the data) with ``interactions=True`` on the workers and add pair tables
        (``interaction_importance``, ``mean_interaction``, ``group_interaction_importance``): equal to
        ``Explanation.interaction_importance()`` of the same rows explained in one process. The explainer's method
        must have interactions (``"ig"``, ``"expected"``).
    key : str or list of str, default=None
        With ``interactions``: columns that identify a row (the row key of random draws, as in :func:`explain`).
    batch_rows : int, default=None
        With ``interactions``: rows per Arrow batch, as in :func:`explain`.

    Returns
    -------
    Summary
        ``importance`` (``mean |attribution|`` per feature, largest first), ``mean_attribution``, ``completeness``,
        ``abs_variance``, ``histogram`` (rows per bin of a fixed grid of attribution values), ``reason_counts``;
        with ``by``: ``group_rows``, ``group_mean`` and ``group_mean_abs`` (features x groups); with
        ``interactions``: the pair tables and ``interaction_completeness``. See docs/scaling.md.
    """
    return summarize_on(
        SPARK,
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


class SparkBackend(Backend):
    """Spark: ``mapInPandas`` over Arrow batches, the explainer broadcast once, totals added up by ``groupBy``."""

    name = "spark"
    rows_have_index = False

    def columns(self, data: DataFrame) -> list[str]:
        return list(data.columns)

    def map_partitions(self, data: DataFrame, task: PartitionTask, explainer) -> DataFrame:
        layout = task.layout
        session = data.sparkSession
        # Read when the job runs, not now: the setting stays on the session (and bounds other Arrow jobs too).
        session.conf.set(MAX_RECORDS_PER_BATCH, str(task.batch_rows))
        worker = _broadcast(session, explainer)

        def explain_batches(batches):
            worker_explainer = worker()
            for batch in batches:
                batch.columns = layout.needed
                # Slicing again keeps the batch size whatever maxRecordsPerBatch is when the job runs.
                yield task(batch, worker_explainer).reset_index(drop=True)

        # mapInPandas resolves its input columns by name, which fails on names such as "debt.ratio": it gets
        # positional aliases, and each batch its real names back.
        selected = data.select(*[_column(name).alias(f"_skig_{i}") for i, name in enumerate(layout.needed)])
        return selected.mapInPandas(explain_batches, output_schema(layout, data.schema))

    def task_threads(self, outer: int) -> int:
        """``spark.task.cpus`` (1 by default): the cores Spark reserved for the task."""
        context = TaskContext.get()
        return outer if context is None else context.cpus()

    def reduce(self, data: DataFrame, columns, function, by, explainer=None, batch_rows=None) -> pd.DataFrame:
        """Partial totals per Arrow batch (``mapInPandas``), added up per partition there and across partitions by
        ``groupBy``; only the totals are collected."""
        session = data.sparkSession
        if batch_rows is not None:
            session.conf.set(MAX_RECORDS_PER_BATCH, str(batch_rows))
        worker = None if explainer is None else _broadcast(session, explainer)
        columns = list(columns)

        def partial_batches(batches):
            worker_explainer = None if worker is None else worker()
            parts = []
            for batch in batches:
                batch.columns = columns
                parts.append(function(batch, worker_explainer))
            if parts:  # one set of lines per partition: less to shuffle than one per batch
                yield combine_partials(parts, by)

        schema = T.StructType(
            [data.schema[name] for name in by]
            + [T.StructField(name, T.LongType(), False) for name in KEYS]
            + [T.StructField(VALUE, T.DoubleType(), True)]
        )
        selected = data.select(*[_column(name).alias(f"_skig_{i}") for i, name in enumerate(columns)])
        partials = selected.mapInPandas(partial_batches, schema)
        aggregated = partials.groupBy(*[_column(name) for name in (*by, *KEYS)]).agg(
            F.sum(_column(VALUE)).alias("skig_sum"), F.max(_column(VALUE)).alias("skig_max")
        )
        return pick_totals(aggregated.toPandas(), "skig_sum", "skig_max")

    def sample(self, data: DataFrame, columns, n: int, random_state: int) -> pd.DataFrame:
        data = data.select(*[_column(name) for name in columns])
        count = data.count()
        if count <= n:
            return data.toPandas()
        fraction = min(1.0, (1.2 * n + 20) / count)
        return data.sample(withReplacement=False, fraction=fraction, seed=random_state).limit(n).toPandas()

    def read_parquet(self, path) -> DataFrame:
        """With the active Spark session, or a new one configured as Spark's defaults and spark-submit say."""
        return SparkSession.builder.getOrCreate().read.parquet(str(path))

    def write_parquet(self, explained: DataFrame, out, partitions) -> int:
        explained.write.partitionBy(*partitions).mode("errorifexists").parquet(str(out))
        return explained.sparkSession.read.parquet(str(out)).count()


#: The Spark backend of :mod:`skig._distributed`.
SPARK = SparkBackend()

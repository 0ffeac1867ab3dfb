"""What a report of a Spark or Dask DataFrame needs: figures of all rows from the engine, a sample explained here."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ._backend import explain_on, summarize_on
from ._engines import backend_of
from ._schema import OutputLayout, as_columns
from ._summary import Summary


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


def report_data(
    explainer, data, *, sample_size: int = 1000, key=None, by=None, random_state=0, reasons=None
) -> ReportData:
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
    reasons : dict, default=None
        How the summary counts principal reasons (``n_reasons``, ``direction``, ``min_contribution``, as
        :func:`skig.spark.summarize` takes them); None: its defaults.

    Returns
    -------
    ReportData
    """
    backend = backend_of(data)
    if by is not None and not isinstance(by, str):
        raise TypeError(f"by must be one column name, got {by!r}.")
    # Attribution columns are prefixed so that ``by`` may also be a feature.
    prefix = "attribution_"
    keep = [by] if by is not None and by not in set(as_columns(key, "key")) else None
    explained = explain_on(backend, explainer, data, key=key, keep=keep, prefix=prefix)
    summary = summarize_on(backend, explainer, explained, by=by, prefix=prefix, **(reasons or {}))
    layout = OutputLayout.build(explainer, backend.columns(data), key=key, keep=keep)
    sample = backend.sample(data, layout.needed, sample_size, random_state)
    index = layout.row_index(sample)
    group = None if by is None else pd.Series(sample[by].to_numpy(), index=index, name=by)
    rows = sample.loc[:, list(layout.features)]
    rows.index = index
    return ReportData(rows, explainer.explain(rows), group, summary)

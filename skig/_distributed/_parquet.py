"""The command line's ``--engine``: a Parquet directory explained on Spark or Dask, written partitioned alike."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ._backend import explain_on
from ._engines import backend_named
from ._schema import as_columns

#: Rows the command line samples from distributed data to fit the explainer when no reference file is given.
REFERENCE_ROWS = 10_000


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
    if not data.exists():
        raise ValueError(f"data {str(data)!r} does not exist")
    if out.exists():
        raise ValueError(f"output {str(out)!r} already exists; the engines write a new directory")
    backend = backend_named(engine)
    partitions = hive_partition_columns(data) if data.is_dir() else []
    key = list(as_columns(key, "key"))
    keep = [column for column in partitions if column not in set(key)]
    frame = backend.read_parquet(data)
    model_columns = [column for column in backend.columns(frame) if column not in set(key) | set(keep)]
    explainer = make_explainer(backend.sample(frame, model_columns, sample_rows, 0))
    explained = explain_on(backend, explainer, frame, key=key or None, keep=keep or None, prefix="attribution_")
    return backend.write_parquet(explained, out, partitions)

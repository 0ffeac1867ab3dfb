"""Spark and Dask behind one backend interface, and what they share: layout, batches, partitions, totals, reports.

``_schema`` (output columns), ``_sizing`` (rows per batch), ``_partition`` (explain one pandas partition),
``_threads`` (torch threads per task), ``_allocator`` (glibc's thresholds per task), ``_summary`` (totals and
:class:`Summary`), ``_backend`` (the interface and the explain/summarize that drive it), ``_engines`` (the backend of
a frame), ``_report`` and ``_parquet`` (the report's data and the command line's ``--engine``). ``skig.spark`` and
``skig.dask`` implement :class:`Backend`; nothing here imports pyspark or dask.
"""

from ._engines import is_distributed
from ._parquet import explain_parquet
from ._report import ReportData, report_data
from ._summary import Summary

__all__ = ["ReportData", "Summary", "explain_parquet", "is_distributed", "report_data"]

"""The backend of a Spark or Dask DataFrame, told from its type's module: an engine is imported only when used."""

from __future__ import annotations

from ._backend import Backend

_SPARK_MODULES = ("pyspark.",)
_DASK_MODULES = ("dask.", "dask_expr.")
#: Engine names, as the command line's ``--engine`` takes them.
ENGINES = ("spark", "dask")


def is_distributed(data) -> bool:
    """Whether ``data`` is a Spark or Dask DataFrame, told by its type's module: neither engine is imported."""
    return type(data).__module__.startswith(_SPARK_MODULES + _DASK_MODULES)


def backend_named(engine: str) -> Backend:
    """The backend of ``engine`` ("spark" or "dask"), importing its module."""
    if engine == "spark":
        from ..spark import SPARK

        return SPARK
    if engine == "dask":
        from ..dask import DASK

        return DASK
    raise ValueError(f"engine must be one of {list(ENGINES)}, got {engine!r}.")


def backend_of(data) -> Backend:
    """The backend of ``data``'s engine, from its type; raises TypeError for anything but a Spark or Dask frame."""
    module = type(data).__module__
    if module.startswith(_SPARK_MODULES):
        return backend_named("spark")
    if module.startswith(_DASK_MODULES):
        return backend_named("dask")
    raise TypeError(f"expected a Spark or Dask DataFrame, got {type(data).__module__}.{type(data).__name__}.")

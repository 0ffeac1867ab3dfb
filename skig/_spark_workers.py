"""Before a Spark job: do the Python workers load the explainer? A clear error naming what they lack if not.

Spark's own failure, "No module named 'skig'" deep in a Py4J stack trace of the first action, says neither which
Python the workers run nor how to give them skig and the model's modules.
"""

from __future__ import annotations

import sys

# The probe runs on the workers, where skig may be missing: it is compiled from this text into a module of its own
# name, which cloudpickle ships by value (a function of an importable module, such as skig's, goes by reference).
# It runs as a mapInPandas job, on the Python workers the explanation's mapInPandas job then reuses (Spark keeps SQL
# and RDD jobs' workers in separate pools): the explainer it loads, and the imports that loading costs (torch,
# scikit-learn, skig: seconds per worker process), serve the explanation.
_PROBE = """
def probe(payload, key):
    def run(batches):
        import sys

        import pandas as pd

        for _ in batches:
            pass
        try:
            from pyspark import cloudpickle

            explainer = cloudpickle.loads(payload.value)
            from skig._distributed._partition import loaded_explainer

            loaded_explainer(key, lambda: explainer)
            error = None
        except Exception as caught:
            error = f"{type(caught).__name__}: {caught}"
        yield pd.DataFrame({"error": [error], "executable": [sys.executable], "version": [sys.version.split()[0]]})
    return run
"""
_PROBE_SCHEMA = "error string, executable string, version string"


def _probe(payload, key: str):
    namespace = {"__name__": "_skig_worker_probe"}
    exec(compile(_PROBE, "<skig worker probe>", "exec"), namespace)
    return namespace["probe"](payload, key)


def check_workers(session, payload, key: str) -> None:
    """Unpickle the broadcast explainer on the workers (one task per default slot); raise if any cannot.

    Each worker that loads it keeps it under ``key`` for the explanation's tasks
    (:func:`~skig._distributed._partition.loaded_explainer`).

    Parameters
    ----------
    session : pyspark.sql.SparkSession
        The session that will run the job.
    payload : pyspark.Broadcast
        The pickled explainer, as the job's tasks read it.
    key : str
        The pickled explainer's fingerprint.

    Raises
    ------
    RuntimeError
        Naming the error a worker met (e.g. ``No module named 'skig'``), the worker's and the driver's Python, and
        how to give the workers skig and the model's modules.
    """
    slots = max(1, session.sparkContext.defaultParallelism)
    probe = session.range(0, slots, 1, slots).mapInPandas(_probe(payload, key), _PROBE_SCHEMA)
    results = [tuple(row) for row in probe.collect()]
    failures = [result for result in results if result[0] is not None]
    if not failures:
        return
    error, executable, version = failures[0]
    driver = f"{sys.executable} (Python {sys.version.split()[0]})"
    raise RuntimeError(
        f"Spark's Python workers cannot load the explainer: {error}. Workers run {executable} (Python {version}); "
        f"the driver runs {driver}. Each worker must import skig and every module the model's classes come from: "
        "point them at the driver's environment with PYSPARK_PYTHON (or spark.pyspark.python) where it exists on "
        "every machine, install skig and the model's package on the workers, or ship the modules with "
        "spark.submit.pyFiles / SparkContext.addPyFile (see docs/scaling.md, 'Workers')."
    )

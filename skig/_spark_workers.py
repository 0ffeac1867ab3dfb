"""Before a Spark job: do the Python workers load the explainer? A clear error naming what they lack if not.

Spark's own failure, "No module named 'skig'" deep in a Py4J stack trace of the first action, says neither which
Python the workers run nor how to give them skig and the model's modules.
"""

from __future__ import annotations

import sys

# The probe runs on the workers, where skig may be missing: it is compiled from this text into a module of its own
# name, which cloudpickle ships by value (a function of an importable module, such as skig's, goes by reference).
_PROBE = """
def probe(payload):
    def run(_):
        import sys
        try:
            from pyspark import cloudpickle

            cloudpickle.loads(payload.value)
            yield None, sys.executable, sys.version.split()[0]
        except Exception as error:
            yield f"{type(error).__name__}: {error}", sys.executable, sys.version.split()[0]
    return run
"""


def _probe(payload):
    namespace = {"__name__": "_skig_worker_probe"}
    exec(compile(_PROBE, "<skig worker probe>", "exec"), namespace)
    return namespace["probe"](payload)


def check_workers(session, payload) -> None:
    """Unpickle the broadcast explainer on the workers (one task per default slot); raise if any cannot.

    Parameters
    ----------
    session : pyspark.sql.SparkSession
        The session that will run the job.
    payload : pyspark.Broadcast
        The pickled explainer, as the job's tasks read it.

    Raises
    ------
    RuntimeError
        Naming the error a worker met (e.g. ``No module named 'skig'``), the worker's and the driver's Python, and
        how to give the workers skig and the model's modules.
    """
    context = session.sparkContext
    slots = max(1, context.defaultParallelism)
    results = context.parallelize(range(slots), slots).mapPartitions(_probe(payload)).collect()
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

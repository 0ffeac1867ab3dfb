"""Session-wide engines for the distributed tests: a local[2,2] SparkSession and a 2-process Dask LocalCluster.

A missing engine (pyspark, Java, dask) skips its tests on a developer's machine; under CI (``CI=true``) it fails
them, so that CI never passes without running them.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


def unavailable(reason: str):
    """Skip, or fail under CI: the distributed tests must run there."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the distributed tests must run, not skip)", pytrace=False)
    pytest.skip(reason)


def require(module: str, extra: str):
    try:
        return __import__(module)
    except ImportError:
        unavailable(f"{module} is not installed: pip install 'skig[{extra}]'")


def java_version() -> str | None:
    """The first line of ``java -version``, or None when there is no Java."""
    java = shutil.which(
        "java", path=os.path.join(os.environ["JAVA_HOME"], "bin") if "JAVA_HOME" in os.environ else None
    )
    if java is None:
        return None
    result = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    return (result.stderr or result.stdout).splitlines()[0] if result.returncode == 0 else None


@pytest.fixture(scope="session")
def spark():
    """A local Spark session with 2 cores where a failed task is retried once (``local[2,2]``)."""
    require("pyspark", "spark")
    if java_version() is None:
        unavailable("Spark needs Java 17 or later, and no java was found (install a JDK or set JAVA_HOME)")
    # Python workers run this interpreter and find skig and the test helpers.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE), os.environ.get("PYTHONPATH", "")])
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2,2]")
        .appName("skig-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("FATAL")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def dask_client():
    """A Dask client on a LocalCluster of 2 worker processes with 1 thread each; not the default client."""
    require("dask", "dask")
    require("distributed", "dask")
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.CRITICAL
    )
    client = Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


@pytest.fixture
def in_cluster(dask_client):
    """The cluster's client as the current one for the test (explain scatters to it, compute runs on it)."""
    with dask_client.as_current():
        yield dask_client


# ------------------------------------------------------------------------------------------- data and explainers
N_ROWS = 84  # 7 partitions of 12 rows


@pytest.fixture(scope="session")
def portfolio():
    from distributed_helpers import make_frame

    return make_frame(N_ROWS)


@pytest.fixture(scope="session")
def pipeline(portfolio):
    from distributed_helpers import make_pipeline

    return make_pipeline(portfolio)


@pytest.fixture(scope="session")
def explainers(pipeline, portfolio):
    """A fitted explainer for every method: of the tanh pipeline, and of the float32 ReLU pipeline (exact IG)."""
    from distributed_helpers import EXACT_METHODS, FEATURES, METHODS, make_relu_pipeline

    import skig

    X = portfolio[FEATURES]
    explainers = {name: skig.Explainer(pipeline, **params).fit(X) for name, params in METHODS.items()}
    relu = make_relu_pipeline(portfolio)
    for name, params in EXACT_METHODS.items():
        explainers[name] = skig.Explainer(relu, **params).fit(X)
        assert explainers[name].rule_ == "exact"
    return explainers


@pytest.fixture(scope="session")
def single_machine(explainers, portfolio):
    """What ``explain`` gives on one machine, rows keyed by account id: the numbers every engine must match."""
    from distributed_helpers import FEATURES

    rows = portfolio.set_index("account_id")[FEATURES]
    return {name: explainer.explain(rows) for name, explainer in explainers.items()}

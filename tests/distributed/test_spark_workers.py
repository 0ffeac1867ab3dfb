"""skig.spark checks that Spark's Python workers load the explainer, and says what to set when they cannot."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

MODULE = "driver_only_scorer"


@pytest.fixture
def driver_only_model(tmp_path, monkeypatch):
    """A model whose class lives in a module that only the driver can import (its folder is on the driver's
    sys.path, not on the workers' PYTHONPATH): what a user's own model module is when nothing ships it.
    """
    (tmp_path / f"{MODULE}.py").write_text(
        "from sklearn.linear_model import LogisticRegression\n\n\nclass Scorer(LogisticRegression):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__(MODULE)
    yield module.Scorer
    sys.modules.pop(MODULE, None)


def test_workers_that_cannot_load_the_model_are_named_before_the_job(spark, driver_only_model):
    import skig.spark

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["income", "debt", "age"])
    y = (X["income"] - X["debt"] > 0).astype(int)
    explainer = skig.Explainer(driver_only_model().fit(X, y)).fit(X)
    sdf = spark.createDataFrame(X.assign(account_id=np.arange(60)))
    with pytest.raises(RuntimeError, match=rf"No module named '{MODULE}'.*PYSPARK_PYTHON.*addPyFile") as error:
        skig.spark.explain(explainer, sdf, key="account_id")
    assert f"Workers run {sys.executable}" in str(error.value)  # the tests' workers run the driver's Python


def test_workers_that_load_the_model_explain_as_before(spark):
    from sklearn.linear_model import LogisticRegression

    import skig.spark

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(40, 2)), columns=["income", "debt"])
    explainer = skig.Explainer(LogisticRegression().fit(X, X["income"] > 0)).fit(X)
    out = skig.spark.explain(explainer, spark.createDataFrame(X.assign(account_id=np.arange(40))), key="account_id")
    local = explainer.explain(X)
    got = out.toPandas().sort_values("account_id")
    np.testing.assert_allclose(got[["income", "debt"]].to_numpy(), local.values.to_numpy(), rtol=0, atol=1e-12)


def test_the_check_runs_once_per_application_and_explainer(spark, monkeypatch):
    """A second call with the same explainer skips the check's job; another explainer (other bytes) is checked."""
    from sklearn.linear_model import LogisticRegression

    import skig.spark

    checks = []
    check = skig.spark.check_workers
    monkeypatch.setattr(skig.spark, "check_workers", lambda *args: checks.append(args[2]) or check(*args))
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(40, 3)), columns=["income", "debt", "age"])
    y = (X["income"] + X["age"] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    sdf = spark.createDataFrame(X.assign(account_id=np.arange(40)))
    first = skig.Explainer(model, n_steps=11).fit(X)
    one = skig.spark.explain(first, sdf, key="account_id").toPandas()
    two = skig.spark.explain(first, sdf, key="account_id").toPandas()
    pd.testing.assert_frame_equal(one, two)
    assert len(checks) == 1
    skig.spark.explain(skig.Explainer(model, n_steps=13).fit(X), sdf, key="account_id")
    assert len(checks) == 2 and checks[0] != checks[1]

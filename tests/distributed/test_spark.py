"""skig.spark: the same numbers as one machine on any partitioning, a failed task loses nothing, Spark types kept."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from checks import assert_same_numbers
from distributed_helpers import (
    EXACT_METHODS,
    FEATURES,
    METHODS,
    FailOnceExplainer,
    LoadRecordingExplainer,
    recorded_events,
)

import skig


@pytest.fixture(scope="module")
def skig_spark(spark):
    import skig.spark

    return skig.spark


@pytest.fixture(scope="module")
def accounts(spark, portfolio):
    """The portfolio as a cached Spark DataFrame of 7 partitions (its pandas index is not a Spark column)."""
    sdf = spark.createDataFrame(portfolio.reset_index(drop=True)).repartition(7).cache()
    assert sdf.count() == len(portfolio)
    yield sdf
    sdf.unpersist()


@pytest.fixture(scope="module")
def partitioned_runs(skig_spark, accounts, explainers):
    """Every method on 1 and on 7 partitions, collected in one Spark job."""
    from pyspark.sql import functions as F

    outputs = []
    for name, explainer in explainers.items():
        for n in (1, 7):
            sdf = accounts.coalesce(n)
            assert sdf.rdd.getNumPartitions() == n
            out = skig_spark.explain(explainer, sdf, key="account_id")
            outputs.append(out.withColumn("run", F.lit(f"{name}/{n}")))
    union = outputs[0]
    for out in outputs[1:]:
        union = union.unionByName(out)
    collected = union.toPandas()
    return {tuple(run.split("/")): part.drop(columns="run") for run, part in collected.groupby("run")}


@pytest.mark.parametrize("method", [*METHODS, *EXACT_METHODS])
@pytest.mark.parametrize("n_partitions", ["1", "7"])
def test_same_numbers_whatever_the_partitioning(partitioned_runs, single_machine, method, n_partitions):
    assert_same_numbers(partitioned_runs[method, n_partitions], single_machine[method])


def test_schema_keeps_key_types_and_odd_names(spark, skig_spark, explainers, portfolio):
    from pyspark.sql import types as T

    frame = portfolio.reset_index(drop=True).assign(account_id=lambda f: f["account_id"].astype(np.int32))
    sdf = spark.createDataFrame(frame).withColumn(
        "month", __import__("pyspark.sql.functions").sql.functions.to_date("month")
    )
    out = skig_spark.explain(explainers["ig"], sdf, key=["account_id", "month"], keep="segment", batch_rows=10)
    assert out.columns == ["account_id", "month", "segment", *FEATURES, "prediction", "base_value", "delta", "n_steps"]
    types = {field.name: field.dataType for field in out.schema.fields}
    assert types["account_id"] == T.IntegerType() and types["month"] == T.DateType()
    assert all(types[name] == T.DoubleType() for name in FEATURES) and types["n_steps"] == T.LongType()
    assert spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch") == "10"
    collected = out.toPandas()
    assert_same_numbers(
        collected.drop(columns="month"), explainers["ig"].explain(frame.set_index("account_id")[FEATURES])
    )
    assert collected["account_id"].dtype == np.int32


def test_reason_columns_are_skig_reason_codes(skig_spark, accounts, explainers, portfolio):
    reasons = {name: f"Reason: {name}" for name in FEATURES}
    out = skig_spark.explain(explainers["ig"], accounts, key="account_id", reasons=reasons, n_reasons=2)
    collected = out.toPandas().set_index("account_id")
    local = explainers["ig"].explain(portfolio.set_index("account_id")[FEATURES])
    codes = skig.reason_codes(local, n=2, reasons=reasons)
    for rank in (1, 2):
        mine = codes[codes["rank"] == rank].set_index("row")
        assert list(collected.loc[mine.index, f"reason_{rank}_feature"]) == list(mine["feature"])
        assert list(collected.loc[mine.index, f"reason_{rank}"]) == list(mine["reason"])
        np.testing.assert_array_equal(collected.loc[mine.index, f"reason_{rank}_contribution"], mine["contribution"])
        assert collected[f"reason_{rank}_feature"].isna().sum() == len(portfolio) - len(mine)


def test_stochastic_methods_need_a_key(skig_spark, accounts, explainers):
    with pytest.raises(ValueError, match="pass key="):
        skig_spark.explain(explainers["smoothgrad"], accounts)
    with pytest.raises(ValueError, match="missing columns"):
        skig_spark.explain(explainers["ig"], accounts.drop("age"), key="account_id")
    with pytest.raises(ValueError, match="prefix='attribution_'"):
        skig_spark.explain(explainers["ig"], accounts, key="account_id", keep="age")


def test_summarize_matches_the_local_explanation(skig_spark, accounts, explainers, portfolio):
    explainer = explainers["ig"]
    explained = skig_spark.explain(explainer, accounts, key="account_id", keep="segment")
    summary = skig_spark.summarize(explainer, explained, by="segment")
    local = explainer.explain(portfolio[FEATURES])
    pd.testing.assert_series_equal(summary.importance, local.importance(), check_names=False, rtol=1e-12)
    by_group = local.values.groupby(portfolio["segment"].to_numpy()).mean().T
    pd.testing.assert_frame_equal(
        summary.group_mean.loc[by_group.index, by_group.columns],
        by_group,
        check_names=False,
        check_column_type=False,
        rtol=1e-12,
    )
    assert summary.rows == len(portfolio)


def test_a_failed_task_is_retried_and_loses_nothing(
    skig_spark, accounts, pipeline, portfolio, tmp_path, single_machine
):
    """The batch holding a marker row raises once (local[2,2] retries a task once): every row exactly once."""
    explainer = FailOnceExplainer(pipeline, **METHODS["ig"]).fit(portfolio[FEATURES])
    explainer.marker_file_ = str(tmp_path / "failed")
    explainer.marker_row_ = int(portfolio["account_id"].iloc[40])
    result = skig_spark.explain(explainer, accounts, key="account_id").toPandas()
    assert (tmp_path / "failed").exists(), "the injected failure did not happen"
    assert_same_numbers(result, single_machine["ig"])


def test_each_worker_unpickles_the_explainer_once(skig_spark, accounts, pipeline, portfolio, tmp_path):
    """The worker check loads the explainer on the Python workers the explanation's tasks then run on, and every
    later task of a worker reuses it: before, the check ran on workers of its own and each job loaded it again."""
    explainer = LoadRecordingExplainer(pipeline, **METHODS["ig"]).fit(portfolio[FEATURES])
    explainer.record_dir_ = str(tmp_path)
    assert len(skig_spark.explain(explainer, accounts, key="account_id").toPandas()) == len(portfolio)  # 7 batches
    events = recorded_events(tmp_path)
    loads = [pid for kind, pid in events if kind == "load" and pid != os.getpid()]  # the driver's copy aside
    explained = {pid for kind, pid in events if kind == "explain"}
    assert len(loads) == len(set(loads)), "a worker unpickled the explainer more than once"
    assert set(loads) == explained, "the explainer was unpickled in processes that did not explain"

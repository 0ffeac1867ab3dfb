"""Spark and Dask summaries: what drift and the pair tables need, equal to the collected explanation's, whatever the
partitioning.

The oracle is the same rows explained in this process: :meth:`Summary.of_explanation` (summed here with numpy) and
``Explanation.interaction_importance()``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from distributed_helpers import FEATURES

import skig
from skig._distributed import Summary

REASONS = {"n_reasons": 2, "direction": "increase", "min_contribution": 0.001}


@pytest.fixture(scope="module")
def local(explainers, portfolio):
    """Each month of the portfolio explained here (rows keyed by account id), with interactions."""
    rows = portfolio.set_index("account_id")
    return {month: explainers["ig"].explain(part[FEATURES], interactions=True) for month, part in rows.groupby("month")}


def assert_same_summary(summary, oracle):
    """Counts exactly, sums to float rounding."""
    assert summary.rows == oracle.rows
    pd.testing.assert_series_equal(summary.importance, oracle.importance, rtol=1e-12)
    pd.testing.assert_series_equal(summary.abs_variance, oracle.abs_variance, rtol=1e-10)
    pd.testing.assert_frame_equal(summary.histogram, oracle.histogram)
    pd.testing.assert_series_equal(summary.reason_counts, oracle.reason_counts)
    assert summary.reasons == oracle.reasons


def assert_drift_from_summaries(summaries, local):
    """drift of the engine's summaries equals drift of the in-process summaries of the collected rows."""
    table = skig.drift(summaries["2024-05"], summaries["2024-06"])
    oracle = skig.drift(*(Summary.of_explanation(local[month], **REASONS) for month in ("2024-05", "2024-06")))
    pd.testing.assert_frame_equal(table, oracle, rtol=1e-10)
    assert table[["change low", "change high", "PSI", "reason share (current)"]].notna().all().all()
    # the reason shares are the collected rows' own, counted as reason_codes lists them
    codes = skig.reason_codes(local["2024-06"], n=2, min_contribution=0.001)
    shares = codes.groupby("feature").size().reindex(FEATURES, fill_value=0) / len(local["2024-06"])
    np.testing.assert_allclose(table["reason share (current)"], shares.loc[table.index])


def assert_pairs(summary, exp, groups):
    """Pair tables equal to the collected explanation's (overall, by group, signed mean)."""
    pd.testing.assert_series_equal(summary.interaction_importance, exp.interaction_importance(), rtol=1e-10)
    matrices = exp.interactions.to_numpy().reshape(len(exp), len(FEATURES), len(FEATURES))
    np.testing.assert_allclose(summary.mean_interaction.to_numpy(), matrices.mean(0), rtol=1e-10, atol=1e-15)
    for group in summary.group_interaction_importance.columns:
        mine = exp._take(np.flatnonzero(groups.to_numpy() == group))
        np.testing.assert_allclose(
            summary.group_interaction_importance[group],
            mine.interaction_importance().loc[summary.group_interaction_importance.index],
            rtol=1e-10,
        )
    assert summary.interaction_completeness["max row error"] < 1e-6
    assert summary.rows == len(exp)


# ------------------------------------------------------------------------------------------------------- Spark
@pytest.fixture(scope="module")
def spark_accounts(spark, portfolio):
    sdf = spark.createDataFrame(portfolio.reset_index(drop=True)).repartition(7).cache()
    assert sdf.count() == len(portfolio)
    yield sdf
    sdf.unpersist()


def test_spark_summaries_give_drift_and_do_not_depend_on_partitions(spark_accounts, explainers, local):
    import skig.spark

    explainer = explainers["ig"]
    explained = skig.spark.explain(explainer, spark_accounts, key="account_id", keep="month").cache()
    months = {month: explained.filter(explained["month"] == month) for month in ("2024-05", "2024-06")}
    summaries = {month: skig.spark.summarize(explainer, period, **REASONS) for month, period in months.items()}
    for month in ("2024-05", "2024-06"):
        assert_same_summary(summaries[month], Summary.of_explanation(local[month], **REASONS))
    assert_same_summary(skig.spark.summarize(explainer, months["2024-05"].coalesce(1), **REASONS), summaries["2024-05"])
    assert_drift_from_summaries(summaries, local)
    explained.unpersist()


def test_spark_pair_summaries(spark_accounts, explainers, portfolio):
    import skig.spark

    explainer = explainers["ig"]
    rows = portfolio.set_index("account_id")
    exp = explainer.explain(rows[FEATURES], interactions=True)
    one, seven = (
        skig.spark.summarize(
            explainer, spark_accounts.coalesce(n), by="segment", interactions=True, key="account_id", batch_rows=5
        )
        for n in (1, 7)
    )
    for summary in (one, seven):
        assert_pairs(summary, exp, rows["segment"])
    pd.testing.assert_frame_equal(one.histogram, seven.histogram)
    pd.testing.assert_series_equal(one.interaction_importance, seven.interaction_importance, rtol=1e-12)
    # the attribution figures come from the same pass
    pd.testing.assert_series_equal(seven.importance, exp.importance(), rtol=1e-12, check_names=False)


def test_spark_pair_summaries_refuse_methods_without_interactions(spark_accounts, explainers):
    import skig.spark

    with pytest.raises(ValueError, match="interactions=True needs method="):
        skig.spark.summarize(explainers["guided"], spark_accounts, interactions=True, key="account_id")


# -------------------------------------------------------------------------------------------------------- Dask
def test_dask_summaries_give_drift_and_do_not_depend_on_partitions(in_cluster, portfolio, explainers, local):
    import dask.dataframe as dd

    import skig.dask

    explainer = explainers["ig"]
    frame = portfolio.set_index("account_id")

    def summary(month, n):
        data = dd.from_pandas(frame[frame["month"] == month], npartitions=n)
        return skig.dask.summarize(explainer, skig.dask.explain(explainer, data), **REASONS)

    summaries = {month: summary(month, 7) for month in ("2024-05", "2024-06")}
    for month in ("2024-05", "2024-06"):
        assert_same_summary(summaries[month], Summary.of_explanation(local[month], **REASONS))
    assert_same_summary(summary("2024-05", 1), summaries["2024-05"])
    assert_drift_from_summaries(summaries, local)


def test_dask_pair_summaries(in_cluster, portfolio, explainers):
    import dask.dataframe as dd

    import skig.dask

    explainer = explainers["ig"]
    rows = portfolio.set_index("account_id")
    exp = explainer.explain(rows[FEATURES], interactions=True)
    one, seven = (
        skig.dask.summarize(explainer, dd.from_pandas(rows, npartitions=n), by="segment", interactions=True)
        for n in (1, 7)
    )
    for summary in (one, seven):
        assert_pairs(summary, exp, rows["segment"])
    pd.testing.assert_series_equal(one.interaction_importance, seven.interaction_importance, rtol=1e-12)
    pd.testing.assert_series_equal(one.reason_counts, seven.reason_counts)

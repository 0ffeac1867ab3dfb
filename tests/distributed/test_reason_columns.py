"""min_contribution reaches the reason columns of skig.spark.explain and skig.dask.explain: the same rows and texts
as skig.reason_codes(..., min_contribution=) on the collected explanation."""

from __future__ import annotations

import numpy as np
import pytest
from distributed_helpers import FEATURES

import skig

REASONS = {name: f"Reason: {name}" for name in FEATURES}


@pytest.fixture(scope="module")
def expected(explainers, portfolio):
    """The in-process reason codes, at a threshold that drops about half of the adverse contributions."""
    local = explainers["ig"].explain(portfolio.set_index("account_id")[FEATURES])
    values = local.values.to_numpy()
    threshold = float(np.median(values[values > 0]))
    codes = skig.reason_codes(local, n=3, reasons=REASONS, min_contribution=threshold)
    assert 0 < len(codes) < len(skig.reason_codes(local, n=3, reasons=REASONS))  # the threshold drops some
    assert codes.groupby("row").size().lt(3).any()  # some rows get fewer than n
    return threshold, codes


def assert_reason_columns(collected, codes, n_rows):
    for rank in (1, 2, 3):
        mine = codes[codes["rank"] == rank].set_index("row")
        assert list(collected.loc[mine.index, f"reason_{rank}_feature"]) == list(mine["feature"])
        assert list(collected.loc[mine.index, f"reason_{rank}"]) == list(mine["reason"])
        np.testing.assert_array_equal(collected.loc[mine.index, f"reason_{rank}_contribution"], mine["contribution"])
        assert collected[f"reason_{rank}_feature"].notna().sum() == len(mine)
        assert collected[f"reason_{rank}_contribution"].isna().sum() == n_rows - len(mine)


def test_spark_reason_columns_take_min_contribution(spark, explainers, portfolio, expected):
    import skig.spark

    threshold, codes = expected
    sdf = spark.createDataFrame(portfolio.reset_index(drop=True)).repartition(3)
    out = skig.spark.explain(
        explainers["ig"], sdf, key="account_id", reasons=REASONS, n_reasons=3, min_contribution=threshold
    )
    assert_reason_columns(out.toPandas().set_index("account_id"), codes, len(portfolio))
    with pytest.raises(ValueError, match="min_contribution must be a number >= 0"):
        skig.spark.explain(explainers["ig"], sdf, key="account_id", reasons=REASONS, min_contribution=-1)


def test_dask_reason_columns_take_min_contribution(in_cluster, explainers, portfolio, expected):
    import dask.dataframe as dd

    import skig.dask

    threshold, codes = expected
    data = dd.from_pandas(portfolio.set_index("account_id"), npartitions=3)
    out = skig.dask.explain(explainers["ig"], data, reasons=REASONS, n_reasons=3, min_contribution=threshold)
    assert_reason_columns(out.compute(), codes, len(portfolio))

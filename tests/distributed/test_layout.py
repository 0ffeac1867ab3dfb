"""The flat output frame, batch sizes and summaries, on pandas alone: no engine needed."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from checks import as_flat
from distributed_helpers import FEATURES, make_torch_mlp

import skig
from skig._distributed._parquet import hive_partition_columns
from skig._distributed._partition import explain_frame
from skig._distributed._schema import OutputLayout
from skig._distributed._sizing import MAX_BATCH_ROWS, MIN_BATCH_ROWS, batch_rows, points_per_row
from skig._distributed._summary import Summary, combine_partials, explained_partials, reason_settings


def test_import_skig_imports_no_engine():
    engines = "('pyspark', 'dask', 'distributed')"
    code = f"import sys, skig, skig._distributed; print(sorted(m for m in sys.modules if m.split('.')[0] in {engines}))"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )


def test_explain_frame_is_explain_whatever_the_slices(explainers, portfolio):
    explainer = explainers["ig"]
    layout = OutputLayout.build(explainer, portfolio.columns, key="account_id", keep="segment")
    whole = explain_frame(explainer, portfolio, layout, batch_rows=len(portfolio))
    sliced = explain_frame(explainer, portfolio, layout, batch_rows=5)
    pd.testing.assert_frame_equal(whole, sliced, check_exact=True)
    assert list(whole.columns) == ["account_id", "segment", *FEATURES, "prediction", "base_value", "delta", "n_steps"]
    pd.testing.assert_index_equal(whole.index, portfolio.index)
    assert whole["account_id"].dtype == np.int64
    local = as_flat(explainer.explain(portfolio.set_index("account_id")[FEATURES]))
    pd.testing.assert_frame_equal(whole.set_index("account_id")[local.columns], local, check_exact=True)


def test_empty_batch_and_missing_keys(explainers, portfolio):
    layout = OutputLayout.build(explainers["ig"], portfolio.columns, key="account_id")
    empty = explain_frame(explainers["ig"], portfolio.iloc[:0], layout, batch_rows=10)
    assert len(empty) == 0 and list(empty.columns) == layout.columns
    assert dict(empty.dtypes.astype(str))["n_steps"] == "int64"
    with_gap = portfolio.astype({"account_id": "Int64"})
    with_gap.loc[with_gap.index[3], "account_id"] = pd.NA
    with pytest.raises(ValueError, match="missing values"):
        explain_frame(explainers["ig"], with_gap, layout, batch_rows=10)


def test_layout_refuses_bad_columns(explainers, portfolio):
    explainer = explainers["ig"]
    with pytest.raises(ValueError, match=r"missing columns \['nope'\]"):
        OutputLayout.build(explainer, portfolio.columns, key="nope")
    with pytest.raises(ValueError, match="would appear twice"):
        OutputLayout.build(explainer, portfolio.columns, keep="age")
    layout = OutputLayout.build(explainer, portfolio.columns, keep="age", prefix="attribution_")
    assert "attribution_age" in layout.columns and "age" in layout.columns
    with pytest.raises(ValueError, match="n_reasons"):
        OutputLayout.build(explainer, portfolio.columns, reasons={}, n_reasons=0)
    with pytest.raises(TypeError, match="reasons"):
        OutputLayout.build(explainer, portfolio.columns, reasons=["age"])


def test_unnamed_columns_are_the_other_columns(portfolio):
    X = np.log(portfolio[["income (USD)"]].to_numpy())
    numeric = np.column_stack([X, portfolio[["debt.ratio", "age"]].to_numpy()])
    explainer = skig.Explainer(make_torch_mlp(3), n_steps=8).fit(numeric)
    frame = pd.DataFrame(numeric, columns=["x0", "x1", "x2"]).assign(id=np.arange(len(numeric)))
    layout = OutputLayout.build(explainer, frame.columns, key="id")
    assert layout.features == ("x0", "x1", "x2")
    out = explain_frame(explainer, frame, layout, batch_rows=7)
    np.testing.assert_array_equal(out[["x0", "x1", "x2"]], explainer.explain(numeric).values)


def test_batch_rows_follow_the_memory_bound(explainers):
    explainer = explainers["ig"]
    assert points_per_row(explainer) == 8
    assert points_per_row(explainers["smoothgrad"]) == 3 * 4
    assert points_per_row(explainers["expected"]) == 4
    assert points_per_row(explainers["guided"]) == 5
    assert MIN_BATCH_ROWS <= batch_rows(explainer) <= MAX_BATCH_ROWS


def test_totals_add_up_over_partitions(explainers, portfolio):
    explainer = explainers["ig"]
    layout = OutputLayout.build(explainer, portfolio.columns, key="account_id", keep="segment")
    explained = explain_frame(explainer, portfolio, layout, batch_rows=100)
    reasons = reason_settings()

    def summary(size):
        parts = [
            explained_partials(explained.iloc[lo : lo + size], layout.attributions, ["segment"], reasons)
            for lo in range(0, 84, size)
        ]
        return Summary.from_totals(combine_partials(pd.concat(parts), ["segment"]), FEATURES, ("segment",), reasons)

    tens, whole = summary(10), summary(84)
    local = explainer.explain(portfolio[FEATURES])
    pd.testing.assert_series_equal(tens.importance, local.importance(), check_names=False, rtol=1e-12)
    assert tens.rows == 84 and tens.group_rows.sum() == 84
    np.testing.assert_allclose(tens.completeness["mean |delta|"], local.delta.abs().mean(), rtol=1e-12)
    # counts add up exactly, sums up to float rounding
    pd.testing.assert_frame_equal(tens.histogram, whole.histogram)
    pd.testing.assert_series_equal(tens.reason_counts, whole.reason_counts)
    pd.testing.assert_series_equal(tens.abs_variance, whole.abs_variance, rtol=1e-12)


def test_hive_partition_columns(tmp_path):
    (tmp_path / "month=2024-05" / "region=eu").mkdir(parents=True)
    (tmp_path / "month=2024-05" / "region=eu" / "part-0.parquet").write_bytes(b"")
    assert hive_partition_columns(tmp_path) == ["month", "region"]
    assert hive_partition_columns(tmp_path / "month=2024-05" / "region=eu") == []

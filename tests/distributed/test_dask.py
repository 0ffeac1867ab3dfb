"""skig.dask: the same numbers as one machine on any partitioning, a killed worker loses nothing, dask-ml works."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pandas as pd
import pytest
from checks import as_flat, assert_same_numbers
from conftest import require
from distributed_helpers import EXACT_METHODS, FEATURES, METHODS, SlowExplainer

import skig


@pytest.fixture(scope="module")
def dd():
    require("dask", "dask")
    import dask.dataframe

    return dask.dataframe


@pytest.fixture(scope="module")
def skig_dask(dd):
    import skig.dask

    return skig.dask


@pytest.fixture(scope="module")
def partitioned_runs(dask_client, dd, skig_dask, explainers, portfolio):
    """Every method on 1 and on 7 partitions, computed together on the 2-process cluster."""
    import dask

    with dask_client.as_current():
        outputs = {
            (name, n): skig_dask.explain(
                explainer, dd.from_pandas(portfolio, npartitions=n, sort=False), key="account_id"
            )
            for name, explainer in explainers.items()
            for n in (1, 7)
        }
        assert {out.npartitions for (_, n), out in outputs.items()} == {1, 7}
        computed = dask.compute(*outputs.values())
    return dict(zip(outputs, computed, strict=True))


@pytest.mark.parametrize("method", [*METHODS, *EXACT_METHODS])
@pytest.mark.parametrize("n_partitions", [1, 7])
def test_same_numbers_whatever_the_partitioning(partitioned_runs, single_machine, method, n_partitions):
    assert_same_numbers(partitioned_runs[method, n_partitions], single_machine[method])


def test_output_columns_meta_and_index(in_cluster, dd, skig_dask, explainers, portfolio):
    ddf = dd.from_pandas(portfolio, npartitions=3, sort=False)
    reasons = {"age": "Age of applicant", "debt.ratio": "Debt too high"}
    with pytest.warns(UserWarning, match="no reason text"):
        out = skig_dask.explain(explainers["ig"], ddf, key=["account_id", "month"], keep="segment", reasons=reasons)
    computed = out.compute()
    expected_columns = ["account_id", "month", "segment", *FEATURES, "prediction", "base_value", "delta", "n_steps"]
    assert list(computed.columns[: len(expected_columns)]) == expected_columns
    # The meta Dask plans with is what partitions hold, and the index is the input's.
    pd.testing.assert_series_equal(out.dtypes, computed.dtypes)
    assert computed["account_id"].dtype == np.int64 and computed["n_steps"].dtype == np.int64
    pd.testing.assert_index_equal(computed.index, portfolio.index)
    # Reason columns are skig.reason_codes, row by row.
    local = explainers["ig"].explain(portfolio[FEATURES])
    with pytest.warns(UserWarning):
        codes = skig.reason_codes(local, n=4, reasons=reasons)
    first = codes[codes["rank"] == 1].set_index("row")
    assert list(computed.loc[first.index, "reason_1_feature"]) == list(first["feature"])
    assert list(computed.loc[first.index, "reason_1"]) == list(first["reason"])
    np.testing.assert_array_equal(computed.loc[first.index, "reason_1_contribution"], first["contribution"])
    assert computed["reason_4_feature"].isna().sum() == len(portfolio) - (codes["rank"] == 4).sum()


def test_threaded_scheduler_and_the_dask_index_as_key(dd, skig_dask, explainers, portfolio):
    """No client: threads share nothing (each its own copy) and the user's model keeps its state."""
    explainer = explainers["smoothgrad"]
    module = explainer.adapter_.module
    flags = [param.requires_grad for param in module.parameters()]
    ddf = dd.from_pandas(portfolio, npartitions=7, sort=False)
    out = skig_dask.explain(explainer, ddf).compute(scheduler="threads", num_workers=2)
    expected = as_flat(explainer.explain(portfolio[FEATURES]))
    pd.testing.assert_frame_equal(out[expected.columns], expected, check_exact=True)
    assert [param.requires_grad for param in module.parameters()] == flags


def test_dask_ml_parallel_post_fit(in_cluster, dd, explainers, portfolio):
    require("dask_ml", "dask")
    from dask_ml.wrappers import ParallelPostFit

    explainer = explainers["ig"]
    ddf = dd.from_pandas(portfolio[FEATURES], npartitions=4, sort=False)
    transformed = ParallelPostFit(estimator=explainer).transform(ddf).compute()
    np.testing.assert_array_equal(np.asarray(transformed), explainer.transform(portfolio[FEATURES]))


def test_summarize_matches_the_local_explanation(in_cluster, dd, skig_dask, explainers, portfolio):
    explainer = explainers["ig"]
    ddf = dd.from_pandas(portfolio, npartitions=7, sort=False)
    explained = skig_dask.explain(explainer, ddf, key="account_id", keep="segment")
    summary = skig_dask.summarize(explainer, explained, by="segment")
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
    assert summary.group_rows.to_dict() == portfolio["segment"].value_counts().to_dict()
    assert summary.completeness["max |delta|"] == local.delta.abs().max()


def test_empty_partitions(in_cluster, dd, skig_dask, explainers, portfolio):
    ddf = dd.from_pandas(portfolio, npartitions=4, sort=False)
    filtered = ddf[ddf["segment"] == "nowhere"]
    out = skig_dask.explain(explainers["ig"], filtered, key="account_id").compute()
    assert len(out) == 0 and list(out.columns)[0] == "account_id"


def test_a_killed_worker_loses_nothing(in_cluster, dd, skig_dask, pipeline, portfolio, tmp_path, single_machine):
    """A worker process killed by its pid mid-job: every row is explained exactly once, as in a clean run."""
    client = in_cluster
    explainer = SlowExplainer(pipeline, **METHODS["ig"]).fit(portfolio[FEATURES])
    explainer.started_dir_, explainer.delay_ = str(tmp_path), 0.4
    ddf = dd.from_pandas(portfolio, npartitions=12, sort=False)
    future = client.compute(skig_dask.explain(explainer, ddf, key="account_id"))
    deadline = time.monotonic() + 60
    while len(list(tmp_path.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    busy = [address for address, keys in client.processing().items() if keys]
    pids = client.run(os.getpid)
    os.kill(pids[busy[0]], signal.SIGKILL)
    result = future.result(timeout=120)
    assert not future.cancelled()
    assert_same_numbers(result, single_machine["ig"])
    assert len(list(tmp_path.iterdir())) > ddf.npartitions, "the killed worker's tasks ran again elsewhere"
    client.wait_for_workers(2, timeout=60)


def test_report_data_explains_a_sample_locally_and_summarizes_all(
    in_cluster, dd, explainers, portfolio, single_machine
):
    from skig._distributed import report_data

    ddf = dd.from_pandas(portfolio, npartitions=7, sort=False)
    data = report_data(explainers["ig"], ddf, sample_size=20, key="account_id", by="segment", random_state=0)
    assert len(data.sample) == 20 and list(data.sample.columns) == FEATURES
    expected = single_machine["ig"].values.loc[data.sample.index]
    pd.testing.assert_frame_equal(data.explanation.values, expected, check_exact=True)
    pd.testing.assert_index_equal(data.group.index, data.sample.index)
    assert data.summary.rows == len(portfolio)
    pd.testing.assert_series_equal(
        data.summary.importance, single_machine["ig"].importance(), check_names=False, rtol=1e-12
    )
    assert set(data.summary.group_mean.columns) == {"retail", "sme"}


def test_report_of_a_dask_frame_takes_importance_completeness_and_group_means_from_all_rows(
    in_cluster, dd, explainers, portfolio, single_machine, tmp_path
):
    import re

    import skig

    ddf = dd.from_pandas(portfolio, npartitions=7, sort=False)
    path = skig.report(
        explainers["ig"],
        ddf,
        tmp_path / "r.html",
        group=skig.reporting.Groups("segment", min_size=5),
        settings=skig.reporting.ReportSettings(sample_size=60, key="account_id"),
    )
    html = path.read_text(encoding="utf-8")
    assert f"{len(portfolio):,} (a sample of 60 explained here" in html
    assert "rows audited" in html and "Computed on all" in html
    # the importance table is the full data's: its order is the single-machine ranking over every row
    ranking = list(single_machine["ig"].importance().index)
    section = html[html.index('id="importance"') :]
    positions = [section.index(f">{name}<") for name in ranking]
    assert positions == sorted(positions)
    assert re.search(r"On the 60 rows explained here", html)

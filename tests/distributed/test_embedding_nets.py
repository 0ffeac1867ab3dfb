"""Embedding and multi-input nets on Spark and Dask: the numbers of one process, bit for bit.

The nets of tests/tabular (a ``forward(x_num, x_cat)`` module explained with ``inputs=``, rtdl's FT-Transformer, a
skorch net behind an OrdinalEncoder) look codes up in ``nn.Embedding`` tables; their categorical columns arrive as
strings, as a pandas Categorical (Dask keeps it; Spark has no categorical type and sends its strings) and as integer
codes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from checks import assert_same_numbers
from conftest import require
from embedding_nets import COLUMNS, FT_INPUTS, INPUTS, NumCat, make_ft_transformer, make_loans, make_skorch_pipeline

import skig

N_ROWS = 30


@pytest.fixture(scope="module")
def loans():
    return make_loans(N_ROWS)


@pytest.fixture(scope="module")
def embedding_explainers(loans):
    """Exact IG (ReLU), Gauss-Legendre (tanh), Expected IG, the skorch pipeline (exact) and the FT-Transformer."""
    X = loans[COLUMNS]
    explainers = {
        "inputs-exact": skig.Explainer(NumCat(), inputs=INPUTS, target=1, output="raw").fit(X),
        "inputs-tanh": skig.Explainer(NumCat(activation="tanh"), inputs=INPUTS, target=1, output="raw").fit(X),
        "inputs-expected": skig.Explainer(
            NumCat(activation="tanh"),
            inputs=INPUTS,
            target=1,
            output="raw",
            method="expected",
            baseline="sample",
            n_baselines=6,
            random_state=0,
        ).fit(X),
        "skorch-ordinal": skig.Explainer(make_skorch_pipeline(loans)).fit(X),
    }
    pytest.importorskip("rtdl_revisiting_models")
    # A fixed pass size: "auto" sizes passes from the memory free at the time, and on a machine others share that can
    # refuse to start (the numbers do not depend on the pass size).
    explainers["ft-transformer"] = skig.Explainer(
        make_ft_transformer(), inputs=FT_INPUTS, n_steps=8, batch_size=256
    ).fit(X)
    assert explainers["inputs-exact"].rule_ == "exact" and explainers["skorch-ordinal"].rule_ == "exact"
    return explainers


@pytest.fixture(scope="module")
def one_process(embedding_explainers, loans):
    rows = loans.set_index("account_id")[COLUMNS]
    return {name: explainer.explain(rows) for name, explainer in embedding_explainers.items()}


KINDS = ["inputs-exact", "inputs-tanh", "inputs-expected", "skorch-ordinal", "ft-transformer"]
#: On Spark, where a Categorical column arrives as strings, one of each model kind.
SPARK_KINDS = ["inputs-exact", "skorch-ordinal", "ft-transformer"]


@pytest.fixture(scope="module")
def dask_runs(dask_client, embedding_explainers, loans):
    require("dask", "dask")
    import dask
    import dask.dataframe as dd

    import skig.dask

    assert isinstance(loans["grade"].dtype, pd.CategoricalDtype)
    with dask_client.as_current():
        outputs = {
            (name, n): skig.dask.explain(explainer, dd.from_pandas(loans, npartitions=n, sort=False), key="account_id")
            for name, explainer in embedding_explainers.items()
            for n in (1, 5)
            if n == 5 or name == "inputs-exact"  # one partition: the trivial case, once
        }
        computed = dask.compute(*outputs.values())
    return dict(zip(outputs, computed, strict=True))


@pytest.mark.parametrize("kind, n_partitions", [("inputs-exact", 1), *((kind, 5) for kind in KINDS)])
def test_dask_gives_the_numbers_of_one_process(dask_runs, one_process, kind, n_partitions):
    assert_same_numbers(dask_runs[kind, n_partitions], one_process[kind])


@pytest.fixture(scope="module")
def spark_runs(spark, embedding_explainers, loans):
    from pyspark.sql import functions as F

    import skig.spark

    sdf = spark.createDataFrame(loans.reset_index(drop=True)).repartition(5).cache()
    # Spark has no categorical type: the Categorical column arrives as its strings.
    assert dict(sdf.dtypes)["grade"] == "string"
    outputs = []
    for name in SPARK_KINDS:  # 5 partitions (tests/distributed/test_spark.py has 1)
        out = skig.spark.explain(embedding_explainers[name], sdf, key="account_id")
        outputs.append(out.withColumn("run", F.lit(name)))
    union = outputs[0]
    for out in outputs[1:]:
        union = union.unionByName(out)
    collected = union.toPandas()
    sdf.unpersist()
    return {run: part.drop(columns="run") for run, part in collected.groupby("run")}


@pytest.mark.parametrize("kind", SPARK_KINDS)
def test_spark_gives_the_numbers_of_one_process(spark_runs, one_process, kind):
    assert_same_numbers(spark_runs[kind], one_process[kind])


def test_categories_as_strings_are_the_categorical_columns_numbers(embedding_explainers, loans):
    """What Spark sends (the Categorical column's strings) is explained as the Categorical itself."""
    rows = loans.set_index("account_id")[COLUMNS]
    as_strings = rows.assign(grade=rows["grade"].astype(str))
    for name in ("inputs-exact", "ft-transformer"):
        explainer = embedding_explainers[name]
        expected, got = explainer.explain(rows.iloc[:8]), explainer.explain(as_strings.iloc[:8])
        np.testing.assert_array_equal(got.values.to_numpy(), expected.values.to_numpy())

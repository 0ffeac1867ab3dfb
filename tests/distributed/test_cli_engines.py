"""``skig explain --engine spark|dask``: a partitioned Parquet directory in, one partitioned alike out."""

from __future__ import annotations

import joblib
import pytest
from checks import assert_same_numbers
from distributed_helpers import FEATURES

import skig
from skig.cli import main


@pytest.fixture(scope="module")
def parquet_portfolio(tmp_path_factory, portfolio, pipeline):
    """The portfolio as a Parquet directory partitioned by month, the model as joblib, the reference rows."""
    folder = tmp_path_factory.mktemp("cli")
    portfolio.drop(columns="segment").to_parquet(folder / "accounts", partition_cols=["month"], index=False)
    joblib.dump(pipeline, folder / "model.joblib")
    portfolio[FEATURES].to_parquet(folder / "reference.parquet")
    return folder


@pytest.mark.parametrize("engine", ["spark", "dask"])
def test_explain_a_partitioned_parquet_directory(request, engine, parquet_portfolio, portfolio, pipeline, capsys):
    request.getfixturevalue("spark" if engine == "spark" else "dask_client")
    import pandas as pd

    folder = parquet_portfolio
    out = folder / f"out-{engine}"
    args = ["explain", str(folder / "model.joblib"), str(folder / "accounts"), "-o", str(out), "--steps", "8"]
    args += ["--engine", engine, "--key", "account_id", "--reference", str(folder / "reference.parquet")]
    assert main(args) == 0
    assert f"explained {len(portfolio)} rows on {engine}" in capsys.readouterr().out
    assert sorted(path.name for path in out.iterdir() if path.is_dir()) == ["month=2024-05", "month=2024-06"]
    written = pd.read_parquet(out)
    expected = skig.Explainer(pipeline, n_steps=8, random_state=0).fit(portfolio[FEATURES])
    exp = expected.explain(portfolio.set_index("account_id")[FEATURES])
    assert_same_numbers(written.drop(columns="month"), exp, prefix="attribution_")
    months = written.set_index("account_id")["month"].astype(str)
    assert (months == portfolio.set_index("account_id").loc[months.index, "month"]).all()


def test_engine_errors_exit_2(parquet_portfolio, capsys):
    folder = parquet_portfolio
    args = ["explain", str(folder / "model.joblib"), str(folder / "accounts"), "-o", str(folder / "accounts")]
    assert main([*args, "--engine", "dask"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_dask_explains_a_multi_input_net_given_inputs(tmp_path, dask_client, capsys):
    """``--inputs`` reaches the explainer an engine builds: a ``forward(x_num, x_cat)`` net on Dask, as one process."""
    import json

    import pandas as pd
    from embedding_nets import COLUMNS, GRADES, HOMES, NUMERIC, NumCat, make_loans

    loans = make_loans(24).assign(grade=lambda f: f["grade"].astype(str), month=lambda f: f.index % 2)
    loans.to_parquet(tmp_path / "loans", partition_cols=["month"], index=False)
    net = NumCat(activation="tanh").eval()
    joblib.dump(net, tmp_path / "net.joblib")
    inputs = {"x_num": NUMERIC, "x_cat": {"home": HOMES, "grade": GRADES, "term": None}}
    out = tmp_path / "out"
    args = ["explain", str(tmp_path / "net.joblib"), str(tmp_path / "loans"), "-o", str(out), "--steps", "8"]
    args += ["--engine", "dask", "--key", "account_id", "--target", "1", "--output", "raw"]
    assert main([*args, "--inputs", json.dumps(inputs)]) == 0
    assert f"explained {len(loans)} rows on dask" in capsys.readouterr().out
    written = pd.read_parquet(out).drop(columns="month")
    rows = pd.read_parquet(tmp_path / "loans").drop(columns="month")  # the reference the CLI fits on: DATA itself
    explainer = skig.Explainer(net, inputs=inputs, n_steps=8, target=1, output="raw", random_state=0)
    exp = explainer.fit(rows[COLUMNS]).explain(loans.set_index("account_id")[COLUMNS])
    assert_same_numbers(written, exp, prefix="attribution_")

"""The skig command line: explain and report from files, exit code 2 on bad input."""

import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from skig.cli import main


@pytest.fixture
def files(tmp_path):
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["income", "debt", "age"])
    y = (X["income"] - X["debt"] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    joblib.dump(model, tmp_path / "model.joblib")
    X.to_csv(tmp_path / "data.csv", index=False)
    return tmp_path, model, X


def test_explain_writes_attributions_that_match_the_api(files):
    import skig

    path, model, X = files
    assert main(["explain", str(path / "model.joblib"), str(path / "data.csv"), "-o", str(path / "out.csv")]) == 0
    written = pd.read_csv(path / "out.csv", index_col=0)
    expected = skig.Explainer(model, n_steps=64, random_state=0).fit(X).explain(X)
    np.testing.assert_allclose(written[["attribution_income", "attribution_debt", "attribution_age"]], expected.values)
    np.testing.assert_allclose(written["prediction"], expected.predictions)
    assert {"base_value", "delta"} <= set(written.columns)


def test_explain_parquet_and_options(files):
    path, _, X = files
    X.to_parquet(path / "data.parquet")
    args = ["explain", str(path / "model.joblib"), str(path / "data.parquet"), "-o", str(path / "out.parquet")]
    assert main([*args, "--baseline", "zero", "--steps", "8", "--output", "probability", "--target", "0"]) == 0
    written = pd.read_parquet(path / "out.parquet")
    assert len(written) == len(X)
    assert written["prediction"].between(0, 1).all()


@pytest.mark.parametrize(
    "args, message",
    [
        (["{p}/missing.joblib", "{p}/data.csv"], "does not exist"),
        (["{p}/model.joblib", "{p}/missing.csv"], "does not exist"),
        (["{p}/data.csv", "{p}/data.csv"], "could not load a model"),
        (["{p}/model.joblib", "{p}/data.csv", "--output", "nope"], "output"),
        (["{p}/model.joblib", "{p}/data.csv", "--target", "7"], "target"),
        (["{p}/model.joblib", "{p}/data.txt"], ".csv or .parquet"),
    ],
)
def test_bad_input_exits_2_with_one_line(files, capsys, args, message):
    path, _, _ = files
    (path / "data.txt").write_text("x")
    code = main(["explain", *[a.format(p=path) for a in args], "-o", str(path / "out.csv")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1 and err.startswith("skig explain: error:")


def test_missing_column_is_named(files, capsys):
    path, _, X = files
    X.drop(columns="debt").to_csv(path / "short.csv", index=False)
    args = ["explain", str(path / "model.joblib"), str(path / "short.csv"), "--reference", str(path / "data.csv")]
    assert main([*args, "-o", str(path / "out.csv")]) == 2
    assert "debt" in capsys.readouterr().err


def test_help_warns_that_pickles_run_code():
    result = subprocess.run([sys.executable, "-m", "skig.cli", "explain", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "runs code" in result.stdout and "--baseline" in result.stdout


def test_report_writes_html_with_group_and_rows(files, tmp_path):
    path, _, X = files
    X.assign(band=np.where(X["age"] > 0, "older", "younger")).to_csv(path / "grouped.csv", index=False)
    # the group column is not a model input: the report audits with it, the explainer never sees it
    args = ["report", str(path / "model.joblib"), str(path / "grouped.csv"), "-o", str(path / "r.html")]
    assert main([*args, "--rows", "3", "7", "--steps", "8", "--group", "band"]) == 0
    html = (path / "r.html").read_text(encoding="utf-8")
    assert "Row 3" in html and "Row 7" in html and "Completeness audit" in html
    assert "Attributions by band" in html and "older" in html


def test_report_bad_rows_and_group_exit_2(files, capsys):
    path, _, _ = files
    args = ["report", str(path / "model.joblib"), str(path / "data.csv"), "-o", str(path / "r.html")]
    assert main([*args, "--rows", "999"]) == 2
    assert "999" in capsys.readouterr().err
    assert main([*args, "--group", "sex"]) == 2
    assert "sex" in capsys.readouterr().err

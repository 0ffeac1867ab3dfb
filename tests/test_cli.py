"""The skig command line: explain, report and adverse-action from files; exit code 2 and one line on bad input."""

import json
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import skig
from skig.cli import main

REASONS = {"income": "Income insufficient for amount requested", "debt": "Excessive obligations", "age": "Age"}


@pytest.fixture
def files(tmp_path):
    """A model, its data (application ids 1000..1059 shuffled, in an ``app_id`` column) and a reasons file."""
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["income", "debt", "age"])
    y = (X["income"] - X["debt"] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    joblib.dump(model, tmp_path / "model.joblib")
    X.to_csv(tmp_path / "data.csv", index=False)
    X.index = pd.Index(rng.permutation(np.arange(1000, 1060)), name="app_id")
    X.reset_index().to_csv(tmp_path / "ids.csv", index=False)
    (tmp_path / "reasons.json").write_text(json.dumps(REASONS), encoding="utf-8")
    return tmp_path, model, X


def _errors(err: str, command: str) -> list[str]:
    lines = err.splitlines()
    assert all(
        line.startswith(("skig: warning:", f"skig {command}: warning:", f"skig {command}: error:")) for line in lines
    ), err
    return [line for line in lines if line.startswith(f"skig {command}: error:")]


def test_explain_writes_attributions_that_match_the_api(files):
    path, model, _ = files
    X = pd.read_csv(path / "data.csv")
    assert main(["explain", str(path / "model.joblib"), str(path / "data.csv"), "-o", str(path / "out.csv")]) == 0
    written = pd.read_csv(path / "out.csv", index_col=0, float_precision="round_trip")  # exact before pandas 2.2
    expected = skig.Explainer(model, n_steps=64, random_state=0).fit(X).explain(X)
    np.testing.assert_allclose(written[["attribution_income", "attribution_debt", "attribution_age"]], expected.values)
    np.testing.assert_allclose(written["prediction"], expected.predictions)
    assert {"base_value", "delta"} <= set(written.columns)


def test_explain_parquet_options_and_auto_steps(files):
    path, model, _ = files
    X = pd.read_csv(path / "data.csv")
    X.to_parquet(path / "data.parquet")
    args = ["explain", str(path / "model.joblib"), str(path / "data.parquet"), "-o", str(path / "out.parquet")]
    assert main([*args, "--baseline", "zero", "--steps", "8", "--output", "probability", "--target", "0"]) == 0
    written = pd.read_parquet(path / "out.parquet")
    assert len(written) == len(X) and written["prediction"].between(0, 1).all()
    assert main([*args, "--steps", "auto", "--output", "probability"]) == 0
    expected = skig.Explainer(model, n_steps="auto", output="probability", random_state=0).fit(X).explain(X)
    np.testing.assert_allclose(pd.read_parquet(path / "out.parquet")["attribution_debt"], expected.values["debt"])


def test_pickle_warning_on_every_run(files, capsys):
    path, _, _ = files
    args = ["explain", str(path / "model.joblib"), str(path / "data.csv"), "-o", str(path / "out.csv")]
    for _ in range(2):
        assert main(args) == 0
        err = capsys.readouterr().err
        assert err.count("runs code") == 1 and "only load models you trust" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["{p}/missing.joblib", "{p}/data.csv", "-o", "{p}/out.csv"], "does not exist"),
        (["{p}/model.joblib", "{p}/missing.csv", "-o", "{p}/out.csv"], "does not exist"),
        (["{p}/data.csv", "{p}/data.csv", "-o", "{p}/out.csv"], "could not load a model"),
        (["{p}/model.joblib", "{p}/data.csv", "-o", "{p}/out.csv", "--output", "nope"], "output"),
        (["{p}/model.joblib", "{p}/data.csv", "-o", "{p}/out.csv", "--target", "7"], "target"),
        (["{p}/model.joblib", "{p}/data.txt", "-o", "{p}/out.csv"], ".csv or .parquet"),
        (["{p}/model.joblib", "{p}/data.csv", "-o", "{p}/no/such/dir/out.csv"], "does not exist; create"),
        (["{p}/model.joblib", "{p}/data.csv", "-o", "{p}"], "is a directory"),
        (["{p}/model.joblib", "{p}/data.csv", "-o", "{p}/out.xlsx"], "must end in .csv or .parquet"),
        (["{p}/model.joblib", "{p}/data.csv", "-o", "{p}/out.csv", "--steps", "100000"], "outside 1 to 1024"),
        (["{p}/model.joblib", "{p}/data.csv", "-o", "{p}/out.csv", "--steps", "0"], "outside 1 to 1024"),
        (["{p}/model.joblib", "{p}/data.csv", "-o", "{p}/out.csv", "--steps", "many"], "'many' is neither"),
        (["{p}/forest.joblib", "{p}/data.csv", "-o", "{p}/out.csv"], "RandomForestClassifier"),
        (["{p}/model.joblib", "{p}/data.csv", "-o", "{p}/out.csv", "--index-col", "id"], "'id' is not a column"),
    ],
)
def test_bad_input_exits_2_with_one_line(files, capsys, args, message):
    path, _, X = files
    (path / "data.txt").write_text("x")
    joblib.dump(RandomForestClassifier(n_estimators=2).fit(X, X["debt"] > 0), path / "forest.joblib")
    code = main(["explain", *[a.format(p=path) for a in args]])
    errors = _errors(capsys.readouterr().err, "explain")
    assert code == 2
    assert len(errors) == 1 and message in errors[0], errors
    assert not (path / "out.csv").exists()


def test_message_that_begins_with_a_newline_is_one_line(files, capsys, monkeypatch):
    path, _, _ = files

    def fails(self, X, **kwargs):
        raise ValueError("\n  the rows are not what the model expects\n  (column 3 is text)\n")

    monkeypatch.setattr(skig.Explainer, "explain", fails)
    assert main(["explain", str(path / "model.joblib"), str(path / "data.csv"), "-o", str(path / "out.csv")]) == 2
    errors = _errors(capsys.readouterr().err, "explain")
    assert errors == ["skig explain: error: the rows are not what the model expects (column 3 is text)"]


@pytest.mark.parametrize("error", [TypeError("a bug"), KeyError("a bug")])
def test_internal_errors_are_not_dressed_as_user_errors(files, monkeypatch, error):
    path, _, _ = files

    def fails(self, X, **kwargs):
        raise error

    monkeypatch.setattr(skig.Explainer, "explain", fails)
    with pytest.raises(type(error), match="a bug"):
        main(["explain", str(path / "model.joblib"), str(path / "data.csv"), "-o", str(path / "out.csv")])


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


def test_csv_values_that_start_a_formula_are_neutralised(files):
    path, _, _ = files
    X = pd.read_csv(path / "data.csv")
    ids = ['=HYPERLINK("http://x")', "+1+2", "-2+3", "@SUM(A1)", "-0.5", "\tTAB", "plain"]
    X.insert(0, "app_id", [*ids, *[f"id{i}" for i in range(len(X) - len(ids))]])
    X.to_csv(path / "evil.csv", index=False)
    reasons = {**REASONS, "debt": "=cmd|' /C calc'!A0", "income": "-Income too low"}
    (path / "evil.json").write_text(json.dumps(reasons), encoding="utf-8")
    args = [str(path / "model.joblib"), str(path / "evil.csv"), "--index-col", "app_id"]
    assert main(["explain", *args, "-o", str(path / "attributions.csv")]) == 0
    assert main(["adverse-action", *args, "--reasons", str(path / "evil.json"), "-o", str(path / "reasons.csv")]) == 0
    written = pd.read_csv(path / "attributions.csv", dtype=str, keep_default_na=False)
    assert written["app_id"].tolist()[:7] == [
        '\'=HYPERLINK("http://x")',
        "'+1+2",
        "'-2+3",
        "'@SUM(A1)",
        "-0.5",
        "'\tTAB",
        "plain",
    ]
    assert written["attribution_debt"].str.startswith("-").any()  # negative numbers stay numbers
    assert not written["attribution_debt"].str.startswith("'").any()
    notices = pd.read_csv(path / "reasons.csv", dtype=str, keep_default_na=False)
    texts = set(notices.filter(like="reason_").to_numpy().ravel()) - {""}
    assert texts <= {"'=cmd|' /C calc'!A0", "'-Income too low", "Age"} and "'=cmd|' /C calc'!A0" in texts
    # Parquet is not read by spreadsheets' formula engine: values stay exactly as they are
    assert main(["adverse-action", *args, "--reasons", str(path / "evil.json"), "-o", str(path / "r.parquet")]) == 0
    assert "=cmd|' /C calc'!A0" in set(pd.read_parquet(path / "r.parquet").filter(like="reason_").to_numpy().ravel())


def test_adverse_action_rows_are_the_applicants_with_their_reasons(files):
    path, model, X = files
    out = path / "notices.csv"
    args = [str(path / "model.joblib"), str(path / "ids.csv"), "--index-col", "app_id", "--output", "logit"]
    assert main(["adverse-action", *args, "--reasons", str(path / "reasons.json"), "-n", "2", "-o", str(out)]) == 0
    written = pd.read_csv(out, index_col="app_id")
    assert written.index.tolist() == X.index.tolist()
    # closed form: IG of a linear logit from the mean baseline is coef * (x - mean)
    oracle = (X - X.mean()) * model.coef_[0]
    for label in X.index[:20]:
        adverse = oracle.loc[label][oracle.loc[label] > 0].sort_values(ascending=False)
        expected = [REASONS[f] for f in adverse.index[:2]]
        assert [t for t in written.loc[label, ["reason_1", "reason_2"]] if isinstance(t, str)] == expected
        assert written.loc[label, "prediction"] == pytest.approx(model.decision_function(X.loc[[label]])[0], abs=1e-6)


def test_reasons_file_as_csv_and_unmapped_features_warned(files, capsys):
    path, _, _ = files
    pd.DataFrame({"feature": ["income", "debt"], "reason": [REASONS["income"], REASONS["debt"]]}).to_csv(
        path / "reasons.csv", index=False
    )
    args = ["adverse-action", str(path / "model.joblib"), str(path / "data.csv"), "-o", str(path / "n.csv")]
    assert main([*args, "--reasons", str(path / "reasons.csv")]) == 0
    err = capsys.readouterr().err
    assert "skig adverse-action: warning: no reason text for features ['age']" in err
    written = pd.read_csv(path / "n.csv", index_col=0)
    assert REASONS["debt"] in set(written["reason_1"])


@pytest.mark.parametrize(
    "content, name, message",
    [
        ('["a list"]', "r.json", "one JSON object"),
        ("{not json", "r.json", "not valid JSON"),
        ("a,b,c\n1,2,3\n", "r.csv", "two columns"),
        ("feature,reason\ndebt,High\ndebt,Low\n", "r.csv", "several texts for ['debt']"),
        ('{"debt": " "}', "r.json", "empty texts for ['debt']"),
        ("x", "r.txt", "must end in .csv or .json"),
    ],
)
def test_bad_reasons_file_exits_2(files, capsys, content, name, message):
    path, _, _ = files
    (path / name).write_text(content, encoding="utf-8")
    args = ["adverse-action", str(path / "model.joblib"), str(path / "data.csv"), "-o", str(path / "n.csv")]
    assert main([*args, "--reasons", str(path / name)]) == 2
    errors = _errors(capsys.readouterr().err, "adverse-action")
    assert len(errors) == 1 and message in errors[0]


def test_report_with_audit_group_reasons_rows_and_title(files):
    path, model, X = files
    rng = np.random.RandomState(1)
    X.assign(band=rng.choice(["older", "younger"], size=len(X))).reset_index().to_csv(path / "grouped.csv", index=False)
    # the group column is not a model input: the report audits with it, the explainer never sees it
    args = ["report", str(path / "model.joblib"), str(path / "grouped.csv"), "-o", str(path / "r.html")]
    labels = [str(X.index[3]), str(X.index[7])]
    options = ["--index-col", "app_id", "--rows", *labels, "--steps", "8", "--group", "band", "--output", "probability"]
    assert main([*args, *options, "--reasons", str(path / "reasons.json"), "--title", "Q3 review"]) == 0
    html = (path / "r.html").read_text(encoding="utf-8")
    assert "<title>Q3 review</title>" in html and "Attributions by band" in html and "95% interval" in html
    for label in X.index[[3, 7]]:
        probability = model.predict_proba(X.loc[[label]])[0, 1]
        assert f"Applicant {label}" in html and f"Prediction {100 * probability:.1f}%" in html
    assert "Principal reasons: up to 4" in html and "Excessive obligations" in html


def test_report_bad_rows_and_group_exit_2(files, capsys):
    path, _, _ = files
    args = ["report", str(path / "model.joblib"), str(path / "data.csv"), "-o", str(path / "r.html")]
    assert main([*args, "--rows", "999"]) == 2
    assert "999" in capsys.readouterr().err
    assert main([*args, "--group", "sex"]) == 2
    assert "sex" in capsys.readouterr().err
    assert main([*args[:-1], str(path / "r.pdf")]) == 2
    assert "must end in .html" in capsys.readouterr().err


@pytest.mark.parametrize(
    "baseline, message",
    [
        (
            "medain",
            "--baseline 'medain' is neither a baseline name (zero, mean, median, sample, kmeans) nor an existing",
        ),
        ("medain", "did you mean 'median'?"),
        ("Zeros", "did you mean 'zero'?"),
        ("{p}/rows.csv", "baseline file '{p}/rows.csv' does not exist"),
    ],
)
def test_misspelt_baseline_lists_the_names(files, capsys, baseline, message):
    path, _, _ = files
    args = ["explain", str(path / "model.joblib"), str(path / "data.csv"), "-o", str(path / "out.csv")]
    assert main([*args, "--baseline", baseline.format(p=path)]) == 2
    errors = _errors(capsys.readouterr().err, "explain")
    assert len(errors) == 1 and message.format(p=path) in errors[0], errors
    assert not (path / "out.csv").exists()


def test_baseline_file_is_read(files):
    path, model, _ = files
    X = pd.read_csv(path / "data.csv")
    X.median().to_frame().T.to_csv(path / "baseline.csv", index=False)
    args = ["explain", str(path / "model.joblib"), str(path / "data.csv"), "-o", str(path / "out.csv")]
    assert main([*args, "--baseline", str(path / "baseline.csv")]) == 0
    written = pd.read_csv(path / "out.csv", index_col=0, float_precision="round_trip")  # exact before pandas 2.2
    # closed form: a linear logit's IG from the median row is coef * (x - median)
    oracle = (X - X.median()) * model.coef_[0]
    np.testing.assert_allclose(written[[f"attribution_{c}" for c in X.columns]], oracle, atol=1e-8)


@pytest.mark.parametrize("command", ["explain", "adverse-action", "report"])
def test_unread_columns_warning_is_shown_once_on_one_line(files, capsys, command):
    path, _, X = files
    X.assign(note="free text").reset_index().to_csv(path / "extra.csv", index=False)
    out = path / ("r.html" if command == "report" else "out.csv")
    args = [command, str(path / "model.joblib"), str(path / "extra.csv"), "--index-col", "app_id", "-o", str(out)]
    if command == "adverse-action":
        args += ["--reasons", str(path / "reasons.json")]
    assert main([*args, "--steps", "4"]) == 0
    err = capsys.readouterr().err
    assert _errors(err, command) == []  # every line is skig's own: no file:line, no source line
    warned = [line for line in err.splitlines() if "does not read" in line]
    assert warned == [
        f"skig {command}: warning: X has columns the model does not read: ['note']; they are dropped and get no "
        "attribution."
    ]


def test_rows_without_index_col_are_refused_before_any_work(files, capsys, monkeypatch):
    path, _, _ = files
    monkeypatch.setattr("skig.cli._load_model", lambda path: pytest.fail("the model was loaded"))
    args = ["report", str(path / "model.joblib"), str(path / "data.csv"), "-o", str(path / "r.html")]
    assert main([*args, "--rows", "15"]) == 2
    errors = _errors(capsys.readouterr().err, "report")
    assert len(errors) == 1 and "--rows 15 names rows by label: give --index-col" in errors[0]
    assert not (path / "r.html").exists()
    ids = ["report", str(path / "model.joblib"), str(path / "ids.csv"), "-o", str(path / "r.html")]
    assert main([*ids, "--index-col", "app_id", "--rows", "15"]) == 2
    errors = _errors(capsys.readouterr().err, "report")
    assert len(errors) == 1 and "--rows '15' is not a value of --index-col 'app_id' (e.g. [" in errors[0]


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_reasons_file_names_the_missing_value_case_apart(tmp_path, kind):
    """A feature's missing values get their own text ("no ... on file"), as reason_codes gives them."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    rng = np.random.RandomState(1)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["income", "debt", "age"])
    y = (X["income"] - X["debt"] > 0).astype(int)
    X.loc[::4, "debt"] = np.nan  # a missing debt is imputed as very low debt: the most favourable-looking value
    model = make_pipeline(SimpleImputer(strategy="constant", fill_value=-3.0), LogisticRegression()).fit(X, y)
    joblib.dump(model, tmp_path / "model.joblib")
    X.to_csv(tmp_path / "data.csv", index=False)
    texts = {"text": "Excessive obligations", "missing": "No debt information on file"}
    if kind == "json":
        reasons = {**REASONS, "debt": texts}
        (tmp_path / "r.json").write_text(json.dumps(reasons), encoding="utf-8")
    else:
        table = pd.DataFrame({"feature": list(REASONS), "reason": list(REASONS.values()), "missing": ""})
        table.loc[table["feature"] == "debt", "missing"] = texts["missing"]
        table.to_csv(tmp_path / "r.csv", index=False)
    out = tmp_path / "notices.csv"
    args = [str(tmp_path / "model.joblib"), str(tmp_path / "data.csv"), "--reasons", str(tmp_path / f"r.{kind}")]
    assert main(["adverse-action", *args, "-n", "1", "-o", str(out)]) == 0
    written = pd.read_csv(out, index_col=0)
    missing = X["debt"].isna().to_numpy()
    cited = written["reason_1"].isin(texts.values()).to_numpy()
    assert (written["reason_1"][missing & cited] == texts["missing"]).all() and (missing & cited).sum() >= 5
    assert (written["reason_1"][~missing & cited] == texts["text"]).all() and (~missing & cited).sum() >= 1
    # the same texts as the API gives for the same explanation
    explainer = skig.Explainer(model, n_steps=64, random_state=0).fit(X)
    api = skig.adverse_action(explainer.explain(X), {**REASONS, "debt": texts}, n=1)
    assert written["reason_1"].fillna("").tolist() == api["reason_1"].fillna("").tolist()


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"txt": "High"}, "must be a text, or an object"),
        ({"text": "High", "missing": 3}, "must be a text, or an object"),
    ],
)
def test_bad_missing_value_entry_exits_2(files, capsys, entry, message):
    path, _, _ = files
    (path / "r.json").write_text(json.dumps({"debt": entry}), encoding="utf-8")
    args = ["adverse-action", str(path / "model.joblib"), str(path / "data.csv"), "-o", str(path / "n.csv")]
    assert main([*args, "--reasons", str(path / "r.json")]) == 2
    errors = _errors(capsys.readouterr().err, "adverse-action")
    assert len(errors) == 1 and message in errors[0] and "'debt'" in errors[0]


class _TwoInputNet(__import__("torch").nn.Module):
    """``forward(x_num, x_cat)``: numbers, then two code columns looked up in their own tables."""

    def __init__(self):
        import torch

        super().__init__()
        self.state = torch.nn.Embedding(3, 2)
        self.grade = torch.nn.Embedding(4, 2)
        self.net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))

    def forward(self, x_num, x_cat):
        import torch

        return self.net(torch.cat([x_num, self.state(x_cat[:, 0]), self.grade(x_cat[:, 1])], dim=1))


STATES = ["CA", "NY", "TX"]
TWO_INPUTS = {"x_num": ["income", "debt"], "x_cat": {"state": STATES, "grade": None}}


@pytest.fixture
def two_input_files(tmp_path):
    """A saved two-input module and its data: strings for ``state`` (categories given), integer codes for ``grade``."""
    import torch

    torch.manual_seed(0)
    rng = np.random.RandomState(0)
    X = pd.DataFrame(
        {
            "income": rng.normal(size=30),
            "state": rng.choice(STATES, 30),
            "debt": rng.normal(size=30),
            "grade": rng.randint(0, 4, 30),
        }
    )
    joblib.dump(_TwoInputNet().eval(), tmp_path / "net.joblib")
    X.to_csv(tmp_path / "loans.csv", index=False)
    (tmp_path / "inputs.json").write_text(json.dumps(TWO_INPUTS), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("as_file", [False, True], ids=["inline", "json-file"])
def test_explain_with_inputs_matches_the_api(two_input_files, as_file):
    path = two_input_files
    inputs = str(path / "inputs.json") if as_file else json.dumps(TWO_INPUTS)
    args = ["explain", str(path / "net.joblib"), str(path / "loans.csv"), "-o", str(path / "out.csv")]
    assert main([*args, "--inputs", inputs, "--baseline", "median", "--steps", "auto"]) == 0
    written = pd.read_csv(path / "out.csv", index_col=0, float_precision="round_trip")  # exact before pandas 2.2
    X = pd.read_csv(path / "loans.csv")
    net = joblib.load(path / "net.joblib")
    expected = skig.Explainer(net, inputs=TWO_INPUTS, baseline="median", n_steps="auto", random_state=0).fit(X)
    exp = expected.explain(X)
    assert expected.rule_ == "exact"
    columns = [f"attribution_{c}" for c in ["income", "state", "debt", "grade"]]
    np.testing.assert_array_equal(written[columns].to_numpy(), exp.values[["income", "state", "debt", "grade"]])
    np.testing.assert_array_equal(written["prediction"], exp.predictions)
    assert written["delta"].abs().max() < 1e-5  # exact IG adds up in embedding space as anywhere
    assert (written[["attribution_state", "attribution_grade"]].abs().sum() > 0).all()


@pytest.mark.parametrize(
    "inputs, message",
    [
        (None, r"inputs=\{.*as JSON: --inputs"),
        ('{"x_num": ["income", "debt"], "x_cat": ', "--inputs is not valid JSON"),
        ('["income", "debt"]', "must be a JSON object mapping each forward argument"),
        ('{"x_num": "income"}', "argument 'x_num' maps to 'income'"),
        ('{"x_num": ["income", "debt"], "x_cat": ["state", "grade"]}', "'state'.*categories"),
        ("{p}/nope.json", "--inputs file .*nope.json.* does not exist"),
    ],
    ids=["missing", "bad-json", "not-an-object", "not-a-list", "strings-without-categories", "missing-file"],
)
def test_bad_inputs_exit_2_with_one_line(two_input_files, capsys, inputs, message):
    path = two_input_files
    args = ["explain", str(path / "net.joblib"), str(path / "loans.csv"), "-o", str(path / "out.csv")]
    if inputs is not None:
        args += ["--inputs", inputs.replace("{p}", str(path))]
    assert main(args) == 2
    errors = _errors(capsys.readouterr().err, "explain")
    assert len(errors) == 1 and __import__("re").search(message, errors[0]), errors
    assert not (path / "out.csv").exists()


def test_help_says_how_to_pass_inputs(capsys):
    assert main(["explain", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--inputs JSON" in out and "forward(x_num, x_cat)" in out and '"grade": null' in out


@pytest.mark.parametrize("classes", [["1", "2"], [1, 2]])
def test_target_names_the_class_written_the_same_way(files, classes):
    """--target 1 is read from text: for classes "1" and "2" it is the class "1" (not position 1, the class "2"),
    for classes 1 and 2 the class 1, as the API's explain(target=...) with that label gives."""
    path, _, X = files
    X = pd.read_csv(path / "data.csv")
    y = np.where(X["income"] - X["debt"] > 0, classes[1], classes[0])
    model = LogisticRegression().fit(X, y)
    joblib.dump(model, path / "labelled.joblib")
    args = ["explain", str(path / "labelled.joblib"), str(path / "data.csv"), "-o", str(path / "out.csv")]
    assert main([*args, "--target", "1", "--output", "raw"]) == 0
    written = pd.read_csv(path / "out.csv", index_col=0, float_precision="round_trip")
    expected = skig.Explainer(model, n_steps=64, output="raw", random_state=0).fit(X).explain(X, target=classes[0])
    np.testing.assert_allclose(written[[f"attribution_{c}" for c in X.columns]], expected.values, rtol=1e-10)


def test_csv_words_pandas_reads_as_missing_stay_categories_in_text_columns(two_input_files):
    """A state called "NA" (or "None", "null") is a category in a text column, as the API reads the same frame; in a
    numeric column such words are missing; --na-values adds words read as missing everywhere."""
    from skig.cli import _read_csv

    path = two_input_files
    text = "income,state,region,debt\n1.5,NA,None,NA\n2.0,CA,,0.5\n,null,n/a,1.0\n"
    (path / "words.csv").write_text(text, encoding="utf-8")
    frame = _read_csv(path / "words.csv")
    assert frame["state"].tolist() == ["NA", "CA", "null"] and frame["region"].iloc[[0, 2]].tolist() == ["None", "n/a"]
    assert pd.isna(frame["region"].iloc[1]) and pd.isna(frame["income"].iloc[2])  # empty cells are missing
    assert frame["debt"].dtype.kind == "f" and pd.isna(frame["debt"].iloc[0])  # "NA" in a numeric column
    assert pd.isna(_read_csv(path / "words.csv", ["NA"])["state"].iloc[0])
    # End to end: a state "NA" the model knows explains as the API explains it, not as a missing value.
    X = pd.read_csv(path / "loans.csv")
    states = ["CA", "NY", "NA"]
    X["state"] = X["state"].replace({"TX": "NA"})
    X.to_csv(path / "na.csv", index=False)
    inputs = {"x_num": ["income", "debt"], "x_cat": {"state": states, "grade": None}}
    args = ["explain", str(path / "net.joblib"), str(path / "na.csv"), "-o", str(path / "out.csv")]
    assert main([*args, "--inputs", json.dumps(inputs), "--baseline", "median"]) == 0
    written = pd.read_csv(path / "out.csv", index_col=0, float_precision="round_trip")
    exp = skig.Explainer(joblib.load(path / "net.joblib"), inputs=inputs, baseline="median").fit(X).explain(X)
    np.testing.assert_array_equal(written["attribution_state"], exp.values["state"])


def test_report_rows_named_by_a_parquet_files_stored_index(files, capsys):
    pytest.importorskip("pyarrow")
    path, _, X = files
    X.to_parquet(path / "ids.parquet")  # app_id is the stored index, not a column
    label = str(X.index[3])
    args = ["report", str(path / "model.joblib"), str(path / "ids.parquet"), "-o", str(path / "r.html")]
    assert main([*args, "--rows", label]) == 0
    assert main([*args, "--rows", label, "--index-col", "app_id"]) == 0
    assert label in (path / "r.html").read_text(encoding="utf-8")
    assert main([*args, "--rows", "999999"]) == 2
    assert "not a value of the file's index 'app_id'" in capsys.readouterr().err

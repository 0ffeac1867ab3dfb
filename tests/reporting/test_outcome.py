"""The explained output named as its reader says it: "the probability of default", not "the probability of class 1"."""

import joblib
import matplotlib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import skig
from skig.cli import main

matplotlib.use("Agg")
OUTCOME = "probability of default"


@pytest.fixture(scope="module")
def setting():
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.normal(size=(80, 3)), columns=["income", "debt", "age"])
    model = LogisticRegression().fit(X, (X["debt"] - X["income"] > 0).astype(int))
    X.index = rng.permutation(np.arange(300, 380))
    explainer = skig.Explainer(model, output="probability", n_steps=8, outcome=OUTCOME).fit(X)
    return explainer, model, X


def test_explanations_carry_the_outcome_through_selection(setting):
    explainer, _, X = setting
    exp = explainer.explain(X)
    assert exp.outcome == OUTCOME
    assert exp.loc[X.index[3]].outcome == OUTCOME and exp.iloc[:5].outcome == OUTCOME
    unnamed = skig.Explainer(explainer.model, output="probability", n_steps=8).fit(X).explain(X)
    assert unnamed.outcome is None
    np.testing.assert_array_equal(unnamed.values, exp.values)  # a name never changes a number


def test_reason_tables_and_plot_axes_name_it(setting):
    import matplotlib.pyplot as plt

    explainer, _, X = setting
    exp = explainer.explain(X)
    assert skig.reason_codes(exp).attrs["outcome"] == "the probability of default"
    assert skig.adverse_action(exp).attrs["outcome"] == "the probability of default"
    for plot, row in ((skig.plots.beeswarm, None), (skig.plots.decision, None), (skig.plots.force, X.index[0])):
        ax = plot(exp if row is None else exp.loc[row], show=False)
        assert OUTCOME in ax.get_xlabel() and "class 1" not in ax.get_xlabel(), plot.__name__
        plt.close(ax.figure)


def test_report_says_the_outcome_everywhere_and_never_class_1(setting, tmp_path):
    explainer, _, X = setting
    html = skig.report(explainer, X, tmp_path / "r.html", rows=[X.index[0]]).read_text(encoding="utf-8")
    assert "the probability of default" in html and "class 1" not in html
    # the report's own outcome wins over the explainer's
    named = skig.report(explainer, X, tmp_path / "s.html", outcome="probability of 90 days past due")
    assert "the probability of 90 days past due" in named.read_text(encoding="utf-8")


def test_unnamed_output_still_reads_class_1(setting, tmp_path):
    _, model, X = setting
    plain = skig.Explainer(model, output="probability", n_steps=8).fit(X)
    assert "the probability of class 1" in skig.report(plain, X, tmp_path / "r.html").read_text(encoding="utf-8")


def test_cli_outcome_option(setting, tmp_path):
    _, model, X = setting
    joblib.dump(model, tmp_path / "model.joblib")
    X.to_csv(tmp_path / "data.csv", index=False)
    out = tmp_path / "r.html"
    args = ["report", str(tmp_path / "model.joblib"), str(tmp_path / "data.csv"), "-o", str(out), "--steps", "8"]
    assert main([*args, "--output", "probability", "--outcome", OUTCOME]) == 0
    html = out.read_text(encoding="utf-8")
    assert "the probability of default" in html and "class 1" not in html

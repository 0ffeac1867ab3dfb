"""Model performance against outcomes: every number checked against scikit-learn or scipy directly."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

import skig
from skig.reporting import performance
from skig.reporting._performance import auc_interval, wilson


@pytest.fixture(scope="module")
def setting():
    rng = np.random.RandomState(0)
    n = 600
    X = pd.DataFrame({"income": rng.normal(size=n), "debt": rng.normal(size=n), "age": rng.normal(size=n)})
    y = pd.Series((X["debt"] - X["income"] + rng.normal(scale=1.0, size=n) > 0.5).astype(int))
    model = LogisticRegression().fit(X, y)
    X.index = y.index = pd.Index(rng.permutation(np.arange(5000, 5000 + n)), name="app_id")
    group = pd.Series(np.where(X["debt"] > 0.8, "older", np.where(rng.uniform(size=n) < 0.5, "A", "B")), index=X.index)
    explainer = skig.Explainer(model, output="probability", n_steps=8, outcome="probability of default").fit(X)
    return explainer, model, X, y, group


def test_overall_matches_sklearn_and_scipy(setting):
    explainer, model, X, y, _ = setting
    exp = explainer.explain(X)
    shuffled = y.sample(frac=1.0, random_state=1)  # aligned by label, not position
    measured = performance(exp, shuffled, threshold=0.4)
    p = model.predict_proba(X)[:, 1]
    overall = measured.overall["value"]
    np.testing.assert_allclose(overall["AUC"], roc_auc_score(y, p), rtol=1e-12)
    np.testing.assert_allclose(overall["Brier score"], brier_score_loss(y, p), rtol=1e-6)
    np.testing.assert_allclose(overall["KS"], stats.ks_2samp(p[y == 1], p[y == 0]).statistic, rtol=1e-6)
    np.testing.assert_allclose(overall["decision rate"], (p >= 0.4).mean())
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
    np.testing.assert_allclose(measured.calibration["event rate"], observed, rtol=1e-9)
    np.testing.assert_allclose(measured.calibration["mean prediction"], predicted, rtol=1e-6)
    assert measured.calibration["rows"].sum() == len(X)


def test_logit_output_scores_the_same_probability(setting):
    explainer, model, X, y, _ = setting
    logit = skig.Explainer(model, output="logit", n_steps=8).fit(X).explain(X)
    measured = performance(logit, y)
    np.testing.assert_allclose(
        measured.overall.loc["Brier score", "value"], brier_score_loss(y, model.predict_proba(X)[:, 1]), rtol=1e-6
    )


def test_per_group_rates_ratios_and_auc(setting):
    explainer, model, X, y, group = setting
    exp = explainer.explain(X)
    measured = performance(exp, y.to_numpy(), threshold=0.4, groups=group.rename("band"))
    table = measured.groups
    p = pd.Series(model.predict_proba(X)[:, 1], index=X.index)
    favourable = {}
    for name in table.index:
        mine = group == name
        assert table.loc[name, "rows"] == mine.sum()
        np.testing.assert_allclose(table.loc[name, "AUC"], roc_auc_score(y[mine], p[mine]), rtol=1e-12)
        np.testing.assert_allclose(table.loc[name, "event rate"], y[mine].mean())
        np.testing.assert_allclose(table.loc[name, "decision rate"], (p[mine] >= 0.4).mean())
        np.testing.assert_allclose(table.loc[name, "mean prediction"], p[mine].mean(), rtol=1e-6)
        interval = stats.binomtest(int(y[mine].sum()), int(mine.sum())).proportion_ci(method="wilson")
        np.testing.assert_allclose(
            table.loc[name, ["event rate low", "event rate high"]].to_numpy(dtype=float), [interval.low, interval.high]
        )
        favourable[name] = 1 - (p[mine] >= 0.4).mean()
    best = max(favourable.values())
    np.testing.assert_allclose(table["adverse impact ratio"], [favourable[name] / best for name in table.index])
    assert table["flagged"].tolist() == [favourable[name] / best < 0.8 for name in table.index]
    assert table["flagged"].any()  # "older" is drawn from high debt here: the four-fifths rule trips
    assert list(table.index) == group.value_counts().index.tolist() and table.index.name == "band"


def test_interval_coverage_of_auc_and_wilson():
    rng = np.random.RandomState(0)
    true_auc = stats.norm.cdf(1.0 / np.sqrt(2))  # binormal scores one standard deviation apart
    auc_hits, rate_hits = 0, 0
    for _ in range(400):
        event = rng.uniform(size=80) < 0.3
        score = rng.normal(size=80) + event
        _, low, high = auc_interval(event, score)
        auc_hits += low <= true_auc <= high
        low, high = wilson(event.sum(), 80)
        rate_hits += low <= 0.3 <= high
    assert 0.9 <= auc_hits / 400 <= 0.99 and 0.9 <= rate_hits / 400 <= 0.99


def test_class_labels_as_outcomes():
    rng = np.random.RandomState(3)
    X = pd.DataFrame(rng.normal(size=(200, 2)), columns=["a", "b"])
    y = np.where(X["a"] + rng.normal(size=200) > 0, "bad", "good")
    model = LogisticRegression().fit(X, y)
    explainer = skig.Explainer(model, output="probability", n_steps=8, target="bad").fit(X)
    measured = performance(explainer.explain(X), y, event="bad")
    bad = list(model.classes_).index("bad")
    np.testing.assert_allclose(
        measured.overall.loc["AUC", "value"], roc_auc_score(y == "bad", model.predict_proba(X)[:, bad])
    )
    with pytest.raises(ValueError, match="0/1 outcomes"):
        performance(explainer.explain(X), y)


def test_bad_outcomes_refused(setting):
    explainer, _, X, y, _ = setting
    exp = explainer.explain(X)
    with pytest.raises(ValueError, match="no value for 1 explained rows"):
        performance(exp, y.drop(y.index[0]))
    with pytest.raises(ValueError, match="missing for 1 rows"):
        performance(exp, y.astype(float).mask(y.index == y.index[3]))
    with pytest.raises(ValueError, match="one outcome per row"):
        performance(exp, y.to_numpy()[:-1])
    with pytest.raises(ValueError, match="threshold"):
        performance(exp, y, threshold="high")


def test_report_section_with_outcomes_as_a_column(setting, tmp_path):
    explainer, model, X, y, group = setting
    data = X.assign(defaulted=y, band=group)
    html = skig.report(explainer, data, tmp_path / "r.html", y="defaulted", threshold=0.4, group="band")
    text = html.read_text(encoding="utf-8")
    assert 'id="performance"' in text and "Performance by band" in text and "four-fifths" in text
    auc = roc_auc_score(y, model.predict_proba(X)[:, 1])
    assert f"{auc:.3f}" in text

"""Attribution drift: quiet between two samples of one population, loud where a column's scale changed."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import skig
from skig._distributed import Summary
from skig.reporting._drift import psi

COLUMNS = ["income", "debt", "age", "tenure"]


def _population(n, rng):
    return pd.DataFrame(
        {
            "income": rng.lognormal(0, 0.4, n),
            "debt": rng.normal(size=n),
            "age": rng.uniform(-1, 1, n),
            "tenure": rng.exponential(1.0, n),
        }
    )


@pytest.fixture(scope="module")
def explainer():
    rng = np.random.RandomState(0)
    X = _population(2000, rng)
    y = (X["debt"] - X["income"] + 0.5 * X["tenure"] + rng.normal(size=2000) > -1).astype(int)
    model = LogisticRegression().fit(X, y)
    return skig.Explainer(model, output="probability", n_steps=8, baseline="median").fit(X)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_quiet_on_two_samples_of_one_population(explainer, seed):
    rng = np.random.RandomState(seed)
    before = explainer.explain(_population(800, rng))
    after = explainer.explain(_population(800, rng).set_axis(np.arange(800, 1600)))
    table = skig.drift(before, after, random_state=seed)
    assert table["flagged"].sum() == 0, table
    assert (table["PSI"] < 0.1).all()


def test_a_rescaled_column_is_flagged_first(explainer):
    rng = np.random.RandomState(7)
    before = explainer.explain(_population(800, rng))
    rescaled = _population(800, rng)
    rescaled["tenure"] *= 3  # months where there were quarters
    table = skig.drift(before, explainer.explain(rescaled))
    assert table.index[0] == "tenure" and table.loc["tenure", "flagged"]
    assert table.loc["tenure", "change low"] > 0 and table.loc["tenure", "PSI"] >= 0.25


def test_bootstrap_interval_and_reason_shares(explainer):
    rng = np.random.RandomState(8)
    before, after = explainer.explain(_population(1500, rng)), explainer.explain(_population(1500, rng))
    table = skig.drift(before, after, n_reasons=2)
    old, new = before.values.abs(), after.values.abs()
    spread = np.sqrt(old.var() / len(old) + new.var() / len(new))  # the normal approximation as the oracle
    np.testing.assert_allclose(
        table["change high"] - table["change low"], 2 * 1.96 * spread.loc[table.index], rtol=0.15
    )
    np.testing.assert_allclose(table["change"], (new.mean() - old.mean()).loc[table.index], rtol=1e-12)
    codes = skig.reason_codes(after, n=2)
    shares = codes.groupby("feature").size().reindex(COLUMNS, fill_value=0) / len(after)
    np.testing.assert_allclose(table["reason share (current)"], shares.loc[table.index])


def test_summaries_of_distributed_runs(explainer):
    rng = np.random.RandomState(9)
    before = explainer.explain(_population(800, rng))
    rescaled = _population(800, rng)
    rescaled["tenure"] *= 3
    after = explainer.explain(rescaled)

    def summary(exp):
        completeness = pd.Series({"max |delta|": 0.0, "mean |delta|": 0.0, "mean |prediction - base value|": 0.1})
        return Summary(len(exp), exp.importance(), exp.values.mean(), completeness)

    table = skig.drift(summary(before), summary(after))
    full = skig.drift(before, after)
    np.testing.assert_allclose(table["change"], full["change"].loc[table.index], rtol=1e-12)
    assert table.index[0] == "tenure" and table.loc["tenure", "flagged"]
    # without rows, the documented rule is the 20% change alone
    rule = table["change"].abs() >= 0.2 * table["importance (reference)"]
    assert table["flagged"].tolist() == rule.tolist()
    assert table["PSI"].isna().all()


def test_psi():
    rng = np.random.RandomState(0)
    sample = rng.normal(size=5000)
    assert psi(sample, sample) == 0.0
    shifted = psi(sample, sample + 1.0)
    # by hand on the same bins
    edges = np.quantile(sample, np.linspace(0, 1, 11)[1:-1])
    r = np.bincount(np.searchsorted(edges, sample, side="right"), minlength=10) / 5000
    c = np.bincount(np.searchsorted(edges, sample + 1.0, side="right"), minlength=10) / 5000
    np.testing.assert_allclose(shifted, np.sum((c - r) * np.log(c / r)))


def test_report_drift_section(explainer, tmp_path):
    rng = np.random.RandomState(10)
    before = explainer.explain(_population(300, rng))
    rescaled = _population(300, rng)
    rescaled["tenure"] *= 3
    html = skig.report(explainer, rescaled, tmp_path / "r.html", reference=before).read_text(encoding="utf-8")
    assert 'id="drift"' in html and "population stability index" in html


def test_different_features_refused(explainer):
    rng = np.random.RandomState(11)
    exp = explainer.explain(_population(50, rng))
    other = skig.Explanation(exp.values.rename(columns={"age": "AGE"}), exp.base_values, exp.predictions, exp.data)
    with pytest.raises(ValueError, match="different features"):
        skig.drift(exp, other)

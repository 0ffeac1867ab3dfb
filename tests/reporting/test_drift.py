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


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_summaries_agree_with_rows_within_the_documented_tolerances(explainer, seed):
    """Same rows, both ways: importance and reason shares equal, the normal interval's width within 15% of the
    bootstrap's, PSI within 0.02 + 10% (docs/compliance.md), the same flags."""
    rng = np.random.RandomState(seed)
    before = explainer.explain(_population(800, rng))
    rescaled = _population(800, rng)
    rescaled["tenure"] *= 1 + seed  # none, then more and more drift
    after = explainer.explain(rescaled)
    rows = skig.drift(before, after, n_reasons=2)
    summaries = skig.drift(Summary.of_explanation(before, n_reasons=2), Summary.of_explanation(after, n_reasons=2))
    summaries = summaries.loc[rows.index]
    for column in ("importance (reference)", "change", "reason share (reference)", "reason share (current)"):
        np.testing.assert_allclose(summaries[column], rows[column], rtol=1e-12, atol=1e-15)
    width = summaries["change high"] - summaries["change low"]
    np.testing.assert_allclose(width, rows["change high"] - rows["change low"], rtol=0.15)
    np.testing.assert_allclose(summaries["change"], (summaries["change high"] + summaries["change low"]) / 2)
    np.testing.assert_allclose(summaries["PSI"], rows["PSI"], rtol=0.1, atol=0.02)
    assert summaries["flagged"].tolist() == rows["flagged"].tolist()
    assert summaries.index[0] == "tenure" and summaries.loc["tenure", "flagged"]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_summaries_quiet_on_two_samples_of_one_population(explainer, seed):
    rng = np.random.RandomState(seed)
    before, after = (Summary.of_explanation(explainer.explain(_population(800, rng))) for _ in range(2))
    table = skig.drift(before, after)
    assert table["flagged"].sum() == 0, table
    assert (table["PSI"] < 0.1).all()


def test_an_explanation_beside_a_summary_is_summarized(explainer):
    rng = np.random.RandomState(12)
    before, after = explainer.explain(_population(400, rng)), explainer.explain(_population(400, rng))
    mixed = skig.drift(Summary.of_explanation(before, n_reasons=3), after)
    both = skig.drift(Summary.of_explanation(before, n_reasons=3), Summary.of_explanation(after, n_reasons=3))
    pd.testing.assert_frame_equal(mixed, both)


def test_summaries_counting_reasons_differently_are_refused(explainer):
    rng = np.random.RandomState(13)
    exp = explainer.explain(_population(100, rng))
    two, four = Summary.of_explanation(exp, n_reasons=2), Summary.of_explanation(exp)
    with pytest.raises(ValueError, match="count reasons differently"):
        skig.drift(two, four)
    with pytest.raises(ValueError, match="n_reasons=2, not 4"):
        skig.drift(two, two, n_reasons=4)
    bare = Summary(len(exp), exp.importance(), exp.values.mean(), pd.Series(dtype=float))
    with pytest.raises(ValueError, match="without spread, histograms and reason counts"):
        skig.drift(bare, four)


def test_histogram_grid():
    """Bins against edges written out here: 32 per power of ten from 1e-12 to 1e12, signed, 0 apart."""
    from skig._distributed._summary import histogram_bins

    rng = np.random.RandomState(0)
    values = np.concatenate([rng.standard_cauchy(2000) * 10.0 ** rng.uniform(-14, 14, 2000), [0.0, -0.0, 1e300]])
    edges = 10.0 ** (np.arange(-12 * 32 + 1, 12 * 32 + 1) / 32)  # upper edges of bins 1 .. 768
    magnitude = np.searchsorted(edges, np.abs(values), side="right") + 1
    expected = np.sign(values) * magnitude
    near = np.isclose(np.abs(values)[:, None], edges[None, :], rtol=1e-12).any(axis=1)  # rounding at an edge
    np.testing.assert_array_equal(histogram_bins(values)[~near], expected[~near].astype(np.int64))
    assert histogram_bins(np.array([np.nan]))[0] < -(2**60)


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


@pytest.mark.parametrize("kind", ["explanation", "summary"])
def test_report_drift_section(explainer, tmp_path, kind):
    rng = np.random.RandomState(10)
    before = explainer.explain(_population(300, rng))
    if kind == "summary":
        before = Summary.of_explanation(before, n_reasons=3)
    rescaled = _population(300, rng)
    rescaled["tenure"] *= 3
    reasons = skig.reporting.Reasons(n=3)
    html = skig.report(explainer, rescaled, tmp_path / "r.html", reference=before, reasons=reasons)
    html = html.read_text(encoding="utf-8")
    assert 'id="drift"' in html and "population stability index" in html
    assert "Flagged: tenure" in html
    section = html[html.index('id="drift"') :]
    assert "n/a" not in section[: section.index("Flagged")]  # every interval, PSI and reason share is there


def test_different_features_refused(explainer):
    rng = np.random.RandomState(11)
    exp = explainer.explain(_population(50, rng))
    other = skig.Explanation(exp.values.rename(columns={"age": "AGE"}), exp.base_values, exp.predictions, exp.data)
    with pytest.raises(ValueError, match="different features"):
        skig.drift(exp, other)

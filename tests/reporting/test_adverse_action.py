"""The adverse-action export: one line per applicant, ranked texts, checked against a closed form."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import skig

FEATURES = ["income", "debt", "utilisation", "age"]
REASONS = {
    "income": "Income insufficient for amount requested",
    "debt": "Excessive obligations",
    "utilisation": "Credit utilisation too high",
    "age": "Length of credit history",
}


@pytest.fixture(scope="module")
def applicants():
    """A logistic model on applicants whose index labels are 1000..1099, shuffled."""
    rng = np.random.RandomState(7)
    X = pd.DataFrame(rng.normal(size=(100, 4)), columns=FEATURES)
    y = (X["debt"] + X["utilisation"] - X["income"] + 0.5 * rng.normal(size=100) > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    X.index = pd.Index(rng.permutation(np.arange(1000, 1100)), name="application")
    exp = skig.Explainer(model, output="logit", baseline="mean", n_steps=8).fit(X).explain(X)
    # closed form: IG of a linear logit from the mean baseline is coef * (x - mean), exactly
    oracle = (X - X.mean()) * model.coef_[0]
    return model, X, exp, oracle


def _expected_reasons(oracle_row: pd.Series, n: int) -> list[str]:
    adverse = oracle_row[oracle_row > 0].sort_values(ascending=False)
    return [REASONS[feature] for feature in adverse.index[:n]]


def test_one_line_per_applicant_with_ranked_texts(applicants):
    model, X, exp, oracle = applicants
    table = skig.adverse_action(exp, REASONS, n=3)
    assert table.index.equals(X.index)  # same labels, same order
    for label in X.index[:25]:
        texts = [t for t in table.loc[label, ["reason_1", "reason_2", "reason_3"]] if isinstance(t, str)]
        assert texts == _expected_reasons(oracle.loc[label], 3), label
        assert table.loc[label, "n_reasons"] == len(texts)
    logit = model.decision_function(X.loc[[X.index[4]]])[0]
    assert table.loc[X.index[4], "prediction"] == pytest.approx(logit, abs=1e-6)


def test_features_name_the_reasons(applicants):
    _, X, exp, oracle = applicants
    table = skig.adverse_action(exp, REASONS, n=2)
    label = X.index[10]
    expected = oracle.loc[label][oracle.loc[label] > 0].sort_values(ascending=False).index[:2].tolist()
    assert [f for f in table.loc[label, ["feature_1", "feature_2"]] if isinstance(f, str)] == expected
    assert list(table.columns) == ["prediction", "n_reasons", "reason_1", "reason_2", "feature_1", "feature_2"]


def test_shared_texts_give_one_reason_and_the_next_feature_moves_up(applicants):
    _, X, exp, oracle = applicants
    # the applicant whose two most adverse features are debt and utilisation, in either order
    top_two = oracle.apply(lambda row: set(row.sort_values(ascending=False).index[:2]), axis=1)
    label = next(lab for lab in X.index if top_two[lab] == {"debt", "utilisation"} and (oracle.loc[lab] > 0).sum() >= 3)
    shared = {**REASONS, "utilisation": REASONS["debt"]}
    row = skig.adverse_action(exp, shared, n=2).loc[label]
    third = oracle.loc[label].sort_values(ascending=False).index[2]
    assert row["reason_1"] == REASONS["debt"]
    assert row["reason_2"] == REASONS[third]  # not "Excessive obligations" twice


def test_decrease_direction_lists_what_lowered_the_output(applicants):
    _, X, exp, oracle = applicants
    table = skig.adverse_action(exp, REASONS, n=1, direction="decrease")
    for label in X.index[:10]:
        assert table.loc[label, "reason_1"] == REASONS[oracle.loc[label].idxmin()]


def test_missing_texts_fall_back_to_names_with_a_warning(applicants):
    _, _, exp, _ = applicants
    partial = {key: value for key, value in REASONS.items() if key != "debt"}
    with pytest.warns(UserWarning, match="debt"):
        table = skig.adverse_action(exp, partial, n=4)
    assert "debt" in set(table["reason_1"]) | set(table["reason_2"])
    with pytest.warns(UserWarning, match="income"):
        skig.adverse_action(exp, lambda feature, value: None if feature == "income" else feature.upper(), n=4)


def test_applicant_without_adverse_feature_has_no_reasons():
    values = pd.DataFrame({"a": [-0.1, 0.2], "b": [-0.3, 0.1]}, index=["x", "y"])
    base = pd.Series(0.0, index=values.index)
    exp = skig.Explanation(values, base, values.sum(axis=1), values.copy())
    table = skig.adverse_action(exp, {"a": "A", "b": "B"}, n=2)
    assert table.loc["x", "n_reasons"] == 0 and table.loc["x", ["reason_1", "reason_2"]].isna().all()
    assert table.loc["y", ["reason_1", "reason_2"]].tolist() == ["A", "B"]


@pytest.mark.parametrize("kwargs", [{"n": 0}, {"direction": "up"}, {"reasons": 3}])
def test_bad_arguments_raise(applicants, kwargs):
    _, _, exp, _ = applicants
    kwargs = {"reasons": REASONS, **kwargs}
    with pytest.raises((ValueError, TypeError), match="n must|direction|reasons must"):
        skig.adverse_action(exp, **kwargs)


def test_duplicated_labels_are_refused():
    values = pd.DataFrame({"a": [0.1, 0.2]}, index=[5, 5])
    exp = skig.Explanation(values, pd.Series(0.0, index=values.index), values["a"], values.copy())
    with pytest.raises(ValueError, match="duplicated labels \\[5\\]"):
        skig.adverse_action(exp)

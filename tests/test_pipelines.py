"""Pipelines: preprocessing in scikit-learn, gradients from the encoded matrix, attributions on raw columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from skorch import NeuralNetBinaryClassifier

import skig


def _frame(n=240, seed=0):
    rng = np.random.RandomState(seed)
    income = rng.lognormal(7, 0.5, size=n)
    income[rng.rand(n) < 0.1] = np.nan
    frame = pd.DataFrame(
        {
            "Income": income,
            "Age": rng.randint(18, 80, size=n),
            "Home": rng.choice(["rent", "owner", "parents", None], size=n, p=[0.4, 0.4, 0.15, 0.05]),
            "Job": pd.Categorical(rng.choice(["fixed", "partime", "freelance"], size=n)),
            "Flag": rng.rand(n) < 0.3,
        }
    )
    logit = 0.002 * (np.nan_to_num(income, nan=800) - 1000) - 0.03 * (frame["Age"] - 45) + (frame["Home"] == "rent")
    y = (logit + rng.normal(scale=0.5, size=n) > 0).astype(int).to_numpy()
    return frame, y


def _preprocessor():
    numeric = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="missing"), OneHotEncoder(handle_unknown="ignore")
    )
    return ColumnTransformer(
        [
            ("num", numeric, ["Income", "Age"]),
            ("cat", categorical, make_column_selector(dtype_include=["object", "category"])),
        ],
        remainder="passthrough",
        sparse_threshold=0,
    )


@pytest.fixture(scope="module")
def data():
    return _frame()


@pytest.fixture(scope="module")
def logistic(data):
    X, y = data
    return make_pipeline(_preprocessor(), LogisticRegression(max_iter=500)).fit(X, y)


def test_logistic_regression_in_a_pipeline_is_exact_per_raw_column(data, logistic):
    X, _ = data
    explainer = skig.Explainer(logistic, baseline="mean", output="logit").fit(X)
    exp = explainer.explain(X.iloc[:30])
    encoded = logistic[:-1].transform(X.iloc[:30])
    # "mean": numeric columns' means, categorical columns' most frequent category (a real applicant), encoded
    baseline = explainer.encoded_baseline_.to_numpy()[0]
    per_encoded = logistic[-1].coef_[0] * (encoded - baseline)
    np.testing.assert_allclose(exp.encoded_values.to_numpy(), per_encoded, atol=1e-10)
    names = logistic[:-1].get_feature_names_out()
    assert list(exp.encoded_values.columns) == list(names)
    raw_of = {"num__Income": "Income", "num__missingindicator_Income": "Income", "num__Age": "Age"}
    for column in X.columns:
        mask = [raw_of.get(n, n.split("__")[1].split("_")[0]) == column for n in names]
        mask = [m or n == f"remainder__{column}" for m, n in zip(mask, names, strict=True)]
        np.testing.assert_allclose(exp.values[column], per_encoded[:, mask].sum(axis=1), atol=1e-10)
    np.testing.assert_allclose(exp.delta, 0, atol=1e-10)


def test_raw_values_are_kept_for_reports(data, logistic):
    X, _ = data
    exp = skig.Explainer(logistic).fit(X).explain(X.iloc[:20])
    assert exp.feature_names == list(X.columns)
    pd.testing.assert_frame_equal(exp.data, X.iloc[:20])
    assert exp.data["Income"].isna().any()  # NaN is shown as it was, not imputed


def test_mlp_pipeline_is_complete_in_probability_space(data):
    X, y = data
    pipeline = make_pipeline(
        _preprocessor(), MLPClassifier(hidden_layer_sizes=(16,), activation="tanh", max_iter=300, random_state=0)
    ).fit(X, y)
    exp = skig.Explainer(pipeline, output="probability", n_steps=64).fit(X).explain(X.iloc[:50])
    np.testing.assert_allclose(exp.predictions, pipeline.predict_proba(X.iloc[:50])[:, 1], atol=1e-10)
    reconstructed = exp.values.sum(axis=1) + exp.base_values
    np.testing.assert_allclose(reconstructed, pipeline.predict_proba(X.iloc[:50])[:, 1], atol=1e-6)


class _Net(torch.nn.Module):
    def __init__(self, n_features):
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(n_features, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))

    def forward(self, x):
        return self.layers(x).squeeze(-1)


def test_skorch_pipeline_is_complete_in_probability_space(data):
    X, y = data
    preprocessor = _preprocessor()
    n_encoded = preprocessor.fit_transform(X).shape[1]
    net = NeuralNetBinaryClassifier(_Net, module__n_features=n_encoded, max_epochs=5, train_split=None, verbose=0)
    pipeline = Pipeline([("pre", preprocessor), ("float32", FunctionTransformer(np.float32)), ("net", net)]).fit(
        X, y.astype(np.float32)
    )
    exp = skig.Explainer(pipeline, output="probability", n_steps=32).fit(X).explain(X.iloc[:40])
    proba = pipeline.predict_proba(X.iloc[:40])[:, 1]
    np.testing.assert_allclose(exp.predictions, proba, atol=1e-6)
    np.testing.assert_allclose(exp.values.sum(axis=1) + exp.base_values, proba, atol=1e-5)
    assert exp.values.shape == (40, 5)


def test_unseen_category_at_explain_time_works(data, logistic):
    X, _ = data
    explainer = skig.Explainer(logistic, baseline="zero").fit(X)
    novel = X.iloc[:3].copy()
    novel["Home"] = ["castle", "boat", "rent"]
    exp = explainer.explain(novel)
    # An unknown category encodes as all zeros, like the zero baseline: it contributes nothing.
    assert exp.values["Home"].iloc[0] == pytest.approx(0.0, abs=1e-12)
    assert exp.values["Home"].iloc[2] != 0.0
    np.testing.assert_allclose(exp.delta, 0, atol=1e-10)


def test_missing_raw_column_is_named(data, logistic):
    X, _ = data
    explainer = skig.Explainer(logistic).fit(X)
    with pytest.raises(ValueError, match=r"missing columns \['Home'\]"):
        explainer.explain(X.drop(columns="Home"))


def test_baseline_given_as_raw_rows_goes_through_preprocessing(data, logistic):
    X, _ = data
    reference = X.iloc[[5]]
    exp = skig.Explainer(logistic, baseline=reference).fit(X).explain(X.iloc[:4])
    np.testing.assert_allclose(exp.base_values, logistic.decision_function(reference)[0], atol=1e-10)
    change = logistic.decision_function(X.iloc[[0]])[0] - exp.base_values.iloc[0]
    np.testing.assert_allclose(exp.values.iloc[0].sum(), change)


def test_tree_model_is_refused_with_a_pointer_to_shap(data):
    X, y = data
    pipeline = make_pipeline(_preprocessor(), RandomForestClassifier(n_estimators=3, random_state=0)).fit(X, y)
    with pytest.raises(TypeError, match=r"RandomForestClassifier.*shap\.TreeExplainer"):
        skig.Explainer(pipeline).fit(X)


def test_mixing_transformer_is_refused_with_a_pointer_to_encoded_features(data):
    X, y = data
    numeric = X[["Income", "Age"]].fillna(800)
    pipeline = make_pipeline(StandardScaler(), PCA(n_components=2), Ridge()).fit(numeric, y)
    with pytest.raises(ValueError, match="features='encoded'"):
        skig.Explainer(pipeline).fit(numeric)
    exp = skig.Explainer(pipeline, features="encoded", baseline="zero").fit(numeric).explain(numeric.iloc[:5])
    assert exp.feature_names == ["pca0", "pca1"]
    np.testing.assert_allclose(exp.values.to_numpy(), pipeline[:-1].transform(numeric.iloc[:5]) * pipeline[-1].coef_)


@pytest.mark.parametrize(
    "column",
    [
        np.array([1.5, 2.5, 3.5, 0.5] * 10, dtype=np.float32),
        np.array([1.5, 2.5, 3.5, 0.5] * 10),
        np.array([1, 2, 3, 4] * 10),
        np.array([True, False, True, True] * 10),
        pd.array([1, 2, None, 4] * 10, dtype="Int64"),
        pd.array([1.0, None, 3.0, 4.0] * 10, dtype="Float64"),
        pd.Categorical(["a", "b", "c", "a"] * 10),
        pd.array(["a", "b", "c", "a"] * 10, dtype="string"),  # with missing values sklearn's imputer itself fails
    ],
    ids=["float32", "float64", "int", "bool", "Int64", "Float64", "category", "string"],
)
def test_column_dtypes(column):
    rng = np.random.RandomState(0)
    X = pd.DataFrame({"value": column, "other": rng.normal(size=40)})
    y = rng.randint(0, 2, size=40)
    if isinstance(X["value"].dtype, (pd.CategoricalDtype, pd.StringDtype)):
        encode = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder())
    else:
        encode = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    pipeline = make_pipeline(
        ColumnTransformer([("value", encode, ["value"])], remainder="passthrough", sparse_threshold=0),
        LogisticRegression(),
    ).fit(X, y)
    exp = skig.Explainer(pipeline).fit(X).explain(X)
    assert exp.values.shape == (40, 2) and np.isfinite(exp.values.to_numpy()).all()
    np.testing.assert_allclose(exp.delta, 0, atol=1e-10)
    np.testing.assert_allclose(exp.predictions, pipeline.decision_function(X), atol=1e-10)


def test_nan_left_after_preprocessing_is_named(data):
    X, y = data
    pipeline = make_pipeline(
        ColumnTransformer([("num", StandardScaler(), ["Income", "Age"])]), LogisticRegression()
    ).fit(X.dropna(subset=["Income"]), y[X["Income"].notna()])
    with pytest.raises(ValueError, match=r"preprocessed data contains NaN in columns \['num__Income'\].*imputer"):
        skig.Explainer(pipeline).fit(X)


def test_unfitted_pipeline_step_is_named(data):
    X, y = data
    pipeline = make_pipeline(_preprocessor(), LogisticRegression())
    pipeline.steps[-1] = ("logisticregression", LogisticRegression().fit(np.zeros((2, 1)), [0, 1]))
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="columntransformer"):
        skig.Explainer(pipeline).fit(X)


def test_adaptive_steps_judge_the_columns_the_explanation_reports(data, logistic):
    """Each coordinate's attribution is judged on the column it is reported on: one-hot columns on their raw column,
    or on themselves with features="encoded" (n_steps="auto" by the adaptive trapezoid rule reads these)."""
    X, _ = data
    raw = skig.Explainer(logistic).fit(X)
    groups = raw.encoded_feature_groups_
    assert len(groups) > X.shape[1]  # one-hot columns fold onto their raw column
    np.testing.assert_array_equal(raw._reported_columns(), groups)
    encoded = skig.Explainer(logistic, features="encoded").fit(X)
    np.testing.assert_array_equal(encoded._reported_columns(), np.arange(len(groups)))


@pytest.mark.parametrize("features", ["raw", "encoded"])
def test_the_zero_gradient_guard_names_the_columns_the_explanation_reports(data, logistic, monkeypatch, features):
    """The guard's groups and names are of one kind: with features="encoded" an encoded column's own name, never the
    name of the encoded column that happens to sit at its raw column's position."""
    import skig._explainer

    seen = []
    monkeypatch.setattr(skig._explainer, "check_columns_differentiable", lambda *args, **kwargs: seen.append(args))
    X, _ = data
    explainer = skig.Explainer(logistic, features=features).fit(X)
    (_, _, _, groups, names, _) = seen[-1]
    assert len(names) == len(np.unique(groups)) == len(explainer.get_feature_names_out())
    expected = (
        explainer.encoded_feature_groups_ if features == "raw" else np.arange(len(explainer.encoded_feature_names_))
    )
    np.testing.assert_array_equal(groups, expected)

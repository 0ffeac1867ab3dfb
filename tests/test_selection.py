"""FeatureSelector: IG importance inside scikit-learn (Pipeline, GridSearchCV) on raw columns."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import skig


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 6))
    y = (X[:, 0] + 2 * X[:, 3] - 1.5 * X[:, 5] > 0).astype(int)
    return X, y


def test_keeps_the_informative_features_and_ranks_by_mean_abs_attribution(data):
    X, y = data
    selector = skig.FeatureSelector(LogisticRegression(), n_features_to_select=3).fit(X, y)
    assert selector.get_support(indices=True).tolist() == [0, 3, 5]
    assert selector.get_feature_names_out().tolist() == ["x0", "x3", "x5"]
    expected = skig.Explainer(selector.estimator_).fit(X).explain(X).importance()
    np.testing.assert_allclose(selector.importances_, expected.reindex([f"x{i}" for i in range(6)]).to_numpy())
    assert selector.transform(X).shape == (300, 3)


def test_threshold_and_fraction(data):
    X, y = data
    importances = skig.FeatureSelector(LogisticRegression(), threshold=0.0).fit(X, y).importances_
    by_mean = skig.FeatureSelector(LogisticRegression()).fit(X, y)  # neither set: "mean", like SelectFromModel
    np.testing.assert_array_equal(by_mean.get_support(), importances >= importances.mean())
    scaled = skig.FeatureSelector(LogisticRegression(), threshold="0.5*median").fit(X, y)
    np.testing.assert_array_equal(scaled.get_support(), importances >= 0.5 * np.median(importances))
    half = skig.FeatureSelector(LogisticRegression(), n_features_to_select=0.5).fit(X, y)
    assert half.get_support().sum() == 3


def test_cross_validated_importances_average_out_of_fold_explanations(data):
    X, y = data
    selector = skig.FeatureSelector(LogisticRegression(), cv=3, n_features_to_select=3).fit(X, y)
    assert selector.get_support(indices=True).tolist() == [0, 3, 5]
    in_sample = skig.FeatureSelector(LogisticRegression(), n_features_to_select=3).fit(X, y).importances_
    assert not np.allclose(selector.importances_, in_sample)


def test_dataframe_with_categoricals_through_a_pipeline_keeps_dtypes():
    rng = np.random.RandomState(1)
    frame = pd.DataFrame(
        {
            "income": rng.normal(size=200),
            "noise": rng.normal(size=200),
            "home": pd.Categorical(rng.choice(["rent", "owner", "other"], size=200)),
        }
    )
    y = ((frame["income"] > 0) ^ (frame["home"] == "rent")).astype(int)
    model = make_pipeline(
        ColumnTransformer([("num", StandardScaler(), ["income", "noise"]), ("cat", OneHotEncoder(), ["home"])]),
        LogisticRegression(),
    )
    selector = skig.FeatureSelector(model, n_features_to_select=2).fit(frame, y)
    assert selector.get_feature_names_out().tolist() == ["income", "home"]
    kept = selector.transform(frame)
    assert list(kept.columns) == ["income", "home"] and isinstance(kept["home"].dtype, pd.CategoricalDtype)


def test_works_in_a_pipeline_under_grid_search(data):
    X, y = data
    pipeline = Pipeline([("select", skig.FeatureSelector(LogisticRegression())), ("model", LogisticRegression())])
    search = GridSearchCV(pipeline, {"select__n_features_to_select": [1, 3, 6]}, cv=3).fit(X, y)
    assert search.best_params_["select__n_features_to_select"] in (3, 6)
    assert (
        search.best_estimator_.named_steps["select"].get_support().sum()
        == search.best_params_["select__n_features_to_select"]
    )
    assert clone(pipeline).get_params()["select__n_features_to_select"] is None


def test_estimator_is_not_modified(data):
    X, y = data
    estimator = LogisticRegression()
    skig.FeatureSelector(estimator, n_features_to_select=2).fit(X, y)
    assert not hasattr(estimator, "coef_")


@pytest.mark.parametrize(
    "params",
    [
        {"n_features_to_select": 0},
        {"n_features_to_select": 1.5},
        {"threshold": "max"},
        {"threshold": "two*mean"},
        {"explainer_params": {"n_steps": 0}},
        {"explainer_params": {"nope": 1}},
        {"cv": "five"},
    ],
)
def test_bad_parameters_are_refused(data, params):
    X, y = data
    with pytest.raises((ValueError, TypeError)):
        skig.FeatureSelector(LogisticRegression(), **params).fit(X, y)


def test_non_differentiable_estimator_points_to_shap(data):
    from sklearn.ensemble import RandomForestClassifier

    X, y = data
    with pytest.raises(TypeError, match="TreeExplainer"):
        skig.FeatureSelector(RandomForestClassifier(n_estimators=5)).fit(X, y)

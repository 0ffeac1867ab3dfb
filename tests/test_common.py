"""scikit-learn API compliance: the common estimator checks, cloning, parameters, pipelines, set_output, pickling."""

from __future__ import annotations

import inspect
import io
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn.utils.estimator_checks as estimator_checks
import torch
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import skig


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002 - some libraries draw from the global state


class WidthAgnostic(torch.nn.Module):
    """Differentiable for any number of features, as the common checks need (they vary the width)."""

    def forward(self, x):
        return torch.tanh(x).sum(1, keepdim=True) + (x**2).mean(1, keepdim=True)


class SmallMLP(torch.nn.Module):
    """A float64 MLP with parameters, for round trips that must carry weights."""

    def __init__(self, n_features=4):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(n_features, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()

    def forward(self, x):
        return self.body(x)


def _explainers():
    return [
        skig.Explainer(WidthAgnostic(), n_steps=8),
        skig.Explainer(WidthAgnostic(), baseline="zero", rule="riemann_trapezoid", n_steps=8),
    ]


# Checks that genuinely cannot apply to an explainer: none of the checks sklearn yields fails for that reason.
CANNOT_APPLY: dict[str, str] = {}


def _expected_failed_checks(estimator):
    return CANNOT_APPLY


# xfail_strict (scikit-learn 1.7): an expected failure that starts passing is reported; 1.6 has no such switch.
_STRICT = {"xfail_strict": True} if "xfail_strict" in inspect.signature(parametrize_with_checks).parameters else {}


@parametrize_with_checks(_explainers(), expected_failed_checks=_expected_failed_checks, **_STRICT)
def test_sklearn_common_checks(estimator, check):
    check(estimator)


# Checks scikit-learn 1.9 does not yield from parametrize_with_checks but that apply to any transformer.
EXTRA_CHECKS = {
    "check_get_feature_names_out_error": None,
    "check_set_output_transform": None,
    "check_set_output_transform_pandas": None,
    "check_global_output_transform_pandas": None,
    "check_transformer_get_feature_names_out": None,
    "check_transformer_get_feature_names_out_pandas": None,
    "check_dataframe_column_names_consistency": (
        "cannot apply: skig matches DataFrame columns by name, so columns in another order are accepted by design "
        "(sklearn requires an error), and its messages for unseen/missing columns are its own"
    ),
}


def _extra_check_params():
    for name, reason in EXTRA_CHECKS.items():
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("check_name", list(_extra_check_params()))
@pytest.mark.parametrize("index", [0, 1])
def test_extra_transformer_checks(check_name, index):
    getattr(estimator_checks, check_name)("Explainer", _explainers()[index])


@pytest.fixture(scope="module")
def frame():
    rng = np.random.RandomState(0)
    X = pd.DataFrame(
        rng.normal(size=(60, 4)), columns=["age", "income", "debt", "score"], index=pd.RangeIndex(100, 160, name="id")
    )
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.normal(size=60)
    return X, y


@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(0)
    return SmallMLP()


class TestCloneAndParams:
    def test_clone_keeps_the_prefit_model(self, mlp, frame):
        explainer = skig.Explainer(mlp, n_steps=8, baseline="median", target=0).fit(frame[0])
        copy = clone(explainer)
        assert copy.model is explainer.model
        assert copy is not explainer
        assert copy.get_params(deep=False).keys() == explainer.get_params(deep=False).keys()
        for name, value in explainer.get_params(deep=False).items():
            assert copy.get_params(deep=False)[name] is value or copy.get_params(deep=False)[name] == value, name
        assert not hasattr(copy, "baseline_"), "a clone is unfitted"

    def test_clone_of_array_baseline_is_equal_not_shared(self, mlp, frame):
        rows = frame[0].iloc[:3]
        copy = clone(skig.Explainer(mlp, baseline=rows))
        pd.testing.assert_frame_equal(copy.baseline, rows)

    def test_get_set_params_round_trip(self, mlp):
        params = dict(
            method="ig",
            baseline="zero",
            n_steps=5,
            rule="riemann_middle",
            target=0,
            output="raw",
            batch_size=7,
            device="cpu",
            random_state=3,
            progress=False,
            features="encoded",
            gradient_rule="deconv",
            n_samples=3,
            noise_level=0.5,
        )
        explainer = skig.Explainer(mlp, **params)
        assert explainer.get_params(deep=False) == {
            **skig.Explainer(mlp).get_params(deep=False),
            "model": mlp,
            **params,
        }
        other = skig.Explainer(WidthAgnostic()).set_params(**explainer.get_params(deep=False))
        assert other.get_params(deep=False) == explainer.get_params(deep=False)
        assert other.set_params(n_steps=9) is other
        assert other.n_steps == 9
        with pytest.raises(ValueError, match="nope"):
            other.set_params(nope=1)

    def test_repr_shows_changed_params(self, mlp):
        assert "n_steps=5" in repr(skig.Explainer(mlp, n_steps=5))


class TestPipelines:
    def test_pipeline_fits_and_predicts(self, mlp, frame):
        X, y = frame
        pipe = Pipeline([("ig", skig.Explainer(mlp, n_steps=8)), ("reg", LinearRegression())]).fit(X, y)
        predictions = pipe.predict(X)
        assert predictions.shape == (len(X),)
        assert np.isfinite(predictions).all()
        np.testing.assert_allclose(pipe[0].transform(X), pipe[0].explain(X).values.to_numpy())

    def test_grid_search_shares_the_model(self, mlp, frame):
        X, y = frame
        before = [param.detach().clone() for param in mlp.parameters()]
        pipe = Pipeline([("ig", skig.Explainer(mlp, n_steps=4)), ("reg", LinearRegression())])
        search = GridSearchCV(pipe, {"ig__n_steps": [2, 4], "ig__baseline": ["zero", "mean"]}, cv=3).fit(X, y)
        assert search.best_estimator_[0].model is mlp
        assert set(search.cv_results_["param_ig__n_steps"]) == {2, 4}
        assert all(torch.equal(a, b) for a, b in zip(before, mlp.parameters(), strict=True))

    def test_set_output_pandas_keeps_index_and_names(self, mlp, frame):
        X, _ = frame
        out = skig.Explainer(mlp, n_steps=8).set_output(transform="pandas").fit(X).transform(X)
        assert isinstance(out, pd.DataFrame)
        pd.testing.assert_index_equal(out.index, X.index)
        assert list(out.columns) == list(X.columns)

    def test_set_output_pandas_from_array(self, mlp, frame):
        X = frame[0].to_numpy()
        out = skig.Explainer(mlp, n_steps=8).set_output(transform="pandas").fit_transform(X)
        assert list(out.columns) == ["x0", "x1", "x2", "x3"]
        pd.testing.assert_index_equal(out.index, pd.RangeIndex(len(X)))

    def test_fit_transform_equals_fit_then_transform(self, mlp, frame):
        X, _ = frame
        np.testing.assert_array_equal(
            skig.Explainer(mlp, n_steps=8).fit_transform(X), skig.Explainer(mlp, n_steps=8).fit(X).transform(X)
        )


def _pickled(obj):
    return pickle.loads(pickle.dumps(obj))


def _joblibbed(obj):
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


class TestPersistence:
    @pytest.mark.parametrize("round_trip", [_pickled, _joblibbed], ids=["pickle", "joblib"])
    @pytest.mark.parametrize("model", ["mlp", "width_agnostic"])
    def test_round_trip_gives_identical_explanations(self, mlp, frame, round_trip, model):
        X, _ = frame
        module = mlp if model == "mlp" else WidthAgnostic()
        explainer = skig.Explainer(module, n_steps=16, baseline="median").fit(X)
        expected = explainer.explain(X.iloc[:10])
        restored = round_trip(explainer)
        got = restored.explain(X.iloc[:10])
        pd.testing.assert_frame_equal(got.values, expected.values, check_exact=True)
        pd.testing.assert_series_equal(got.base_values, expected.base_values, check_exact=True)
        pd.testing.assert_series_equal(got.predictions, expected.predictions, check_exact=True)
        pd.testing.assert_frame_equal(restored.baseline_, explainer.baseline_)
        np.testing.assert_array_equal(restored.feature_names_in_, explainer.feature_names_in_)
        assert restored.get_params(deep=False).keys() == explainer.get_params(deep=False).keys()

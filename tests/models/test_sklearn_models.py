import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    LogisticRegressionCV,
    MultiTaskLasso,
    Ridge,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.svm import SVC

from skig.models._sklearn import is_supported_sklearn_model, torch_model_from_sklearn

ATOL = 1e-6
ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]


def _data(n_classes=None, n_targets=1, n=60, d=4, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, d))
    if n_classes is None:
        y = X @ rng.normal(size=(d, n_targets)) + 0.1 * rng.normal(size=(n, n_targets))
        return X, (y[:, 0] if n_targets == 1 else y)
    scores = X @ rng.normal(size=(d, n_classes)) + rng.normal(scale=0.5, size=(n, n_classes))
    labels = np.array(["ant", "bee", "cat", "dog"])[:n_classes]
    return X, labels[scores.argmax(axis=1)]


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def _raw(model, X):
    with torch.no_grad():
        out = model.module(torch.from_numpy(X))
    assert out.dtype == torch.float64
    return out.numpy()


def _proba(model, X):
    with torch.no_grad():
        return model.head.probabilities(model.module(torch.from_numpy(X))).numpy()


def _assert_close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("solver", ["lbfgs", "liblinear", "saga"])
def test_logistic_regression_binary(solver):
    X, y = _data(n_classes=2)
    est = _fit(LogisticRegression(solver=solver), X, y)
    model = torch_model_from_sklearn(est)
    assert model.head.kind == "sigmoid"
    assert model.description == "LogisticRegression"
    np.testing.assert_array_equal(model.classes, ["ant", "bee"])
    raw = _raw(model, X)
    assert raw.shape == (len(X), 1)
    _assert_close(raw, est.decision_function(X)[:, None])
    _assert_close(_proba(model, X), est.predict_proba(X))


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg", "saga"])
def test_logistic_regression_multiclass_is_softmax_of_decision_function(solver):
    X, y = _data(n_classes=3)
    est = _fit(LogisticRegression(solver=solver, C=10.0), X, y)
    model = torch_model_from_sklearn(est)
    assert model.head.kind == "softmax"
    np.testing.assert_array_equal(model.classes, ["ant", "bee", "cat"])
    _assert_close(_raw(model, X), est.decision_function(X))
    _assert_close(_proba(model, X), est.predict_proba(X))


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_logistic_regression_cv_subclass():
    X, y = _data(n_classes=3)
    est = _fit(LogisticRegressionCV(Cs=3), X, y)
    model = torch_model_from_sklearn(est)
    assert model.description == "LogisticRegressionCV"
    _assert_close(_proba(model, X), est.predict_proba(X))


#: scikit-learn before 1.8 still has LogisticRegression(multi_class=...): liblinear fits one-vs-rest there, and
#: predict_proba follows the fitted rule.
_HAS_MULTI_CLASS = "multi_class" in LogisticRegression().get_params()


@pytest.mark.skipif(_HAS_MULTI_CLASS, reason="this scikit-learn still fits multiclass liblinear as one-vs-rest")
def test_liblinear_refuses_multiclass_in_this_scikit_learn():
    # Why the one-vs-rest path below exists only for models fitted by older releases.
    X, y = _data(n_classes=3)
    with pytest.raises(ValueError, match="liblinear"):
        LogisticRegression(solver="liblinear").fit(X, y)


def test_logistic_regression_legacy_one_vs_rest():
    X, y = _data(n_classes=3)
    est = _fit(LogisticRegression(C=10.0), X, y)
    est.multi_class = "ovr"  # as unpickled from a release that still had the parameter
    model = torch_model_from_sklearn(est)
    assert model.head.kind == "callable"
    _assert_close(_raw(model, X), est.decision_function(X))
    ovr = est._predict_proba_lr(X)
    if not _HAS_MULTI_CLASS:  # where the parameter is gone, predict_proba is multinomial: the rules really differ
        assert np.abs(ovr - est.predict_proba(X)).max() > 1e-3
    _assert_close(_proba(model, X), ovr)


def test_logistic_regression_legacy_binary_multinomial():
    X, y = _data(n_classes=2)
    est = _fit(LogisticRegression(), X, y)
    est.multi_class = "multinomial"
    model = torch_model_from_sklearn(est)
    assert model.head.kind == "softmax"
    d = est.decision_function(X)
    _assert_close(_raw(model, X), np.c_[-d, d])
    _assert_close(_proba(model, X)[:, 1], 1 / (1 + np.exp(-2 * d)))


REGRESSORS = [LinearRegression(), Ridge(alpha=0.5), Lasso(alpha=0.01), ElasticNet(alpha=0.01, l1_ratio=0.3)]
REGRESSION_CASES = [(e, k) for e in REGRESSORS for k in (1, 3)] + [(MultiTaskLasso(alpha=0.01), 3)]


@pytest.mark.parametrize(
    ("estimator", "n_targets"), REGRESSION_CASES, ids=lambda v: type(v).__name__ if not isinstance(v, int) else str(v)
)
def test_linear_regressors_match_predict(estimator, n_targets):
    X, y = _data(n_targets=n_targets)
    est = _fit(estimator, X, y)
    model = torch_model_from_sklearn(est)
    assert model.head.kind == "identity"
    assert model.classes is None
    raw = _raw(model, X)
    assert raw.shape == (len(X), n_targets)
    _assert_close(raw, est.predict(X).reshape(len(X), -1))
    assert np.abs(raw).max() > 0.1


def test_linear_regression_without_intercept_and_column_target():
    X, y = _data()
    est = LinearRegression(fit_intercept=False).fit(X, y[:, None])
    _assert_close(_raw(torch_model_from_sklearn(est), X), est.predict(X))


def test_sgd_regressor():
    X, y = _data()
    est = _fit(SGDRegressor(random_state=0, max_iter=50), X, y)
    model = torch_model_from_sklearn(est)
    assert model.head.kind == "identity"
    _assert_close(_raw(model, X), est.predict(X)[:, None])


@pytest.mark.parametrize(
    ("loss", "n_classes", "kind"),
    [
        ("hinge", 2, "decision"),
        ("hinge", 3, "decision"),
        ("perceptron", 3, "decision"),
        ("log_loss", 2, "sigmoid"),
        ("log_loss", 3, "callable"),
        ("modified_huber", 2, "callable"),
        ("modified_huber", 3, "callable"),
    ],
)
def test_sgd_classifier(loss, n_classes, kind):
    X, y = _data(n_classes=n_classes)
    est = _fit(SGDClassifier(loss=loss, random_state=0, max_iter=50), X, y)
    model = torch_model_from_sklearn(est)
    assert model.head.kind == kind
    np.testing.assert_array_equal(model.classes, est.classes_)
    _assert_close(_raw(model, X), est.decision_function(X).reshape(len(X), -1))
    if kind == "decision":
        assert not hasattr(est, "predict_proba")
        with pytest.raises(ValueError):
            model.head.probabilities(torch.zeros(1, 1))
    else:
        _assert_close(_proba(model, X), est.predict_proba(X))


def test_sgd_modified_huber_rows_with_all_zero_probabilities_become_uniform():
    X, y = _data(n_classes=3)
    est = _fit(SGDClassifier(loss="modified_huber", random_state=0, max_iter=50), X, y)
    # Shift so that about half the rows have every score <= -1, where sklearn falls back to uniform probabilities.
    est.intercept_ = est.intercept_ - (np.median(est.decision_function(X).max(axis=1)) + 1.0)
    uniform = (est.decision_function(X) <= -1).all(axis=1)
    assert 10 < uniform.sum() < len(X) - 10
    model = torch_model_from_sklearn(est)
    proba = _proba(model, X)
    _assert_close(proba, est.predict_proba(X))
    _assert_close(proba[uniform], np.full((uniform.sum(), 3), 1 / 3))
    assert np.abs(proba[~uniform] - 1 / 3).max() > 0.1
    points = torch.from_numpy(X).requires_grad_(True)
    (grad,) = torch.autograd.grad(model.head.probabilities(model.module(points))[:, 0].sum(), points)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_mlp_classifier(activation, n_classes):
    X, y = _data(n_classes=n_classes)
    est = _fit(MLPClassifier(hidden_layer_sizes=(6, 5), activation=activation, max_iter=30, random_state=0), X, y)
    model = torch_model_from_sklearn(est)
    assert model.head.kind == ("sigmoid" if n_classes == 2 else "softmax")
    np.testing.assert_array_equal(model.classes, est.classes_)
    raw = _raw(model, X)
    assert raw.shape == (len(X), 1 if n_classes == 2 else n_classes)
    proba = est.predict_proba(X)
    _assert_close(_proba(model, X), proba)
    if n_classes == 2:
        _assert_close(raw[:, 0], np.log(proba[:, 1]) - np.log(proba[:, 0]))
    else:
        _assert_close(raw - raw.mean(axis=1, keepdims=True), np.log(proba) - np.log(proba).mean(axis=1, keepdims=True))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("n_targets", [1, 2])
def test_mlp_regressor(activation, n_targets):
    X, y = _data(n_targets=n_targets)
    est = _fit(MLPRegressor(hidden_layer_sizes=(7,), activation=activation, max_iter=30, random_state=0), X, y)
    model = torch_model_from_sklearn(est)
    assert model.head.kind == "identity"
    assert model.classes is None
    _assert_close(_raw(model, X), est.predict(X).reshape(len(X), -1))


def test_mlp_relu_layers_are_relu_modules():
    X, y = _data(n_classes=3)
    est = _fit(MLPClassifier(hidden_layer_sizes=(6, 5, 4), activation="relu", max_iter=20, random_state=0), X, y)
    module = torch_model_from_sklearn(est).module
    relus = [m for m in module.modules() if isinstance(m, torch.nn.ReLU)]
    assert len(relus) == 3 and len({id(m) for m in relus}) == 3
    calls = []
    handles = [m.register_full_backward_hook(lambda *args: calls.append(1)) for m in relus]
    points = torch.from_numpy(X).requires_grad_(True)
    torch.autograd.grad(module(points).sum(), points)
    for handle in handles:
        handle.remove()
    assert len(calls) == 3


def test_mlp_multilabel_is_refused():
    X, _ = _data()
    y = (X[:, :2] > 0).astype(int)
    est = _fit(MLPClassifier(hidden_layer_sizes=(4,), max_iter=10, random_state=0), X, y)
    with pytest.raises(TypeError, match="multilabel"):
        torch_model_from_sklearn(est)


def test_linear_gradients_are_coefficients():
    X, y = _data(n_classes=3)
    est = _fit(LogisticRegression(), X, y)
    module = torch_model_from_sklearn(est).module
    points = torch.from_numpy(X[:5]).requires_grad_(True)
    (grad,) = torch.autograd.grad(module(points)[:, 2].sum(), points)
    _assert_close(grad.numpy(), np.tile(est.coef_[2], (5, 1)))


@pytest.mark.parametrize(
    "estimator",
    [
        LogisticRegression(),
        SGDClassifier(loss="log_loss", random_state=0, max_iter=50),
        MLPClassifier(hidden_layer_sizes=(5,), activation="relu", max_iter=20, random_state=0),
    ],
    ids=lambda e: type(e).__name__,
)
def test_pickle_round_trip_and_float64(estimator):
    X, y = _data(n_classes=3)
    model = torch_model_from_sklearn(_fit(estimator, X, y))
    params = list(model.module.parameters())
    assert params and all(p.dtype == torch.float64 and not p.requires_grad for p in params)
    restored = pickle.loads(pickle.dumps(model))
    _assert_close(_raw(restored, X), _raw(model, X))
    _assert_close(_proba(restored, X), estimator.predict_proba(X))
    assert restored.head.kind == model.head.kind


def test_float32_input_is_computed_in_float64():
    X, y = _data()
    est = Ridge().fit(X, y)
    out = torch_model_from_sklearn(est).module(torch.from_numpy(X).float())
    assert out.dtype == torch.float64
    _assert_close(out.detach().numpy()[:, 0], est.predict(X.astype(np.float32)))


@pytest.mark.parametrize(
    "estimator", [LogisticRegression(), Ridge(), SGDClassifier(), MLPRegressor()], ids=lambda e: type(e).__name__
)
def test_unfitted_raises_not_fitted(estimator):
    assert is_supported_sklearn_model(estimator)
    with pytest.raises(NotFittedError):
        torch_model_from_sklearn(estimator)


def test_tree_ensemble_points_to_tree_explainer():
    X, y = _data(n_classes=2)
    est = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    assert not is_supported_sklearn_model(est)
    with pytest.raises(TypeError, match="TreeExplainer") as info:
        torch_model_from_sklearn(est)
    message = str(info.value)
    assert "RandomForestClassifier" in message and "not supported" in message
    assert "LogisticRegression" in message and "MLPRegressor" in message
    assert "KernelExplainer" not in message


@pytest.mark.parametrize("estimator", [KNeighborsClassifier(n_neighbors=3), SVC()], ids=lambda e: type(e).__name__)
def test_other_models_point_to_kernel_explainer(estimator):
    X, y = _data(n_classes=2)
    est = estimator.fit(X, y)
    assert not is_supported_sklearn_model(est)
    with pytest.raises(TypeError, match="KernelExplainer") as info:
        torch_model_from_sklearn(est)
    assert type(est).__name__ in str(info.value)
    assert "TreeExplainer" not in str(info.value)


def test_unsupported_check_comes_before_fit_check():
    with pytest.raises(TypeError, match="KNeighborsClassifier"):
        torch_model_from_sklearn(KNeighborsClassifier())

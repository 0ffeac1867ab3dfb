"""Fitted scikit-learn linear models and multi-layer perceptrons rebuilt exactly as float64 torch modules.

Only models whose prediction is a differentiable function of the input qualify; anything else is pointed to SHAP.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._base import TorchModel
from ._heads import OutputHead

_LINEAR_REGRESSORS = (LinearRegression, Ridge, Lasso, ElasticNet, SGDRegressor)
_LINEAR_CLASSIFIERS = (LogisticRegression, SGDClassifier)
_MLPS = (MLPClassifier, MLPRegressor)
_SUPPORTED = _LINEAR_REGRESSORS + _LINEAR_CLASSIFIERS + _MLPS

# Modules of models that shap.TreeExplainer reads exactly; everything else gets the model-agnostic KernelExplainer.
_TREE_MODULES = (
    "sklearn.tree",
    "sklearn.ensemble._forest",
    "sklearn.ensemble._gb",
    "sklearn.ensemble._hist_gradient_boosting",
    "sklearn.ensemble._iforest",
    "xgboost",
    "lightgbm",
    "catboost",
)

# One fresh module per layer: other code overrides the backward pass of nn.ReLU instances through hooks.
_ACTIVATIONS = {"identity": nn.Identity, "logistic": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


def _frozen(values: np.ndarray) -> nn.Parameter:
    # Parameters rather than buffers so ``module.parameters()`` still reports device and dtype; a fitted model is fixed.
    return nn.Parameter(torch.tensor(np.asarray(values, dtype=np.float64)), requires_grad=False)


class LinearScores(nn.Module):
    """Affine map ``x @ weight.T + bias``: the decision function or prediction of every linear model.

    Parameters
    ----------
    weight : array-like of shape (k, d) or (d,)
        One row of coefficients per output.
    bias : array-like of shape (k,) or scalar
        Intercepts, broadcast to the ``k`` outputs.
    """

    def __init__(self, weight, bias) -> None:
        super().__init__()
        if hasattr(weight, "toarray"):  # coef_ after ``sparsify()``
            weight = weight.toarray()
        weight = np.atleast_2d(np.asarray(weight, dtype=np.float64))
        self.weight = _frozen(weight)
        self.bias = _frozen(np.broadcast_to(np.asarray(bias, dtype=np.float64).ravel(), (weight.shape[0],)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.weight.dtype) @ self.weight.T + self.bias


class MLPScores(nn.Module):
    """A scikit-learn multi-layer perceptron up to, not including, its output activation.

    Parameters
    ----------
    coefs : list of ndarray
        ``coefs_`` of the estimator, layer ``i`` of shape (n_in, n_out).
    intercepts : list of ndarray
        ``intercepts_`` of the estimator.
    activation : {"identity", "logistic", "tanh", "relu"}
        Activation of every hidden layer.
    """

    def __init__(self, coefs, intercepts, activation: str) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, (coef, intercept) in enumerate(zip(coefs, intercepts, strict=True)):
            if i:
                layers.append(_ACTIVATIONS[activation]())
            layers.append(LinearScores(np.asarray(coef).T, intercept))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class OvRProbabilities(nn.Module):
    """One-vs-rest class scores to probabilities, as scikit-learn's ``predict_proba`` computes them.

    Each class score becomes a binary probability (``"logistic"``: ``sigmoid(s)``; ``"modified_huber"``:
    ``(clip(s, -1, 1) + 1) / 2``). One score column is a binary model: ``[1 - p, p]``. Several columns are normalised
    to sum to one, and rows where every probability is zero become uniform, as in scikit-learn.

    Parameters
    ----------
    link : {"logistic", "modified_huber"}
        How one class score becomes a binary probability.
    """

    def __init__(self, link: str) -> None:
        super().__init__()
        if link not in ("logistic", "modified_huber"):
            raise ValueError(f"link must be 'logistic' or 'modified_huber', got {link!r}.")
        self.link = link

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        scores = scores.reshape(scores.shape[0], -1)
        p = torch.sigmoid(scores) if self.link == "logistic" else (scores.clamp(-1.0, 1.0) + 1.0) / 2.0
        if p.shape[1] == 1:
            return torch.cat((1 - p, p), dim=1)
        total = p.sum(dim=1, keepdim=True)
        all_zero = total == 0
        # Replacing before dividing, not after, keeps the gradient of all-zero rows at 0 instead of NaN.
        p = torch.where(all_zero, torch.ones_like(p), p)
        return p / torch.where(all_zero, torch.full_like(total, p.shape[1]), total)


def is_supported_sklearn_model(estimator) -> bool:
    """Whether :func:`torch_model_from_sklearn` can rebuild ``estimator`` (fitted or not).

    Parameters
    ----------
    estimator : object
        Any object.

    Returns
    -------
    bool
        True for the linear models and multi-layer perceptrons listed in :func:`torch_model_from_sklearn`.
    """
    return isinstance(estimator, _SUPPORTED)


def _unsupported_message(estimator) -> str:
    name = type(estimator).__name__
    module = type(estimator).__module__ or ""
    if module.startswith(_TREE_MODULES):
        advice = "For tree ensembles, use shap.TreeExplainer, which computes exact Shapley values."
    else:
        advice = "For models without input gradients, use a model-agnostic method such as shap.KernelExplainer."
    supported = ", ".join(cls.__name__ for cls in _SUPPORTED)
    return (
        f"{name} is not supported: its prediction is not a differentiable function of the input, or it cannot be "
        f"rebuilt exactly as a torch module, so Integrated Gradients does not apply. {advice} "
        f"Supported scikit-learn models: {supported}; or pass a differentiable torch.nn.Module."
    )


def _logistic_head(estimator: LogisticRegression, module: LinearScores) -> tuple[OutputHead, LinearScores]:
    # Current scikit-learn has no ``multi_class``: predict_proba is sigmoid(decision) for two classes and the softmax of
    # the decision function for more (liblinear refuses multiclass targets). Models fitted by earlier releases keep
    # their ``multi_class`` and, with it, that release's rule, reproduced here.
    multi_class = getattr(estimator, "multi_class", "deprecated")
    binary = module.weight.shape[0] == 1
    ovr = multi_class in ("ovr", "warn") or (
        multi_class in ("auto", "deprecated") and (binary or estimator.solver == "liblinear")
    )
    if binary and ovr:
        return OutputHead("sigmoid"), module
    if ovr:
        # Raw stays the decision function; the OvR normalisation only exists in probability space.
        return OutputHead("callable", proba=OvRProbabilities("logistic")), module
    if binary:
        # Old binary multinomial: softmax of [-d, d], i.e. sigmoid(2d), so raw becomes those two columns.
        weight, bias = module.weight.numpy(), module.bias.numpy()
        return OutputHead("softmax"), LinearScores(np.vstack((-weight, weight)), np.concatenate((-bias, bias)))
    return OutputHead("softmax"), module


def _sgd_head(estimator: SGDClassifier, binary: bool) -> OutputHead:
    if estimator.loss == "log_loss":
        return OutputHead("sigmoid") if binary else OutputHead("callable", proba=OvRProbabilities("logistic"))
    if estimator.loss == "modified_huber":
        # Has predict_proba, also for two classes; its clip is not a sigmoid, so it needs the callable head.
        return OutputHead("callable", proba=OvRProbabilities("modified_huber"))
    return OutputHead("decision")


def torch_model_from_sklearn(estimator) -> TorchModel:
    """Rebuild a fitted differentiable scikit-learn model exactly as a float64 torch module.

    Parameters
    ----------
    estimator : fitted estimator
        One of ``LogisticRegression``, ``SGDClassifier``, ``LinearRegression``, ``Ridge``, ``Lasso``, ``ElasticNet``,
        ``SGDRegressor``, ``MLPClassifier``, ``MLPRegressor`` (or a subclass).

    Returns
    -------
    TorchModel
        Its module maps a float64 tensor (n, d) to raw outputs (n, k):

        - ``LogisticRegression``: the decision function; head ``"sigmoid"`` for two classes (k = 1), ``"softmax"``
          for more. Models fitted one-vs-rest by releases with ``multi_class`` get ``"callable"`` (OvR
          normalisation); binary ones fitted multinomial get ``"softmax"`` over the two columns ``[-d, d]``, as their
          ``predict_proba`` computes it.
        - ``SGDClassifier``: the decision function; head ``"sigmoid"`` for binary ``log_loss``, ``"callable"``
          (OvR-normalised, as ``predict_proba``) for multiclass ``log_loss`` and for ``modified_huber``, else
          ``"decision"`` (class scores without probabilities).
        - linear regressors and ``MLPRegressor``: ``predict`` as (n, k), head ``"identity"``.
        - ``MLPClassifier``: the output layer's pre-activation; ``"sigmoid"`` for two classes, else ``"softmax"``.

    Raises
    ------
    TypeError
        For any other model, with a pointer to the SHAP explainer that suits it; for multilabel ``MLPClassifier``.
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    """
    if not is_supported_sklearn_model(estimator):
        raise TypeError(_unsupported_message(estimator))
    check_is_fitted(estimator)
    name = type(estimator).__name__
    classes = np.asarray(estimator.classes_) if hasattr(estimator, "classes_") else None

    if isinstance(estimator, _MLPS):
        module = MLPScores(estimator.coefs_, estimator.intercepts_, estimator.activation)
        if isinstance(estimator, MLPRegressor):
            head = OutputHead("identity")
        elif estimator.out_activation_ == "softmax":
            head = OutputHead("softmax")
        elif estimator.n_outputs_ == 1:
            head = OutputHead("sigmoid")
        else:
            raise TypeError(
                f"{name} fitted on a multilabel target is not supported: its outputs are independent sigmoids, not "
                "class probabilities that sum to one. Explain one label at a time with a model fitted on that label."
            )
        return TorchModel(module=module, head=head, classes=classes, description=name)

    module = LinearScores(estimator.coef_, estimator.intercept_)
    if isinstance(estimator, LogisticRegression):
        head, module = _logistic_head(estimator, module)
    elif isinstance(estimator, SGDClassifier):
        head = _sgd_head(estimator, binary=module.weight.shape[0] == 1)
    else:
        head = OutputHead("identity")
    return TorchModel(module=module, head=head, classes=classes, description=name)

"""Model adapters: every supported model becomes raw rows → encoded matrix → torch module → head."""

from __future__ import annotations

import torch
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._base import ModelAdapter, TorchModel
from ._heads import OutputHead
from ._torch import is_skorch_net, settle_head, torch_model_from_module, torch_model_from_skorch

__all__ = ["ModelAdapter", "OutputHead", "TorchModel", "adapt_model", "settle_head"]

_ACCEPTED = (
    "a torch.nn.Module, a fitted skorch net (NeuralNetClassifier, NeuralNetBinaryClassifier, NeuralNetRegressor), "
    "a fitted scikit-learn linear model or MLP, or a fitted Pipeline ending in one of those"
)


def _torch_model(model) -> TorchModel:
    if isinstance(model, torch.nn.Module):
        return torch_model_from_module(model)
    if is_skorch_net(model):
        return torch_model_from_skorch(model)
    from ._sklearn import is_supported_sklearn_model, torch_model_from_sklearn

    if is_supported_sklearn_model(model) or hasattr(model, "fit"):
        # Unsupported scikit-learn models get a TypeError that points to the right SHAP explainer.
        return torch_model_from_sklearn(model)
    raise TypeError(f"model must be {_ACCEPTED}; got {type(model).__name__}.")


def adapt_model(model) -> ModelAdapter:
    """The adapter for ``model``.

    Raises
    ------
    TypeError
        If the model is of a kind skig cannot differentiate, with a pointer to what can explain it.
    NotFittedError
        If the model (or a pipeline step) is not fitted.
    """
    if not isinstance(model, Pipeline):
        return ModelAdapter(_torch_model(model))
    final = model.steps[-1][1]
    if final is None or final == "passthrough":
        raise TypeError("the pipeline's last step must be a differentiable model, got 'passthrough'.")
    preprocessor = model[:-1] if len(model.steps) > 1 else None
    if preprocessor is not None:
        for name, step in preprocessor.steps:
            if step is None or step == "passthrough":
                continue
            try:
                check_is_fitted(step)
            except NotFittedError as error:
                raise NotFittedError(f"pipeline step {name!r} ({type(step).__name__}) is not fitted.") from error
    torch_model = _torch_model(final)
    torch_model.description = f"Pipeline({torch_model.description})"
    return ModelAdapter(torch_model, preprocessor)

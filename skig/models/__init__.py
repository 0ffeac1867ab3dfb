"""Model adapters: every supported model becomes raw rows → encoded matrix → torch module → head."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._arguments import ArgumentsModule, InputLayout
from ._base import ModelAdapter, PredictionOnly, TorchModel, first_output, probe
from ._forward_checks import check_single_input
from ._heads import OutputHead
from ._state import ModelChangedError, ModelState, model_state
from ._tabnet import is_tabnet, torch_model_from_tabnet
from ._torch import is_skorch_net, settle_head, torch_model_from_module, torch_model_from_skorch

__all__ = [
    "ModelAdapter",
    "ModelChangedError",
    "ModelState",
    "OutputHead",
    "PredictionOnly",
    "TorchModel",
    "adapt_model",
    "check_arguments",
    "check_supported",
    "first_output",
    "input_columns",
    "model_input_columns",
    "model_state",
]

_ACCEPTED = (
    "a torch.nn.Module, a fitted skorch net (NeuralNetClassifier, NeuralNetBinaryClassifier, NeuralNetRegressor), "
    "a fitted pytorch-tabnet TabNetClassifier or TabNetRegressor, a fitted scikit-learn linear model or MLP, or a "
    "fitted Pipeline ending in one of those"
)


def _torch_model(model, inputs: dict | None = None) -> TorchModel:
    if isinstance(model, torch.nn.Module) or is_skorch_net(model):
        is_module = isinstance(model, torch.nn.Module)
        torch_model = torch_model_from_module(model) if is_module else torch_model_from_skorch(model)
        if inputs is None:  # with inputs=, each forward argument gets its columns
            check_single_input(torch_model.module, torch_model.description)
        return torch_model
    if is_tabnet(model):
        return torch_model_from_tabnet(model)
    from ._sklearn import is_supported_sklearn_model, torch_model_from_sklearn

    if is_supported_sklearn_model(model) or hasattr(model, "fit"):
        # Unsupported scikit-learn models get a TypeError that points to the right SHAP explainer.
        return torch_model_from_sklearn(model)
    raise TypeError(f"model must be {_ACCEPTED}; got {type(model).__name__}.")


def _split(model) -> tuple[object, object | None]:
    """The differentiable final model and the fitted preprocessing before it (None without a pipeline)."""
    if not isinstance(model, Pipeline):
        return model, None
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
    return final, preprocessor


def check_supported(model) -> None:
    """Raise the TypeError (or NotFittedError) :func:`adapt_model` would, from the model's type alone, with no data."""
    _torch_model(_split(model)[0])


def model_input_columns(model) -> np.ndarray | None:
    """The raw columns the model reads, in its order, when it knows them (``feature_names_in_``), else None.

    A Pipeline's own ``feature_names_in_``, or its first step's; a model fitted on a DataFrame has them too.
    """
    candidates = [model]
    if isinstance(model, Pipeline):
        candidates += [step for _, step in model.steps if step not in (None, "passthrough")][:1]
    for candidate in candidates:
        names = getattr(candidate, "feature_names_in_", None)
        if names is not None:
            return np.asarray(names, dtype=object)
    return None


def check_arguments(model, inputs: dict | None) -> None:
    """Before reading any row: a module whose forward takes several tensors needs ``inputs=``."""
    _torch_model(_split(model)[0], inputs)


def input_columns(inputs: dict, X) -> np.ndarray:
    """The columns ``inputs=`` names, in argument order (the flat matrix's order); X must be a DataFrame."""
    import pandas as pd

    if not isinstance(X, pd.DataFrame):
        raise TypeError(
            f"inputs= names the DataFrame columns each forward argument reads, but X is a {type(X).__name__}; pass "
            "X as a DataFrame with those columns."
        )
    return np.asarray([column for spec in inputs.values() for column in spec], dtype=object)


def _with_arguments(torch_model: TorchModel, final, inputs: dict | None, reference_rows):
    """The module called with ``inputs=``'s keyword arguments, and the transformer giving its flat matrix."""
    if inputs is None:
        return torch_model, None
    if isinstance(final, Pipeline) or not isinstance(torch_model.module, torch.nn.Module):
        raise TypeError("inputs= maps forward arguments of a torch module or skorch net; this model takes one matrix.")
    layout = InputLayout(inputs, reference_rows, torch_model.module, torch_model.description)
    torch_model.module = ArgumentsModule(torch_model.module, layout.arguments)
    return torch_model, layout.transformer(reference_rows)


def adapt_model(model, reference_rows, *, inputs: dict | None = None, fit_rows=None) -> ModelAdapter:
    """The complete adapter for ``model``: preprocessing, module, head settled on a probe of ``reference_rows``.

    Parameters
    ----------
    model : torch.nn.Module, skorch net, scikit-learn model or Pipeline
        The fitted model.
    reference_rows : DataFrame or ndarray
        A few validated raw rows to probe the model with.
    inputs : dict or None, default=None
        The explainer's ``inputs=``: forward arguments by name and the columns each reads.
    fit_rows : DataFrame or None, default=None
        All reference rows, from which ``inputs=`` learns each categorical column's categories.

    Raises
    ------
    TypeError
        If the model is of a kind skig cannot differentiate, with a pointer to what can explain it.
    NotFittedError
        If the model (or a pipeline step) is not fitted.
    ValueError
        If a classifier's classes do not match its outputs.
    """
    final, preprocessor = _split(model)
    torch_model = _torch_model(final, inputs)
    if preprocessor is not None:
        torch_model.description = f"Pipeline({torch_model.description})"
    torch_model, arguments_preprocessor = _with_arguments(
        torch_model, model, inputs, reference_rows if fit_rows is None else fit_rows
    )
    preprocessor = preprocessor if arguments_preprocessor is None else arguments_preprocessor
    partial = ModelAdapter(torch_model, n_outputs=0, preprocessor=preprocessor)
    raw = probe(torch_model, partial.encode(reference_rows))
    width = raw.reshape(raw.shape[0], -1).shape[1]
    if isinstance(final, torch.nn.Module):
        torch_model = settle_head(torch_model, width)
    n_outputs = torch_model.head.n_outputs(raw)
    classes = torch_model.classes
    if classes is None and is_skorch_net(final) and torch_model.head.kind != "identity":
        torch_model.classes = classes = np.arange(n_outputs)
    if classes is not None and len(classes) != n_outputs:
        raise ValueError(
            f"{torch_model.description} has {len(classes)} classes {list(classes)[:10]} but its module gives "
            f"{n_outputs} class outputs; refit the net (classes_ must list one label per output) or pass a model "
            "whose classes match its outputs."
        )
    return ModelAdapter(torch_model, n_outputs=n_outputs, preprocessor=preprocessor)

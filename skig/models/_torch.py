"""Adapters for models that already are torch: plain ``torch.nn.Module``s and skorch nets."""

from __future__ import annotations

import functools

import numpy as np
import torch
from sklearn.base import is_classifier
from sklearn.exceptions import NotFittedError

from ._base import TorchModel
from ._heads import OutputHead


def torch_model_from_module(module: torch.nn.Module) -> TorchModel:
    """A plain module is taken to return logits: sigmoid for one output, softmax for several.

    The output count is only known after a forward pass, so the head is settled by :func:`settle_head`.
    """
    return TorchModel(module=module, head=OutputHead("softmax"), classes=None, description=type(module).__name__)


def settle_head(model: TorchModel, n_outputs: int) -> TorchModel:
    """Give a plain module with a single output the sigmoid head (its one output is a positive-class logit)."""
    if model.classes is None and model.head.kind == "softmax" and n_outputs == 1:
        return TorchModel(model.module, OutputHead("sigmoid"), None, model.description)
    return model


def _is_softmax(nonlinearity) -> bool:
    return (
        isinstance(nonlinearity, functools.partial)
        and nonlinearity.func in (torch.softmax, torch.nn.functional.softmax)
        and nonlinearity.keywords.get("dim", -1) in (-1, 1)
    )


def _head_from_skorch(net) -> OutputHead:
    # Decide what the module returns exactly as skorch does when it builds predict_proba from the module output.
    from skorch.utils import _identity, _make_2d_probs, _sigmoid_then_2d

    if not is_classifier(net):
        return OutputHead("identity")
    nonlinearity = net._get_predict_nonlinearity()
    if _is_softmax(nonlinearity):
        return OutputHead("softmax")
    if nonlinearity is _sigmoid_then_2d:
        return OutputHead("sigmoid")
    if nonlinearity in (_identity, _make_2d_probs):
        return OutputHead("probability")
    return OutputHead("callable", proba=nonlinearity)


def torch_model_from_skorch(net) -> TorchModel:
    """The fitted module of a skorch net, with the head its ``predict_proba`` implies."""
    try:
        net.check_is_fitted()
    except NotFittedError as error:
        raise NotFittedError(
            f"This {type(net).__name__} is not fitted yet: call its fit (or initialize) before explaining it."
        ) from error
    classes = None
    if is_classifier(net):
        # A net fitted without inferring its classes has none: adapt_model numbers the outputs instead.
        known = getattr(net, "classes_", None)
        classes = None if known is None else np.asarray(known)
    return TorchModel(module=net.module_, head=_head_from_skorch(net), classes=classes, description=type(net).__name__)


def is_skorch_net(model) -> bool:
    try:
        from skorch import NeuralNet
    except ImportError:  # pragma: no cover - skorch is a dependency
        return False
    return isinstance(model, NeuralNet)

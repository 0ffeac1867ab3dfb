"""pytorch-tabnet's ``TabNetClassifier`` and ``TabNetRegressor``: their fitted network is a torch module that reads
one float matrix (categorical columns as codes, looked up by its own embedding generator) and returns
``(output, sparsity loss)``."""

from __future__ import annotations

import numpy as np
from sklearn.exceptions import NotFittedError

from ._base import TorchModel
from ._heads import OutputHead


def is_tabnet(model) -> bool:
    """Whether ``model`` is a pytorch-tabnet estimator (without importing pytorch-tabnet)."""
    return any(
        cls.__module__.startswith("pytorch_tabnet") and cls.__name__ == "TabModel" for cls in type(model).__mro__
    )


def torch_model_from_tabnet(model) -> TorchModel:
    """The fitted network, with a softmax head over its class logits (as ``predict_proba``) or the identity."""
    network = getattr(model, "network", None)
    if network is None:
        raise NotFittedError(f"This {type(model).__name__} is not fitted yet: call its fit before explaining it.")
    classes = getattr(model, "classes_", None)
    if classes is not None:
        return TorchModel(network, OutputHead("softmax"), np.asarray(classes), type(model).__name__)
    return TorchModel(network, OutputHead("identity"), None, type(model).__name__)

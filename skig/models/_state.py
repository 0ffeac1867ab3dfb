"""What a model adapter is built from, as a value that compares equal exactly while the model is unchanged.

The explainer keeps the state its adapter was built from, and compares it with the model's state at each explanation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from ._torch import is_skorch_net

# Nesting past this is not a fitted estimator's attributes (a cycle, or a data structure): compared by identity.
_MAX_DEPTH = 12


class ModelChangedError(ValueError):
    """The model changed since ``fit`` in a way that what the explainer learned there no longer fits it."""


@dataclass(frozen=True)
class ModelState:
    """The parts of a model an explainer's fitted state depends on, each comparable with ``==``.

    Attributes
    ----------
    preprocessing : tuple of (str, object)
        Each preprocessing step of a Pipeline by name, with its parameters and fitted attributes (by value: arrays
        by a digest of their bytes); empty without a Pipeline.
    final : object
        The differentiable model: for a torch module or a skorch net, the module object with its structure
        (submodules, and parameter and buffer objects with their shapes) and, for a skorch net, what decides its
        output head and classes; parameter values are not part of it, since every explanation copies them afresh.
        For a scikit-learn model, its parameters and fitted attributes by value, since skig rebuilds it in torch.
    """

    preprocessing: tuple
    final: object

    def preprocessing_changes(self, before: ModelState) -> list[str]:
        """The preprocessing that differs from ``before``, in words (empty when it is the same)."""
        steps_before = dict(before.preprocessing)
        names = [name for name, _ in self.preprocessing]
        if names != list(steps_before):
            return [f"the pipeline's preprocessing steps ({list(steps_before)} at fit, {names} now)"]
        return [f"pipeline step {name!r}" for name, state in self.preprocessing if state != steps_before[name]]


def model_state(model) -> ModelState:
    """The :class:`ModelState` of ``model`` now: cheap for torch modules and skorch nets (no parameter values)."""
    final, steps = model, []
    if isinstance(model, Pipeline):
        final = model.steps[-1][1]
        steps = [(name, _value_state(step)) for name, step in model.steps[:-1]]
    return ModelState(tuple(steps), _final_state(final))


def _final_state(final) -> object:
    if isinstance(final, torch.nn.Module):
        return _module_structure(final)
    if is_skorch_net(final):
        module = getattr(final, "module_", None)
        return (
            "skorch",
            type(final),
            None if module is None else _module_structure(module),
            _Same(getattr(final, "criterion_", None)),
            _value_state(final.predict_nonlinearity),
            _value_state(getattr(final, "classes_", None)),
        )
    return _value_state(final)


def _module_structure(module: torch.nn.Module) -> tuple:
    """The module and every submodule, parameter and buffer as objects (with shapes): any replacement changes it."""
    return (
        _Same(module),
        tuple((name, _Same(sub)) for name, sub in module.named_modules()),
        tuple(
            (name, _Same(tensor), tuple(tensor.shape), tensor.dtype, tensor.device)
            for name, tensor in (*module.named_parameters(), *module.named_buffers())
        ),
    )


class _Same:
    """Equal to another only when holding the same object: for what has no value to compare (functions, modules).

    Holding the object keeps it alive, so its identity cannot pass to a new object while a state refers to it.
    """

    __slots__ = ("obj",)

    def __init__(self, obj) -> None:
        self.obj = obj

    def __eq__(self, other) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


def _digest(array: np.ndarray) -> tuple:
    return ("array", array.dtype.str, array.shape, hashlib.blake2b(np.ascontiguousarray(array).data).digest())


def _value_state(obj, depth: int = 0) -> object:
    """``obj`` as a comparable value: estimators by their attributes, arrays by a digest, the rest by identity."""
    if obj is None or isinstance(obj, (bool, int, str, bytes, type)):
        return obj
    if isinstance(obj, float):
        return ("float", obj.hex())  # NaN (a common missing_values) must equal itself
    if depth > _MAX_DEPTH:
        return _Same(obj)
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            return ("objects", obj.shape, tuple(_value_state(item, depth + 1) for item in obj.ravel()))
        return _digest(obj)
    if isinstance(obj, np.generic):
        return _digest(np.asarray(obj))
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, tuple(_value_state(item, depth + 1) for item in obj))
    if isinstance(obj, dict):
        return ("dict", tuple((_value_state(key), _value_state(value, depth + 1)) for key, value in obj.items()))
    if isinstance(obj, BaseEstimator):
        attributes = sorted(vars(obj).items())
        return (type(obj), tuple((name, _value_state(value, depth + 1)) for name, value in attributes))
    if hasattr(obj, "tocsr") and hasattr(obj, "data"):  # scipy sparse matrices
        csr = obj.tocsr()
        return ("sparse", csr.shape, _digest(csr.data), _digest(csr.indices), _digest(csr.indptr))
    return _Same(obj)

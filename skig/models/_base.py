"""The one interface every model adapter offers to the explainer.

An adapter turns raw rows into the encoded float matrix the torch module reads, calls the module, and knows what
it returns: its output head, classes and number of outputs. It is complete when built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .._validation import is_number
from ..engine._gradients import row_padded
from ._arguments import CategoriesError
from ._forward_checks import inplace_message, is_inplace_error
from ._heads import OutputHead

_DIFFERENTIABLE_HINT = (
    "skig needs a differentiable torch model. For tree ensembles use shap.TreeExplainer, for other models "
    "shap.KernelExplainer."
)


@dataclass
class TorchModel:
    """A differentiable model as the engine sees it: a module, what it returns, and its classes.

    Parameters
    ----------
    module : torch.nn.Module
        Maps an encoded float tensor (n, d) to raw outputs (n, k) or (n,) (or a tuple whose first item is that,
        as skorch modules may return).
    head : OutputHead
        What the raw outputs are (logits, probabilities, regression outputs, ...).
    classes : ndarray or None
        Class labels in output order for classifiers; None when outputs are addressed by index only.
    description : str
        A short name of the user's model for messages and reports.
    """

    module: torch.nn.Module
    head: OutputHead
    classes: np.ndarray | None = None
    description: str = "torch.nn.Module"


def first_output(raw):
    """The prediction among what a module returns (skorch's convention: a tuple has its prediction first)."""
    return raw[0] if isinstance(raw, (tuple, list)) else raw


class PredictionOnly(torch.nn.Module):
    """A module returning only its prediction (:func:`first_output`), for code that calls modules directly."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return first_output(self.module(points))


@dataclass
class ModelAdapter:
    """Raw rows → encoded matrix → torch module → explained scalar, with the map from encoded to raw columns.

    Built by :func:`skig.models.adapt_model`, which probes the module on a few rows.

    Parameters
    ----------
    model : TorchModel
        The differentiable part, its head settled on the module's output width.
    n_outputs : int
        Number of explainable outputs (classes for a classifier).
    preprocessor : fitted scikit-learn transformer or None
        Runs on raw rows before the model (a pipeline's steps before its last); None for models fed directly.
    """

    model: TorchModel
    n_outputs: int
    preprocessor: object | None = None

    @property
    def numeric_input(self) -> bool:
        """Whether the module reads the raw rows directly, so they must be finite numbers."""
        return self.preprocessor is None

    @property
    def module(self) -> torch.nn.Module:
        return self.model.module

    @property
    def head(self) -> OutputHead:
        return self.model.head

    @property
    def classes(self) -> np.ndarray | None:
        return self.model.classes

    @property
    def description(self) -> str:
        return self.model.description

    def encode(self, X) -> np.ndarray:
        """The float64 matrix (n, d_encoded) that the module reads, from validated raw rows."""
        if self.preprocessor is not None:
            try:
                X = self.preprocessor.transform(X)
            except (TypeError, ValueError) as error:  # numpy's DTypePromotionError is a TypeError
                culprits = [] if isinstance(error, CategoriesError) else _unreadable_columns(X, error)
                if not culprits:
                    raise
                raise ValueError(
                    f"the pipeline's preprocessing failed on X's {'; '.join(culprits)}: "
                    f"{type(error).__name__}: {error}. Its transformers read these columns as they are: turn them "
                    "into what the pipeline was fitted on (e.g. dates into numbers such as days since a date) before "
                    "the pipeline, or add a transformer for them to it."
                ) from error
            if hasattr(X, "toarray"):
                X = X.toarray()
        X = _numeric_matrix(X)
        # Writable, so torch can wrap it without a copy (pandas hands out read-only views).
        return np.require(X, requirements=["W"])

    def feature_groups(self, feature_names: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each encoded column, the index of the raw column it comes from, and the encoded names."""
        if self.preprocessor is None:
            return np.arange(len(feature_names)), np.asarray(feature_names, dtype=object)
        from ._feature_mapping import encoded_feature_groups

        return encoded_feature_groups(self.preprocessor, feature_names)

    def output_space(self, output: str) -> str:
        """The output space explained: ``"auto"`` resolved, one the head lacks refused."""
        if output == "auto":
            return "logit" if self.classes is not None and "logit" in self.head.spaces else "raw"
        if output not in self.head.spaces:
            raise ValueError(
                f"output={output!r} is not available for {self.description}, which has no class probabilities; "
                f"use one of {list(self.head.spaces)}."
            )
        return output

    def raw_fn(self, module: torch.nn.Module):
        """``raw(points) -> (m, k)``: what ``module`` (this model or a private copy of it) predicts."""

        def raw(points: torch.Tensor) -> torch.Tensor:
            return first_output(module(points))

        return raw

    def scalar_fn(self, space: str, module: torch.nn.Module):
        """``scalar(points, targets) -> (m,)``: the explained output of ``module`` in ``space``, per point's target."""
        raw, head = self.raw_fn(module), self.head.in_space(space)

        def scalar(points: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            return head(raw(points), targets)

        return scalar

    def predicted_classes(self, module: torch.nn.Module, inputs: torch.Tensor, max_points: int) -> torch.Tensor:
        """The head index each row predicts, in passes of at most ``max_points`` rows (padded as every pass is, so
        that a row's prediction does not depend on the rows beside it)."""
        raw = self.raw_fn(module)
        with torch.no_grad():
            chunks = [inputs[lo : lo + max_points] for lo in range(0, len(inputs), max_points)]
            parts = [self.head.predicted(raw(row_padded(chunk)))[: len(chunk)] for chunk in chunks]
        return torch.cat(parts)


def _unreadable_columns(X, error: Exception) -> list[str]:
    """The columns of ``X`` a preprocessing ``error`` comes from, described: dates and durations (which
    scikit-learn's transformers read as neither numbers nor categories), and columns holding a value it quotes."""
    if not isinstance(X, pd.DataFrame):
        return []
    types = pd.api.types
    described = [
        f"column {name!r} ({X[name].dtype}: dates or durations)"
        for name in X.columns
        if types.is_datetime64_any_dtype(X[name]) or types.is_timedelta64_dtype(X[name])
    ]
    quoted = {single or double for single, double in re.findall(r"'([^']+)'|\"([^\"]+)\"", str(error))}
    for name in X.columns:
        if not types.is_numeric_dtype(X[name]) and quoted:
            found = sorted(quoted & set(X[name].dropna().astype(str)))
            if found:
                described.append(f"column {name!r}, which holds {found[0]!r}")
    return described


def _numeric_matrix(X) -> np.ndarray:
    try:
        return np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as error:
        # Strings or dates reached the model: name the column so the user knows what to encode.
        matrix = np.asarray(X, dtype=object)
        for column in range(matrix.shape[1]):
            try:
                np.asarray(matrix[:, column], dtype=np.float64)
            except (TypeError, ValueError):
                example = next(value for value in matrix[:, column] if not is_number(value))
                raise ValueError(
                    f"encoded column {column} holds non-numeric values such as {example!r} "
                    f"({type(example).__name__}); the model needs numbers: encode it (e.g. OneHotEncoder for "
                    "categories, a FunctionTransformer for dates) before the model."
                ) from error
        raise


def probe(torch_model: TorchModel, encoded: np.ndarray, device: torch.device | None = None) -> torch.Tensor:
    """Run a few encoded rows through a private copy of the module with gradients, and return its raw output.

    Proves differentiability; the output's width settles the head.

    Raises
    ------
    TypeError
        If no gradient flows from the output to the input.
    ValueError
        If the module fails on the rows.
    """
    from ..engine import module_placement, private_copy
    from ..engine._inputs import LookupsInRange

    module = private_copy(torch_model.module, device)
    dtype, device = module_placement(module)
    inputs = torch.as_tensor(encoded, dtype=dtype, device=device).requires_grad_(True)
    with torch.enable_grad():
        try:
            # Codes outside an embedding table are named once the lookups are traced, not as torch's index error.
            with LookupsInRange():
                raw = first_output(module(inputs))
        except Exception as error:
            if is_inplace_error(error):  # e.g. ``x[:, 0] = 0`` on the input
                raise TypeError(inplace_message(torch_model.description, module, inputs, error)) from error
            if "requires grad" in str(error):  # e.g. ``x.numpy()`` inside forward
                raise TypeError(
                    f"{torch_model.description} fails when its input requires a gradient ({error}); "
                    f"{_DIFFERENTIABLE_HINT}"
                ) from error
            raise ValueError(
                f"the model failed on the reference rows ({encoded.shape[1]} encoded columns): {error}"
            ) from error
        if not isinstance(raw, torch.Tensor) or not raw.requires_grad:
            codes = getattr(module, "codes_hint", lambda: "")()  # inputs=: numbers passed as codes?
            raise TypeError(
                f"{torch_model.description} returned an output that does not depend differentiably on its input "
                f"(no gradient flows back); {codes + ' ' if codes else ''}{_DIFFERENTIABLE_HINT}"
            )
        try:  # one backward pass: autograd refuses some forwards only there (a tensor it needs changed in place)
            torch.autograd.grad(raw.sum(), inputs, allow_unused=True)
        except RuntimeError as error:
            if is_inplace_error(error):
                raise TypeError(inplace_message(torch_model.description, module, inputs, error)) from error
            if "derivative for" in str(error) and "not implemented" in str(error):  # e.g. torch.heaviside
                raise TypeError(
                    f"{torch_model.description} uses an operation torch has no gradient for ({error}): replace it "
                    f"with a differentiable one, or explain the model before it. {_DIFFERENTIABLE_HINT}"
                ) from error
            raise
    return raw.detach()

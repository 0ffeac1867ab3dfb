"""The one interface every model adapter offers to the explainer.

An adapter turns raw rows into the encoded float matrix the torch module reads, and knows what the module returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._heads import OutputHead


@dataclass
class TorchModel:
    """A differentiable model as the engine sees it: a module, what it returns, and its classes.

    Parameters
    ----------
    module : torch.nn.Module
        Maps an encoded float tensor (n, d) to raw outputs (n, k) or (n,).
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


@dataclass
class ModelAdapter:
    """Raw rows → encoded matrix → torch model, with the map from encoded columns back to raw ones.

    Parameters
    ----------
    model : TorchModel
        The differentiable part.
    preprocessor : fitted scikit-learn transformer or None
        Runs on raw rows before the model (a pipeline's steps before its last); None for models fed directly.
    """

    model: TorchModel
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

    def encode(self, X) -> np.ndarray:
        """The float64 matrix (n, d_encoded) that the module reads, from validated raw rows."""
        if self.preprocessor is not None:
            X = self.preprocessor.transform(X)
            if hasattr(X, "toarray"):
                X = X.toarray()
        # Writable, so torch can wrap it without a copy (pandas hands out read-only views).
        return np.require(np.asarray(X, dtype=np.float64), requirements=["W"])

    def feature_groups(self, feature_names: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each encoded column, the index of the raw column it comes from, and the encoded names."""
        if self.preprocessor is None:
            return np.arange(len(feature_names)), np.asarray(feature_names, dtype=object)
        from ._feature_mapping import encoded_feature_groups

        return encoded_feature_groups(self.preprocessor, feature_names)

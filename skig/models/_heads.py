"""Output heads: turn a module's raw output into the explained scalar per row.

A head knows what the module returns (logits, probabilities, ...) and maps it to the raw, logit or probability space.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

#: What a module's raw output is, and therefore how the output spaces derive from it.
#: ``"softmax"``: multi-class logits (probabilities are their softmax).
#: ``"sigmoid"``: one logit of the positive class (probability is its sigmoid).
#: ``"probability"``: probabilities, one column per class, or one column for the positive class.
#: ``"callable"``: anything, with ``proba`` mapping it to class probabilities (as skorch's predict_nonlinearity).
#: ``"decision"``: class scores without probabilities (one column: the positive class); only the raw space exists.
#: ``"identity"``: regression outputs; only the raw space exists.
HEAD_KINDS = ("softmax", "sigmoid", "probability", "callable", "decision", "identity")

_PROBABILITY_EPS = 1e-12


def _as_2d(raw: torch.Tensor) -> torch.Tensor:
    return raw.reshape(raw.shape[0], -1) if raw.ndim != 2 else raw


def _pick(matrix: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return matrix.gather(1, target.reshape(-1, 1)).squeeze(1)


def _log_odds(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(_PROBABILITY_EPS, 1 - _PROBABILITY_EPS)
    return torch.log(p) - torch.log1p(-p)


@dataclass
class OutputHead:
    """Map raw module outputs to one scalar per row in an output space.

    Parameters
    ----------
    kind : {"softmax", "sigmoid", "probability", "callable", "identity"}
        What the module returns; see :data:`HEAD_KINDS`.
    proba : callable, default=None
        For ``kind="callable"``: maps the raw output tensor to class probabilities.
    """

    kind: str
    proba: Callable[[torch.Tensor], torch.Tensor] | None = None

    def __post_init__(self) -> None:
        if self.kind not in HEAD_KINDS:
            raise ValueError(f"kind must be one of {HEAD_KINDS}, got {self.kind!r}.")
        if self.kind == "callable" and self.proba is None:
            raise ValueError("kind='callable' needs a proba callable.")

    @property
    def spaces(self) -> tuple[str, ...]:
        """The output spaces this head can explain."""
        return ("raw",) if self.kind in ("identity", "decision") else ("raw", "logit", "probability")

    def n_outputs(self, raw: torch.Tensor) -> int:
        """Number of explainable outputs (classes for a classifier) given one raw output batch."""
        width = _as_2d(raw).shape[1]
        if self.kind in ("sigmoid", "probability", "decision") and width == 1:
            return 2
        if self.kind == "callable":
            return self.probabilities(raw).shape[1]
        return width

    def probabilities(self, raw: torch.Tensor) -> torch.Tensor:
        """Class probabilities (m, n_classes), as the model's ``predict_proba`` would return them."""
        raw = _as_2d(raw)
        if self.kind == "softmax":
            return torch.softmax(raw, dim=1)
        if self.kind == "sigmoid":
            p = torch.sigmoid(raw[:, 0])
            return torch.stack((1 - p, p), dim=1)
        if self.kind == "probability":
            if raw.shape[1] == 1:
                return torch.cat((1 - raw, raw), dim=1)
            return raw
        if self.kind == "callable":
            return _as_2d(self.proba(raw))
        raise ValueError(f"a model with {self.kind!r} outputs has no class probabilities.")

    def predicted(self, raw: torch.Tensor) -> torch.Tensor:
        """Index of the predicted class (classifiers) for each row."""
        if self.kind in ("sigmoid", "decision") and _as_2d(raw).shape[1] == 1:
            return (_as_2d(raw)[:, 0] > 0).long()
        if self.kind in ("softmax", "decision"):
            return _as_2d(raw).argmax(dim=1)
        return self.probabilities(raw).argmax(dim=1)

    def in_space(self, space: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """``head(raw, targets)``: the explained scalar in ``space``, as the engines call it.

        Its ``linear`` attribute says whether it is linear in the raw output (regression outputs, class scores, a
        sigmoid's logit, softmax logits in raw space, probabilities the module returns itself): then its gradient
        is the same everywhere. Its ``key`` names that function, ``(kind, space)``, for a linear head (else None).
        """

        def head(raw: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            return self(raw, targets, space)

        head.linear = (
            self.kind in ("identity", "decision")
            or (self.kind == "sigmoid" and space in ("raw", "logit"))
            or (self.kind == "softmax" and space == "raw")
            or (self.kind == "probability" and space in ("raw", "probability"))
        )
        # A linear head is one function of the raw output per kind and space: what is derived from it can be kept.
        head.key = (self.kind, space) if head.linear else None
        return head

    def __call__(self, raw: torch.Tensor, target: torch.Tensor, space: str) -> torch.Tensor:
        """The explained scalar (m,) of each row's target output in ``space``."""
        raw = _as_2d(raw)
        if space not in self.spaces:
            raise ValueError(f"output={space!r} is not available for this model; use one of {list(self.spaces)}.")
        if self.kind == "identity" or (self.kind == "decision" and raw.shape[1] > 1):
            return _pick(raw, target)
        if self.kind in ("sigmoid", "decision"):
            # One logit z for the positive class: class 0 has logit -z in both raw and logit space.
            signed = torch.where(target == 1, raw[:, 0], -raw[:, 0])
            return torch.sigmoid(signed) if space == "probability" else signed
        if self.kind == "softmax":
            if space == "raw":
                return _pick(raw, target)
            if space == "probability":
                return _pick(torch.softmax(raw, dim=1), target)
            chosen = _pick(raw, target)
            others = raw.masked_fill(torch.nn.functional.one_hot(target, raw.shape[1]).bool(), float("-inf"))
            return chosen - torch.logsumexp(others, dim=1)
        p = _pick(self.probabilities(raw), target)
        if space == "probability":
            return p
        if space == "logit":
            return _log_odds(p)
        if self.kind == "probability":
            return p
        if raw.shape[1] != self.n_outputs(raw):
            raise ValueError(
                "output='raw' is ambiguous for a module whose outputs do not match its classes one to one; "
                "use output='logit' or 'probability'."
            )
        return _pick(raw, target)

"""Target resolution: ``target=`` (None, a label, an index or one per row) to the head index explained in each row
and the user-facing label reported for it.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral

import numpy as np
import torch


def output_labels(classes: np.ndarray | None, head_kind: str, n_outputs: int) -> tuple[np.ndarray, np.ndarray]:
    """User-facing labels of the explainable outputs, and the head's index for each."""
    if classes is not None:
        return np.asarray(classes), np.arange(len(classes))
    if head_kind == "sigmoid":
        # A plain module with one output: output 0 is its positive-class logit.
        return np.array([0]), np.array([1])
    return np.arange(n_outputs), np.arange(n_outputs)


def label_index(value, labels: np.ndarray, index: np.ndarray, *, kind: str) -> int:
    """The head index of ``value``: a label, or failing that a position in ``labels``; ``kind`` names them.

    Positions are taken only where the labels are not integers themselves: with classes ``[1, 2]``, ``target=0`` is
    no class (an error), never silently the class at position 0.
    """
    # As objects, so that a label of another type (a string against integer classes) compares unequal, not "failed".
    matches = np.flatnonzero(labels.astype(object) == value) if np.ndim(value) == 0 else []
    if len(matches):
        return int(index[matches[0]])
    message = f"target {value!r} is out of range: the model has {kind} {labels.tolist()}."
    if isinstance(value, (Integral, np.integer)) and not isinstance(value, bool) and 0 <= value < len(labels):
        if kind == "classes" and _integer_labels(labels):
            raise ValueError(f"{message} With integer classes, target= takes a class label, not a position.")
        return int(index[value])
    raise ValueError(message)


def _integer_labels(labels: np.ndarray) -> bool:
    """Whether every label is an integer (then an integer target can only mean a label)."""
    return all(isinstance(label, (Integral, np.integer)) and not isinstance(label, bool) for label in labels.tolist())


def resolve_targets(
    target,
    n_rows: int,
    predicted: Callable[[], torch.Tensor],
    *,
    classes: np.ndarray | None,
    head_kind: str,
    n_outputs: int,
) -> tuple[torch.Tensor, np.ndarray]:
    """Head indices (tensor) and user labels (array) of the explained output of every row.

    Parameters
    ----------
    target : None, label, index or array-like of shape (n_rows,)
        None: the single output of a regressor, the positive class of a binary model, the predicted class of each
        row otherwise.
    n_rows : int
        Rows explained.
    predicted : callable
        ``predicted() -> (n_rows,)``: the head index each row predicts, called only when it is needed.
    classes : ndarray or None
        Class labels of a classifier, in output order; None for other models.
    head_kind : str
        The kind of the model's output head.
    n_outputs : int
        Number of explainable outputs.
    """
    labels, index = output_labels(classes, head_kind, n_outputs)
    kind = "classes" if classes is not None else "outputs"
    if target is None:
        if head_kind == "identity":
            if n_outputs != 1:
                raise ValueError(f"the model has {n_outputs} outputs; pass target= one of {labels.tolist()} to choose.")
            chosen = np.zeros(n_rows, dtype=np.int64)
        elif len(labels) <= 2:
            chosen = np.full(n_rows, index[-1], dtype=np.int64)
        else:
            chosen = predicted().cpu().numpy().astype(np.int64)
    elif np.ndim(target) == 0:
        chosen = np.full(n_rows, label_index(target, labels, index, kind=kind), dtype=np.int64)
    else:
        target = np.asarray(target)
        if target.shape != (n_rows,):
            raise ValueError(f"target has shape {target.shape}; one target per row needs shape ({n_rows},).")
        chosen = np.array([label_index(value, labels, index, kind=kind) for value in target], dtype=np.int64)
    back = dict(zip(index.tolist(), labels.tolist(), strict=True))
    # Each distinct target's label looked up once, not once per row: the same array, its dtype inferred from the same
    # labels. One target for every row (a scalar or default target) needs no sort to find it.
    if n_rows and bool((chosen == chosen[0]).all()):
        distinct, where = chosen[:1], np.zeros(n_rows, dtype=np.intp)
    else:
        distinct, where = np.unique(chosen, return_inverse=True)
    return torch.as_tensor(chosen), np.array([back[i] for i in distinct.tolist()])[where.reshape(-1)]

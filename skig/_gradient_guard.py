"""The guard against attributions that cannot add up: columns that reach the output only through steps without a
gradient (an integer cast, rounding, argmax, a lookup skig could not trace), found at ``fit`` and after ``explain``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch
from torch.overrides import TorchFunctionMode

from .engine._chain_passes import chain_output_changes
from .engine._inputs import bag_left_to_model
from .engine.exact._trace import _DIVISIONS, _METADATA, _SAFE_PROPERTIES, _function_name

#: Calls whose gradient is zero wherever it exists although their output changes with their input.
_STEP_FUNCTIONS = frozenset({"round", "round_", "floor", "floor_", "ceil", "ceil_", "trunc", "trunc_", "fix", "sign",
                             "sgn", "heaviside", "bucketize", "searchsorted", "floor_divide", "floor_divide_",
                             "__floordiv__", "__rfloordiv__", "__ifloordiv__"})  # fmt: skip
_CAUSES = {
    "cast": "an integer cast (.long(), .int(), .to(torch.long)): codes cast inside forward and used in a way skig "
    "could not trace as an embedding lookup of that column",
    "round": "rounding or a step (round, floor, ceil, sign, bucketize, // or a division with rounding_mode)",
    "argmax": "argmax/argmin (or max/min indices, topk, sort) of something the column changes",
    "detach": "a detach (.detach(), .item(), .numpy(), .tolist()) inside forward",
    "lookup": "an embedding lookup whose indices skig could not trace to one input column (indices computed from "
    "several columns, hashed or scaled)",
    "compare": "a comparison (>, <, ==) feeding a mask or a branch",
    "bag": "an EmbeddingBag (F.embedding_bag) in mode 'max', or given offsets or a padding_idx: skig integrates "
    "bags of modes 'sum' and 'mean' over one 2-D index tensor in embedding space, not these",
}
_KIND_OF = {
    **dict.fromkeys(("long", "int", "short", "byte", "char", "bool", "to", "type"), "cast"),
    **dict.fromkeys(_STEP_FUNCTIONS, "round"),
    **dict.fromkeys(("argmax", "argmin", "max", "min", "topk", "sort", "argsort", "kthvalue", "mode"), "argmax"),
    **dict.fromkeys(("detach", "detach_", "item", "numpy", "tolist", "data"), "detach"),
    **dict.fromkeys(("embedding", "embedding_bag"), "lookup"),
    **dict.fromkeys(("gt", "lt", "ge", "le", "eq", "ne", "__gt__", "__lt__", "__ge__", "__le__", "__eq__", "__ne__",
                     "greater", "less", "greater_equal", "less_equal", "equal", "isclose"), "compare"),
}  # fmt: skip


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


class _GradientStops(TorchFunctionMode):
    """Records the calls of a forward pass where the input's gradient stops: an input-dependent argument goes in and
    what comes out carries no gradient (casts, argmax, comparisons, detach), or carries a zero one (round, sign)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        shown = _function_name(func)
        name = shown.rsplit(".", 1)[-1]
        if name in _METADATA or name in _SAFE_PROPERTIES:
            return result
        if name == "embedding_bag" and bag_left_to_model(args, kwargs):
            self.found.append(("bag", shown))  # its indices carry no gradient: not seen as depending on the input
        depends = any(t.requires_grad for t in _tensors((args, kwargs)))
        if not depends:
            return result
        outputs = list(_tensors(result))
        stopped = (not isinstance(result, torch.Tensor) and not outputs) or (
            bool(outputs) and not any(t.requires_grad for t in outputs)
        )
        kind = _KIND_OF.get(name)
        if name in _DIVISIONS and kwargs.get("rounding_mode") is not None:  # a step, not a division
            self.found.append(("round", shown))
        elif (stopped and kind is not None) or name in _STEP_FUNCTIONS:
            self.found.append((kind or "round", shown))
        elif kind == "argmax" and any(not t.is_floating_point() for t in outputs):
            self.found.append((kind, shown))  # indices beside values that keep their gradient (topk, sort, max)
        elif stopped:
            self.found.append(("detach", shown))
        return result


def gradient_stops(function, points: torch.Tensor, columns: np.ndarray) -> list[tuple[str, str]]:
    """The gradient-stopping calls ``function`` makes on ``points`` when only ``columns`` carry a gradient."""
    mask = torch.zeros(points.shape[1], dtype=torch.bool, device=points.device)
    mask[torch.as_tensor(columns, device=points.device)] = True
    varying = points.detach().clone().requires_grad_(True)
    # Only the chosen columns depend on the leaf: the others are cut off from it.
    mixed = torch.where(mask, varying, varying.detach())
    recorder = _GradientStops()
    with torch.enable_grad(), recorder:
        function(mixed)
    seen: dict[tuple[str, str], None] = {}
    for item in recorder.found:
        seen.setdefault(item, None)
    return list(seen)


def _cause_text(stops: list[tuple[str, str]]) -> str:
    if not stops:
        return (
            "no gradient-stopping call was seen on the probe rows: look inside forward for arithmetic on integer "
            "codes (an embedding lookup whose indices are computed from the codes, scaled or from several columns, "
            "which skig cannot trace to one column) or a step computed outside torch (numpy, Python numbers)"
        )
    kinds = list(dict.fromkeys(kind for kind, _ in stops if kind != "compare")) or ["compare"]
    kinds.sort(key=lambda kind: kind != "bag")  # the bag, where there is one, says more than the cast before it
    calls = ", ".join(dict.fromkeys(name for _, name in stops))
    return f"likely {'; or '.join(_CAUSES[kind] for kind in kinds)} (forward calls: {calls})"


def check_columns_differentiable(
    scalar,
    ends: torch.Tensor,
    start: torch.Tensor,
    groups: np.ndarray,
    names: np.ndarray,
    description: str,
    *,
    when: str = "raise",
) -> None:
    """Name the raw columns whose gradient is zero all along the probe paths while changing them changes the output.

    Parameters
    ----------
    scalar : callable
        ``scalar(points) -> (m,)``: the explained output at points of the space where paths run.
    ends : Tensor of shape (m, d)
        Probe rows in that space.
    start : Tensor of shape (d,)
        The baseline the probe paths start from.
    groups : ndarray of shape (d,)
        The raw column of each coordinate.
    names : ndarray
        Raw column names.
    description : str
        The model, for the message.
    when : {"raise", "warn"}
        Raise a TypeError, or warn.
    """
    dtype, device = ends.dtype, ends.device
    start = start.reshape(1, -1).expand_as(ends)
    alphas = torch.linspace(0.05, 0.95, 7, dtype=dtype, device=device)
    points = (start.unsqueeze(0) + alphas.view(-1, 1, 1) * (ends - start).unsqueeze(0)).reshape(-1, ends.shape[1])
    with torch.enable_grad():
        points = points.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(scalar(points).sum(), points, allow_unused=True)
    dead_coordinates = np.ones(ends.shape[1], dtype=bool) if grad is None else (grad == 0).all(0).cpu().numpy()
    groups = np.asarray(groups)
    flagged, changes = [], []
    with torch.no_grad():
        at_ends = scalar(ends).double()
        scale = float(at_ends.abs().max()) + 1.0
        for column in np.unique(groups):
            coordinates = np.flatnonzero(groups == column)
            if not dead_coordinates[coordinates].all():
                continue
            moved = ends.clone()
            moved[:, coordinates] = start[:, coordinates]
            change = float((scalar(moved).double() - at_ends).abs().max())
            if change > 1e3 * torch.finfo(dtype).eps * scale:
                flagged.append(column)
                changes.append(change)
    if not flagged:
        return
    coordinates = np.flatnonzero(np.isin(groups, flagged))
    stops = gradient_stops(scalar, ends, coordinates)
    listed = [str(names[column]) for column in flagged]
    every = len(flagged) == len(np.unique(groups))
    message = (
        f"{description}'s gradient is zero at every probed point between the baseline and the reference rows for "
        f"column(s) {listed}{' (all of them)' if every else ''}, while changing them changes its output (by up to "
        f"{max(changes):.3g}): Integrated Gradients would give them 0 and their effect would only show as a "
        f"completeness error. Cause: {_cause_text(stops)}. Feed such columns to the model differentiably (look codes "
        "up with nn.Embedding / F.embedding on the input column, optionally offset, so skig integrates in embedding "
        "space), explain the model before its rounding or argmax (e.g. its logits), or use a perturbation method such "
        "as shap.KernelExplainer. Pass zero_gradient='warn' to explain anyway."
    )
    if when == "raise":
        raise TypeError(message)
    warnings.warn(message, UserWarning, stacklevel=4)


def rows_named(index: pd.Index, mask: np.ndarray) -> str:
    """The labels of the masked rows, the first ten of them, and how many there are, for messages."""
    labels = index[mask]
    shown = ", ".join(repr(label) for label in labels[:10])
    return f"[{shown}{', ...' if len(labels) > 10 else ''}] ({len(labels)} row(s))"


#: The re-integrations take at least this many Gauss-Legendre steps before they tell a jump from quadrature error:
#: below, the quadrature error itself is erratic (a kinked path's need not shrink at four times the steps).
REFINED_MIN_STEPS = 64
#: The re-integrations stop at this many steps (or four times the row's, where more): a completeness error still
#: large there is taken for a jump, unless exact integration applies and says otherwise.
REFINED_MAX_STEPS = 1024
#: A row's completeness error is "large" past this share of its output change (and past float rounding).
LARGE_DELTA = 0.05
#: Under exact integration the completeness error is float rounding alone (about 1e-6 of the output change in
#: float32), so a jump is "large" past this much smaller share.
LARGE_DELTA_EXACT = 1e-3


def large_delta_limits(change: np.ndarray, eps: float, share: float = LARGE_DELTA) -> np.ndarray:
    """Each row's largest completeness error that is not "large": ``share`` of the output change it explains (or, for
    rows that barely move, of the rows' median change: quadrature noise on a tiny change is no evidence of a jump)."""
    return share * change_scales(change) + 1e3 * eps * (1.0 + np.abs(change))


def change_scales(change: np.ndarray) -> np.ndarray:
    """Each row's output change, or the rows' median change where that is larger: what errors are judged against."""
    change = np.abs(change)
    return np.maximum(change, _median(change[np.isfinite(change)]))


def _median(values: np.ndarray) -> float:
    """``np.median(values)`` (0 for no values) from one partition: a fifth of np.median's time on 1,000 rows."""
    n = len(values)
    if n == 0:
        return 0.0
    middle = np.partition(values, [(n - 1) // 2, n // 2])
    return 0.5 * (float(middle[(n - 1) // 2]) + float(middle[n // 2]))


def _rows_at(index: pd.Index, positions: np.ndarray) -> str:
    """:func:`rows_named` for rows given by position."""
    mask = np.zeros(len(index), dtype=bool)
    mask[positions] = True
    return rows_named(index, mask)


def warn_unexplained_deltas(index: pd.Index, delta: np.ndarray, stuck: np.ndarray, how: str) -> None:
    """Warn about rows (positions ``stuck``) whose completeness error stays large ``how`` ("under exact integration",
    "at 256 Gauss-Legendre steps"): more steps cannot close it."""
    if len(stuck) == 0:
        return
    worst = float(np.abs(delta[stuck]).max())
    warnings.warn(
        f"the completeness error of rows {_rows_at(index, stuck)} stays large (up to {worst:.3g}) {how}: the output "
        "jumps along their paths through a step without gradient (an integer cast, rounding, argmax, a lookup skig "
        "could not trace), so their attributions do not add up to the prediction. Read exp.delta; fit with "
        "zero_gradient='raise' names the columns when the probe rows show them.",
        UserWarning,
        stacklevel=3,
    )


def warn_quadrature_deltas(index: pd.Index, delta: np.ndarray, rows: np.ndarray, change: np.ndarray, n_steps) -> None:
    """Warn about rows (positions) whose completeness error is large at the fixed steps asked for and falls with
    more: quadrature error, which more steps (or adaptive ones) close."""
    if len(rows) == 0:
        return
    share = np.abs(delta[rows]) / np.maximum(change_scales(change)[rows], np.finfo(float).tiny)
    warnings.warn(
        f"at n_steps={n_steps} the completeness error of rows {_rows_at(index, rows)} is large (up to "
        f"{float(np.abs(delta[rows]).max()):.3g}, {float(share.max()):.0%} of the output change) and falls with "
        "more steps: quadrature error, which their attributions carry too. Raise n_steps, or pass n_steps='auto' to "
        "take each row's steps until its error is within tol.",
        UserWarning,
        stacklevel=3,
    )


def check_completeness(
    method, problem, attributions: torch.Tensor, steps: torch.Tensor, index: pd.Index, refit, refit_exact
):
    """After IG: tell the rows with a large completeness error (past :data:`LARGE_DELTA` of their output change, past
    ``tol`` where adaptive steps were asked a larger one, past :data:`LARGE_DELTA_EXACT` under exact integration)
    that hold quadrature error from those where the output jumps through a step without gradient, and warn about
    each kind (:func:`warn_quadrature_deltas` at fixed steps, :func:`warn_unexplained_deltas`).

    Under exact integration every large error is a jump. Otherwise the rows are re-integrated by Gauss-Legendre at
    four times their steps, then at four times those (at least :data:`REFINED_MIN_STEPS`, at most
    :data:`REFINED_MAX_STEPS` or four times the rows' steps), and a row whose error is no longer large held quadrature
    error. From :data:`REFINED_MIN_STEPS` steps on, the rows still large are told apart: by exact integration where it
    applies (``refit_exact()``, read once: a kinked path's Gauss-Legendre error need not shrink 4x at 4x the steps,
    and on a piecewise-linear module exact integration leaves none); else a row whose error is still at least three
    quarters of the previous integration's holds a jump (a jump's error is the same at any steps; Gauss-Legendre's
    falls, about 4x where the gradient jumps at ReLU kinks, much more on smooth nets). Comparing two integrations, not
    only the first error, keeps a jump found beside a large quadrature error. Rows still large at the last steps are
    taken for jumps.

    ``refit(n_steps)`` gives the same method by Gauss-Legendre at fixed ``n_steps`` (capped where the explainer caps
    steps); ``refit_exact()`` the same method by exact integration, or None where that does not apply. Where the
    passes ran through the module read as a chain of affine layers and hinges (``method.integration.chain``), the
    error left is the one exact integration of the chain would leave, found without integrating
    (:func:`~skig.engine._chain_passes.chain_output_changes`): the chain's output change less the module's. Only
    methods whose delta is quadrature error alone are checked (IG): the others' delta also holds sampling or
    smoothing error (``stochastic``), or their path is not straight (``straight_path``).
    """
    if method.stochastic or not method.additive or not method.straight_path or problem.n_rows == 0:
        return
    predictions = problem.predictions.cpu().numpy()
    base_values = problem.base_values.cpu().numpy()
    change = predictions - base_values
    delta = attributions.double().sum(1).cpu().numpy() - change
    integration = method.integration
    # Adaptive steps already brought each row within the tol asked for, or named it: an error within that tol is the
    # one the user accepted, and only errors past it are re-checked (a tol over LARGE_DELTA otherwise re-integrated
    # every row it let pass between the two).
    share = LARGE_DELTA_EXACT if integration.exact else max(LARGE_DELTA, integration.accepted_error)
    limits = large_delta_limits(change, problem.eps, share)
    rows = np.flatnonzero((np.abs(delta) > limits) & np.isfinite(delta))
    if integration.exact or len(rows) == 0:
        warn_unexplained_deltas(index, delta, rows, "under exact integration")
        return
    if integration.chain is not None and problem.head is not None:
        chosen = torch.as_tensor(rows, device=problem.inputs.device)
        changes = chain_output_changes(
            integration.chain,
            problem.head,
            problem.inputs[chosen],
            problem.targets[chosen],
            problem.baselines,
            problem.baseline_weights,
        )
        refined = changes.cpu().numpy() - change[rows]
        jumps = np.abs(refined) > limits[rows]
        quadrature, stuck, how = rows[~jumps], rows[jumps], "under exact integration"
    else:
        quadrature, stuck, how = _refine_deltas(rows, delta[rows], steps, limits, refit, refit_exact, problem, change)
    if not integration.adaptive:  # adaptive steps named the rows that miss tol already
        warn_quadrature_deltas(index, delta, quadrature, change, int(steps.max()))
    warn_unexplained_deltas(index, delta, stuck, how)


def _refine_deltas(rows, first, steps, limits, refit, refit_exact, problem, change):
    """Re-integrate ``rows`` (positions, completeness errors ``first``) as :func:`check_completeness` says: the rows
    that held quadrature error, those whose error stays large, and how that was last measured."""
    quadrature, stuck, n = [], [], 4 * int(steps[torch.as_tensor(rows, device=steps.device)].max())
    last, previous, how = max(REFINED_MAX_STEPS, n), first, None
    exact = _UNREAD = object()
    while len(rows):
        refined = _completeness_errors(refit(n), problem, rows, change)
        large = np.abs(refined) > limits[rows]
        quadrature.append(rows[~large])
        rows, refined, previous = rows[large], refined[large], previous[large]
        if n >= REFINED_MIN_STEPS and len(rows):
            if exact is _UNREAD:  # read once, where rows are left to tell apart
                exact = refit_exact()
            if exact is not None:  # decisive where it applies: no quadrature error is left
                refined = _completeness_errors(exact, problem, rows, change)
                jumps = np.abs(refined) > limits[rows]
                quadrature.append(rows[~jumps])
                stuck.append(rows[jumps])
                how = "under exact integration"
                break
            held = (np.abs(refined) > 0.75 * np.abs(previous)) | (n >= last)
            stuck.append(rows[held])
            rows, refined = rows[~held], refined[~held]
            how = f"at up to {n} Gauss-Legendre steps"
        previous, n = refined, min(last, max(REFINED_MIN_STEPS, 4 * n))
    return np.sort(np.concatenate(quadrature)), np.concatenate(stuck or [rows[:0]]), how


def _completeness_errors(method, problem, rows: np.ndarray, change: np.ndarray) -> np.ndarray:
    """The completeness error of ``rows`` (positions) re-integrated by ``method``."""
    chosen = torch.as_tensor(rows, device=problem.inputs.device)
    changes = method.attribute(problem.rows(chosen))[0].double().sum(1)
    return changes.cpu().numpy() - change[rows]

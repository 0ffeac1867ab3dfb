"""An independent oracle for embedding nets: Integrated Gradients in the joint space of looked-up vectors and float
inputs by dense float64 Gauss-Legendre, with forward hooks that interpolate the embedding modules' outputs.

Written apart from skig's engine: it knows from the test which embedding module reads which column, and never
traces anything.
"""

from __future__ import annotations

import copy

import numpy as np
import torch


def float64_copy(model: torch.nn.Module, dtype=torch.float64) -> torch.nn.Module:
    model = copy.deepcopy(model).to(dtype).eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model


def joint_ig(
    model: torch.nn.Module,
    run,
    lookups: list[tuple[torch.nn.Module, list[int]]],
    float_columns: list[int],
    row: np.ndarray,
    baseline: np.ndarray,
    *,
    n_columns: int,
    zero_vectors: bool = False,
    n_points: int = 256,
    midpoint: bool = False,
    dtype=torch.float64,
) -> tuple[np.ndarray, float, float]:
    """IG of ``run(model, x)[:, 0]`` from ``baseline`` to ``row`` (encoded, 1-D) in the joint space.

    ``lookups`` lists each embedding module with the column each position of its index reads (its output is
    (n, d) for one position, (n, k, d) for k). Code columns are held at the row's codes; the lookups' outputs are
    replaced by ``base + a (row - base)`` (``base`` = 0 with ``zero_vectors``).

    Gauss-Legendre at ``n_points`` suits smooth nets; ReLU nets, whose gradient jumps on the path, take
    ``midpoint=True`` (the midpoint rule, error below ``1 / n_points`` of the gradient's jumps). ``dtype`` is
    float64 unless the model casts to float32 inside (pytorch-tabnet does).

    Returns attributions per encoded column, f(row) and f(baseline) (the latter at the baseline's vectors).
    """
    names = {id(m): i for i, m in enumerate(model.modules())}
    original = {names[id(module)]: columns for module, columns in lookups}
    model = float64_copy(model, dtype)
    # The copy's modules, found by position in the module tree.
    copied = {i: m for i, m in enumerate(model.modules()) if i in original}

    def capture(x: np.ndarray) -> dict[int, torch.Tensor]:
        seen = {}
        handles = [
            module.register_forward_hook(lambda m, i, o, key=key: seen.__setitem__(key, o.detach().clone()))
            for key, module in copied.items()
        ]
        with torch.no_grad():
            run(model, torch.tensor(x.reshape(1, -1), dtype=dtype))
        for handle in handles:
            handle.remove()
        return seen

    at_row = capture(row)
    at_base = {k: torch.zeros_like(v) for k, v in at_row.items()} if zero_vectors else capture(baseline)
    if midpoint:
        alphas = torch.as_tensor((np.arange(n_points) + 0.5) / n_points)
        weights = torch.full((n_points,), 1.0 / n_points, dtype=torch.float64)
    else:
        nodes, weights = np.polynomial.legendre.leggauss(n_points)
        alphas = torch.as_tensor((nodes + 1) / 2)
        weights = torch.as_tensor(weights / 2)
    x = np.tile(row, (n_points, 1))
    start = np.tile(baseline, (n_points, 1))
    x[:, float_columns] = start[:, float_columns] + alphas.numpy()[:, None] * (row - baseline)[float_columns]
    inputs = torch.as_tensor(x, dtype=dtype).requires_grad_(True)
    leaves = {}
    for key in copied:
        delta = at_row[key] - at_base[key]
        shape = (-1,) + (1,) * (delta.dim() - 1)
        leaves[key] = (at_base[key] + alphas.to(dtype).reshape(shape) * delta).requires_grad_(True)
    handles = [module.register_forward_hook(lambda m, i, o, key=key: leaves[key]) for key, module in copied.items()]
    with torch.enable_grad():
        out = run(model, inputs)[:, 0]
        grads = torch.autograd.grad(out.sum(), [inputs, *leaves.values()], allow_unused=True)
    for handle in handles:
        handle.remove()
    attributions = np.zeros(n_columns)
    grad_x = grads[0].double() if grads[0] is not None else torch.zeros_like(inputs, dtype=torch.float64)
    step = torch.as_tensor(row - baseline)
    for column in float_columns:
        attributions[column] += float((weights * grad_x[:, column]).sum() * step[column])
    for key, grad in zip(leaves, grads[1:], strict=True):
        if grad is None:
            continue
        delta = at_row[key] - at_base[key]
        per_point = (
            (grad.double() * delta.double()).reshape(n_points, -1, delta.shape[-1]).sum(-1)
        )  # (points, positions)
        per_position = (weights.reshape(-1, 1) * per_point).sum(0)
        for position, column in enumerate(original[key]):
            attributions[column] += float(per_position[position])
    with torch.no_grad():
        f_row = float(run(model, torch.as_tensor(row.reshape(1, -1), dtype=dtype))[0, 0])
    # f at the baseline point of the joint space: float columns at the baseline, vectors at the baseline's.
    with torch.no_grad():
        handles = [
            module.register_forward_hook(lambda m, i, o, key=key: at_base[key]) for key, module in copied.items()
        ]
        mixed = row.copy()
        mixed[float_columns] = baseline[float_columns]
        f_base = float(run(model, torch.as_tensor(mixed.reshape(1, -1), dtype=dtype))[0, 0])
        for handle in handles:
            handle.remove()
    return attributions, f_row, f_base

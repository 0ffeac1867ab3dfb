"""Integrals of a smooth output head along straight lines in the module's output space.

On a segment of a path where a piecewise-linear module is affine, its output moves along a line; the explained
scalar is a smooth head (identity, sigmoid, softmax, log-sum-exp) of that output, whose gradient is integrated along
the line by Gauss-Legendre without evaluating the network again.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .._quadrature import quadrature

#: ``head(raw, targets) -> (m,)``: the explained scalar of each row, a smooth function of the module's raw output;
#: an optional ``linear`` attribute marks heads linear in the raw output.
Head = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# Head evaluations per pass when integrating the head along segments' output lines (each a K-vector: cheap).
_HEAD_POINTS = 2**18

# (largest output change of a segment, Gauss-Legendre nodes): smooth heads (sigmoid, softmax, log-sum-exp) have their
# nearest complex singularities pi away from the real line, so each rule is exact to about 1e-14 relative on lines up
# to that change. Longer lines are cut into pieces spanning at most one unit of any output, each with the last rule.
_HEAD_RULES = ((1 / 16, 3), (1 / 2, 5), (1.0, 8))


def head_integrals(
    head: Head, start: torch.Tensor, end: torch.Tensor, targets: torch.Tensor, output_shape: torch.Size
) -> torch.Tensor:
    """``integral_0^1 grad head(start + t (end - start)) dt`` per row, for output lines (m, K).

    Gauss-Legendre with as few nodes as the line's length allows, without evaluating the network; one node (the
    midpoint) for a head whose ``linear`` attribute is true, whose gradient is the same everywhere.
    """
    change = end - start
    if getattr(head, "linear", False):
        ones = torch.ones(start.shape[0], dtype=torch.long, device=start.device)
        return _gauss_legendre(head, start, change, targets, output_shape, ones, 1)
    span = change.abs().amax(1)
    integrals = torch.zeros_like(start)
    lower = -1.0
    for position, (bound, n_nodes) in enumerate(_HEAD_RULES):
        last = position == len(_HEAD_RULES) - 1
        rows = ((span > lower) & (span <= bound) if not last else span > lower).nonzero().squeeze(1)
        lower = bound
        if rows.numel() == 0:
            continue
        pieces = torch.ceil(span[rows] / bound).clamp(min=1).long() if last else torch.ones_like(rows)
        integrals[rows] = _gauss_legendre(head, start[rows], change[rows], targets[rows], output_shape, pieces, n_nodes)
    return integrals


def _gauss_legendre(
    head: Head,
    start: torch.Tensor,
    change: torch.Tensor,
    targets: torch.Tensor,
    output_shape: torch.Size,
    pieces: torch.Tensor,
    n_nodes: int,
) -> torch.Tensor:
    """Gauss-Legendre with ``n_nodes`` on each of ``pieces`` equal pieces of every line."""
    nodes, weights = (torch.as_tensor(v, dtype=start.dtype, device=start.device) for v in quadrature(
        "gausslegendre", n_nodes
    ))  # fmt: skip
    n_rows, width = start.shape
    if bool((pieces == 1).all()):
        # One piece per line (the usual case): a dense (rows, nodes) layout, without scatter.
        integrals = torch.empty_like(start)
        per_pass = max(1, _HEAD_POINTS // n_nodes)
        with torch.enable_grad():
            for lo in range(0, n_rows, per_pass):
                rows = slice(lo, lo + per_pass)
                z = (start[rows].unsqueeze(1) + nodes.view(1, -1, 1) * change[rows].unsqueeze(1)).reshape(-1, width)
                z.requires_grad_(True)
                value = head(z.reshape(-1, *output_shape), targets[rows].repeat_interleave(n_nodes))
                (grad,) = torch.autograd.grad(value.sum(), z, allow_unused=True)
                if grad is None:
                    integrals[rows] = 0.0
                else:
                    integrals[rows] = (grad.view(-1, n_nodes, width) * weights.view(1, -1, 1)).sum(1)
        return integrals
    # Flat layout: one entry per (row, piece, node), so that every line costs its own number of head evaluations.
    owner = torch.repeat_interleave(torch.arange(n_rows, device=start.device), pieces * n_nodes)
    within = torch.arange(owner.shape[0], device=start.device) - torch.repeat_interleave(
        torch.cumsum(pieces * n_nodes, 0) - pieces * n_nodes, pieces * n_nodes
    )
    count = pieces.to(start.dtype)[owner]
    t = ((within // n_nodes).to(start.dtype) + nodes[within % n_nodes]) / count
    weight = weights[within % n_nodes] / count
    integrals = torch.zeros_like(start)
    with torch.enable_grad():
        for lo in range(0, owner.shape[0], _HEAD_POINTS):
            rows = owner[lo : lo + _HEAD_POINTS]
            z = torch.addcmul(start[rows], t[lo : lo + _HEAD_POINTS].unsqueeze(1), change[rows]).requires_grad_(True)
            value = head(z.reshape(-1, *output_shape), targets[rows])
            (grad,) = torch.autograd.grad(value.sum(), z, allow_unused=True)
            if grad is not None:
                integrals.index_add_(0, rows, grad.reshape(-1, width) * weight[lo : lo + _HEAD_POINTS].unsqueeze(1))
    return integrals

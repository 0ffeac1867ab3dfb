"""The linear segments of straight paths as the exact engines cut them, for computations beyond attributions
(Integrated Hessians in :mod:`skig.engine._interactions`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from ._chain import Points
from ._crossings import sort_order
from ._general import PathChunk, refine
from ._reading import compile_chain, probe_rows
from ._steps import Chain, Hinge
from ._trace import frozen_parameters


class PathSegments(NamedTuple):
    """The linear segments of a chunk of paths, sorted by path, then position along it.

    Attributes
    ----------
    lo, hi : Tensor of shape (S,)
        Each segment's ends in alpha (float64): segment ``k`` runs from ``start + lo[k] (end - start)`` to
        ``start + hi[k] (end - start)`` of path ``path[k]``, and the module is affine on it.
    path : Tensor of shape (S,)
        The path of each segment.
    gradients : callable or None
        For a chain, ``gradients(grad_out, rows) -> (m, d)``: the gradient of ``grad_out . output`` on the segments
        ``rows`` (a slice), by one backward sweep through the chain's steps; None for the general engine.
    """

    lo: torch.Tensor
    hi: torch.Tensor
    path: torch.Tensor
    gradients: Callable[[torch.Tensor, slice], torch.Tensor] | None


def read_chain(
    module: torch.nn.Module, starts: torch.Tensor, ends: torch.Tensor, *, smooth: bool = False
) -> Chain | None:
    """``module`` as a chain of affine layers and hinges, read on a few path ends as the exact engine reads it
    (checked against the module), or None if it is none.

    With ``smooth=True`` the chain may also hold elementwise smooth activations (:class:`~._steps.Smooth`: tanh,
    sigmoid, softplus, GELU, SiLU, ELU), for Integrated Hessians of smooth nets; the exact engines never take such
    a chain.
    """
    return compile_chain(module, probe_rows(starts, ends), smooth)


def path_segments(
    module: torch.nn.Module, starts: torch.Tensor, ends: torch.Tensor, *, chain: Chain | None, max_points: int
) -> PathSegments:
    """The linear segments of every straight path ``starts -> ends`` through a piecewise-linear module.

    Parameters
    ----------
    module : torch.nn.Module
        A private copy in eval mode, piecewise-linear in its input.
    starts, ends : Tensor of shape (P, d)
        Path ends, in the module's dtype and on its device; all paths are held at once.
    chain : Chain or None
        The module as a chain (:func:`read_chain`): cut level by level by the chain engine; None: the general
        engine's refinement through recorded forward passes.
    max_points : int
        Most points per forward pass of the general engine.

    Returns
    -------
    PathSegments
    """
    if starts.shape[0] == 0:
        empty = torch.zeros(0, dtype=torch.float64, device=starts.device)
        return PathSegments(empty, empty, torch.zeros(0, dtype=torch.long, device=starts.device), None)
    if chain is not None:  # the chain engine's cuts, level by level, sorted by (path, alpha)
        with torch.no_grad():
            points = Points(starts, ends)
            points.run(chain)
            first = points.segment_starts()

        def gradients(grad_out: torch.Tensor, rows: slice) -> torch.Tensor:
            # Each segment's side of every hinge is its ancestor's at that hinge's level (levels only refine).
            with torch.no_grad():
                grad, ancestor, level = grad_out.to(starts.dtype), first[rows], len(points.sides)
                for step in reversed(chain.steps):
                    if isinstance(step, Hinge):
                        level -= 1
                        grad = step.backward(grad, points.sides[level][ancestor])
                        if level:
                            ancestor = points.parents[level][ancestor]
                    else:
                        grad = step.backward(grad)
            return grad

        return PathSegments(points.alpha[first].double(), points.alpha[first + 1].double(), points.path[first],
                            gradients)  # fmt: skip
    with frozen_parameters(module), torch.enable_grad():
        chunk = PathChunk(starts, ends, capacity=4 * starts.shape[0])
        lo, hi = refine(module, chunk, max(2, max_points))
        alpha, path = chunk.alpha.values, chunk.path.values
        lo_t, hi_t, owner = alpha[lo].double(), alpha[hi].double(), path[lo]
    order = sort_order(owner, lo_t)
    return PathSegments(lo_t[order], hi_t[order], owner[order], None)

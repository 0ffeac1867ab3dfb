"""Exact Integrated Gradients for chains of affine layers and hinges (the usual ReLU MLP), level by level.

A chain is ``x -> affine -> hinge -> affine -> hinge -> ... -> affine``, where a hinge (ReLU, LeakyReLU, PReLU,
abs) has slope 1 above zero and a fixed slope below. Along a straight path the first hinge's inputs are affine, so
its zero crossings follow from the path's two ends alone; once they cut the path (a new *level* of points), the next
hinge's inputs are affine on every piece, so its crossings follow by linear interpolation between neighbouring
points, and so on. Each affine layer runs once per point that exists when it is reached, so the forward work is
below that of a quadrature rule with one step per segment. On each final segment every hinge keeps its side and the
chain's Jacobian is a product of masked weight matrices. The backward sweep runs over the segments of the last
level; below each hinge, a level's gradient rows are summed into their parent segments (whose Jacobian below is the
same) before the affine layer under them, so its matrix product runs on as few rows as the forward pass did.

Modules that are not such chains (skip connections, Hardtanh's two thresholds, ...) go through the general engine
(:mod:`._general`); :func:`._reading.compile_chain` decides, and checks the chain it reads against the module.
"""

from __future__ import annotations

import torch

from .._gradients import padded_rows
from ._bounds import PieceBounds
from ._crossings import merge_crossings, record_sides
from ._head_lines import Head, head_integrals
from ._steps import Chain, Hinge


class Points:
    """Points of a chunk of paths, sorted by (path, alpha): consecutive points of a path bound a segment.

    Arrays are padded to a multiple of ``ROW_BLOCK`` rows (path -1, alpha 2, values 0), so that matrix products run
    on them whole and each row's results do not depend on the rows beside it. Each hinge's cut makes a new level of
    points; ``parents[j]`` maps every point of level ``j + 1`` to the point of level ``j`` that opens the segment it
    lies in, and ``sides[j]`` keeps the input of hinge ``j`` at the points of level ``j + 1``, positive exactly where a
    unit is above zero along the segment the point opens.
    """

    def __init__(self, starts: torch.Tensor, ends: torch.Tensor) -> None:
        n_paths = starts.shape[0]
        self.n_paths = n_paths
        self.n = 2 * n_paths
        self.values = self._padded(torch.stack((starts, ends), dim=1).reshape(self.n, -1), 0)
        alpha = torch.tensor([0.0, 1.0], dtype=torch.float64, device=starts.device).repeat(n_paths)
        self.alpha = self._padded(alpha, 2.0)
        self.path = self._padded(torch.arange(n_paths, device=starts.device).repeat_interleave(2), -1)
        self.parents: list[torch.Tensor] = []
        self.sides: list[torch.Tensor] = []

    def _padded(self, rows: torch.Tensor, fill) -> torch.Tensor:
        out = rows.new_empty((padded_rows(self.n), *rows.shape[1:]))
        out[: self.n] = rows
        out[self.n :] = fill
        return out

    def segment_starts(self) -> torch.Tensor:
        """The points that open a segment (of their path), in order."""
        return ((self.path[:-1] == self.path[1:]) & (self.path[:-1] >= 0)).nonzero().squeeze(1)

    def run(self, chain: Chain, bounds: PieceBounds | None = None) -> None:
        """Run ``chain`` on the points, cutting at every hinge (see :meth:`cut`).

        With ``bounds``, the values each path keeps are counted after every hinge, and
        :class:`~._bounds.Overflow` is raised as soon as a path or the chunk holds more than they allow.
        """
        n_paths = self.n_paths
        used = torch.zeros(n_paths, dtype=torch.long, device=self.values.device)
        n_hinges = len(chain.hinges)
        for step in chain.steps:
            if isinstance(step, Hinge):
                self.cut(self.values, step)
                if bounds is not None:
                    used += torch.bincount(self.path[: self.n], minlength=n_paths) * self.values.shape[1]
                    bounds.check(used, len(self.sides) / n_hinges)
            else:
                self.values = step.forward(self.values)

    def cut(self, hinge_input: torch.Tensor, hinge: Hinge) -> None:
        """Insert the zero crossings of ``hinge_input`` (affine on every current segment) as a new level of points,
        apply the hinge there, and keep which side of zero each unit is on along each segment (:mod:`._crossings`).
        """
        merged, self.alpha, self.path, parent, self.n = merge_crossings(hinge_input, self.alpha, self.path, self.n)
        self.parents.append(parent)
        self.values = hinge.forward(merged)
        record_sides(merged, self.path, self.n)
        self.sides.append(merged)


def chain_chunk(
    chain: Chain,
    head: Head,
    starts: torch.Tensor,
    ends: torch.Tensor,
    targets: torch.Tensor,
    accumulate,
    bounds: PieceBounds | None = None,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Exact attributions of ``head(chain(x))`` along the paths ``starts -> ends`` (in ``accumulate``), the segments
    each path crossed, and the points made: one chunk of paths, all held at once.

    With ``bounds``, the values each path keeps are counted after every hinge, and :class:`~._bounds.Overflow`
    is raised as soon as a path or the chunk holds more than they allow.
    """
    points = Points(starts, ends)
    n_paths = starts.shape[0]
    points.run(chain, bounds)
    first = points.segment_starts()
    outputs = points.values.to(accumulate)
    path = points.path[first]
    integrals = head_integrals(head, outputs[first], outputs[first + 1], targets[path], chain.output_shape)
    length = (points.alpha[first + 1] - points.alpha[first]).to(accumulate).unsqueeze(1)
    # Backward from the last level down; points that open no segment start from zero. Below a hinge the Jacobian
    # is that of the segment's parent, so a level's gradient rows are summed into their parents before the affine
    # steps under them: the matrix products run on as few rows as the forward pass used.
    grad = torch.zeros(points.values.shape, dtype=starts.dtype, device=starts.device)
    grad[first] = (integrals * length).to(starts.dtype)
    hinges = chain.hinges
    below = hinges[0] if hinges else len(chain.steps)
    level = len(points.sides)
    for step in reversed(chain.steps[below:]):
        if not isinstance(step, Hinge):
            grad = step.backward(grad)
            continue
        level -= 1
        grad = step.backward(grad, points.sides[level])
        if level:
            rows = points.sides[level - 1].shape[0]
            grad = grad.new_zeros(rows, grad.shape[1]).index_add_(0, points.parents[level], grad)
    # Sum per path in float64 (level-0 point 2p is the start of path p; padding rows carry zeros to path 0), after
    # the affine steps below the first hinge where they narrow the rows (as a first Linear layer does), else before.
    if hinges:
        owner = torch.div(points.parents[0], 2, rounding_mode="floor")
    else:
        owner = torch.div(torch.arange(grad.shape[0], device=grad.device), 2, rounding_mode="floor")
        owner[points.n :] = 0
    narrowing = ends.shape[1] <= grad.shape[1]
    if narrowing:
        for step in reversed(chain.steps[:below]):
            grad = step.backward(grad)
    summed = torch.zeros(padded_rows(n_paths), grad.shape[1], dtype=accumulate, device=grad.device)
    summed.index_add_(0, owner, grad.to(accumulate))
    if not narrowing:
        for step in reversed(chain.steps[:below]):
            summed = step.backward(summed)
    attributions = summed[:n_paths] * (ends.to(accumulate) - starts.to(accumulate))
    return attributions, torch.bincount(path, minlength=n_paths), points.n

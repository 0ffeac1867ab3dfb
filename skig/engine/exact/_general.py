"""The general exact engine: any piecewise-linear module, through recorded forward passes (ExactLine).

Each path is cut where a unit changes its linear piece, one piecewise-linear call at a time in execution order; on
every segment the network is affine, so IG is exact there. Each segment's gradient comes from the recorded pass that
evaluated its first point, with the units on a breakpoint patched to the segment's piece.
"""

from __future__ import annotations

import torch

from .._gradients import row_padded
from .._interrupt import check_interrupt
from .._invariant import RowInvariantProducts
from ._bounds import PieceBounds
from ._crossings import crossing_positions, sorted_unique
from ._head_lines import Head, head_integrals
from ._trace import PiecewiseUnits, record_forward


class _Rows:
    """Rows appended in place to a buffer that doubles when full, so appending n rows costs O(n) overall."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self.buffer: torch.Tensor | None = None
        self.size = 0

    def extend(self, rows: torch.Tensor) -> None:
        needed = self.size + rows.shape[0]
        if self.buffer is None:
            self.buffer = rows.new_empty((max(self.capacity, needed), *rows.shape[1:]))
        elif needed > self.buffer.shape[0]:
            grown = rows.new_empty((max(2 * self.buffer.shape[0], needed), *rows.shape[1:]))
            grown[: self.size] = self.buffer[: self.size]
            self.buffer = grown
        self.buffer[self.size : needed] = rows
        self.size = needed

    @property
    def values(self) -> torch.Tensor:
        return self.buffer[: self.size]


# Pieces of 24 units are packed into one float32 code by a matmul with powers of two: every partial sum is an integer
# below 2**24, exact in float32 whatever the summation order, so two points' pieces are equal iff their codes are.
_CODE_BITS = 24
_POWERS: dict[tuple[int, torch.device, torch.dtype], torch.Tensor] = {}


def _powers(n_columns: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    key = (n_columns, device, dtype)
    if key not in _POWERS:
        column = torch.arange(n_columns, device=device)
        powers = torch.zeros(n_columns, -(-n_columns // _CODE_BITS), dtype=dtype, device=device)
        powers[column, column // _CODE_BITS] = 2.0 ** (column % _CODE_BITS).to(dtype)
        _POWERS[key] = powers
    return _POWERS[key]


def _pack(units: PiecewiseUnits) -> torch.Tensor:
    """Which side of its thresholds each unit is on, packed: (rows, ceil(columns / 24)) int32 codes."""
    distances = units.distances
    dtype = distances.dtype if distances.dtype in (torch.float32, torch.float64) else torch.float32
    if units.output is not None:  # a ReLU: its output's sign is the side, in one pass
        above = torch.sign(units.output.reshape(distances.shape).to(dtype))
    else:
        # sign() then clamp is two cheap passes, where a comparison and a bool-to-float cast cost three times as much.
        above = torch.sign(distances.to(dtype)).clamp_(min=0)
    return (above @ _powers(above.shape[1], above.device, dtype)).to(torch.int32)


def _differing_units(codes_lo: torch.Tensor, codes_hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, unit) pairs where two packed rows of pieces differ."""
    words = codes_lo ^ codes_hi
    rows, word = words.nonzero(as_tuple=True)
    shifts = torch.arange(_CODE_BITS, device=words.device, dtype=words.dtype)
    bits = (words[rows, word].unsqueeze(1) >> shifts) & 1
    entry, bit = bits.nonzero(as_tuple=True)
    return rows[entry], word[entry] * _CODE_BITS + bit


class PathChunk:
    """The points of one chunk of paths, with what their recorded forward passes left.

    Points are flat: point ``i`` lies at ``alpha[i]`` on path ``path[i]``. For piecewise-linear call ``o`` (in
    execution order), ``codes[o]`` packs, per point, which side of its thresholds every unit is on; ``outputs``
    holds the module outputs in float64. ``passes`` keeps each forward pass's input, output, recorded calls (with
    the units' signed distances to their thresholds) and point range, so that the gradient of each segment comes
    from the pass that evaluated its first point, without a second forward pass.
    """

    def __init__(self, starts: torch.Tensor, ends: torch.Tensor, capacity: int) -> None:
        self.starts, self.ends = starts, ends
        self.steps = ends.double() - starts.double()
        self.native_steps = self.steps.to(starts.dtype)
        self.capacity = capacity
        self.alpha = _Rows(capacity)
        self.path = _Rows(capacity)
        self.outputs = _Rows(capacity)
        self.codes: list[_Rows] = []
        self.passes: list[tuple[torch.Tensor, torch.Tensor, list[PiecewiseUnits], int, int]] = []

    @property
    def n_points(self) -> int:
        return self.alpha.size

    def evaluate(self, module: torch.nn.Module, path: torch.Tensor, alpha: torch.Tensor, max_points: int) -> None:
        """Run the module on new points in passes of at most ``max_points``, keeping each pass's graph."""
        for lo in range(0, path.shape[0], max_points):
            part_path, part_alpha = path[lo : lo + max_points], alpha[lo : lo + max_points]
            # In the module's dtype: where a point lands differs from its alpha by that dtype's rounding, which is
            # all the precision its forward pass has anyway.
            points = torch.addcmul(
                self.starts[part_path], part_alpha.to(self.starts.dtype).unsqueeze(1), self.native_steps[part_path]
            )
            self._record(module, points, part_path, part_alpha)

    def evaluate_ends(self, module: torch.nn.Module, max_points: int) -> None:
        """Run the module on both ends of every path (point 2p: start of path p, 2p + 1: its end)."""
        n_paths = self.starts.shape[0]
        per_pass = max(1, max_points // 2)
        for lo in range(0, n_paths, per_pass):
            hi = min(n_paths, lo + per_pass)
            points = torch.stack((self.starts[lo:hi], self.ends[lo:hi]), dim=1).reshape(-1, self.starts.shape[1])
            path = torch.arange(lo, hi, device=points.device).repeat_interleave(2)
            alpha = torch.tensor([0.0, 1.0], dtype=torch.float64, device=points.device).repeat(hi - lo)
            self._record(module, points.detach().clone(), path, alpha)

    def _record(self, module: torch.nn.Module, points: torch.Tensor, path: torch.Tensor, alpha: torch.Tensor) -> None:
        n_points = points.shape[0]
        # Padded rows (see ROW_BLOCK) keep every point's values independent of the other points in its pass.
        points = row_padded(points).detach().requires_grad_(True)
        with RowInvariantProducts():
            output, units = record_forward(module, points)
        if not self.passes:
            self.codes = [_Rows(self.capacity) for _ in units]
        elif len(units) != len(self.codes):
            raise ValueError(
                f"the module made {len(units)} piecewise-linear calls in one forward pass and {len(self.codes)} "
                "in another: exact integrated gradients need the same calls for every input."
            )
        first = self.n_points
        for index, unit in enumerate(units):
            self.codes[index].extend(_pack(unit)[:n_points])
            unit.output = None  # only needed for its signs; the backward reads the distances
        self.outputs.extend(output.detach().reshape(output.shape[0], -1)[:n_points].double())
        self.alpha.extend(alpha)
        self.path.extend(path)
        self.passes.append((points, output, units, first, self.n_points))

    def distances_at(self, call: int, points: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
        """Signed distances (float64) of the given (point, column) entries of piecewise-linear call ``call``."""
        values = torch.empty(points.shape[0], dtype=torch.float64, device=points.device)
        for _input, _output, units, first, last in self.passes:
            here = ((points >= first) & (points < last)).nonzero().squeeze(1)
            if here.numel():
                values[here] = units[call].distances[points[here] - first, columns[here]].double()
        return values


def _split_points(
    chunk: PathChunk, lo: torch.Tensor, hi: torch.Tensor, from_call: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Find each segment's first piecewise-linear call, from ``from_call`` on, with a unit on different pieces at
    the two ends, and that call's crossings inside the segment.

    Returns
    -------
    first : Tensor of shape (S,)
        That call's index; the number of calls where there is none (the segment is uniform).
    segment, alpha : Tensor of shape (C,)
        Crossings as (segment, position) pairs, sorted by segment then position, without repeats.
    """
    n_calls = len(chunk.codes)
    first = torch.full_like(lo, n_calls)
    alphas = chunk.alpha.values
    segments, positions = [], []
    for index in range(n_calls):
        # Only segments still uniform up to here, and told to look this far, are compared.
        candidates = ((first == n_calls) & (from_call <= index)).nonzero().squeeze(1)
        if candidates.numel() == 0:
            continue
        codes = chunk.codes[index].values
        code_lo, code_hi = codes[lo[candidates]], codes[hi[candidates]]
        found = (code_lo != code_hi).any(1)
        candidates, code_lo, code_hi = candidates[found], code_lo[found], code_hi[found]
        first[candidates] = index
        rows, columns = _differing_units(code_lo, code_hi)
        # Every earlier call keeps its pieces on the segment, so this call's input is affine in alpha there and its
        # crossings follow by linear interpolation.
        at_lo, at_hi = lo[candidates[rows]], hi[candidates[rows]]
        d_lo = chunk.distances_at(index, at_lo, columns)
        d_hi = chunk.distances_at(index, at_hi, columns)
        _, crossing, inside = crossing_positions(d_lo, d_hi, alphas[at_lo], alphas[at_hi])
        segments.append(candidates[rows[inside]])
        positions.append(crossing[inside])
    if not segments:
        empty = torch.zeros(0, dtype=torch.long, device=lo.device)
        return first, empty, empty.double()
    return first, *sorted_unique(torch.cat(segments), torch.cat(positions))


def refine(
    module: torch.nn.Module, chunk: PathChunk, max_points: int, bounds: PieceBounds | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut every path of ``chunk`` into segments on which every unit keeps its piece: (lo, hi) point indices.

    With ``bounds``, the values each path keeps (its points times the recorded units) are checked after every round
    (see :class:`~._bounds.PieceBounds`).
    """
    chunk.evaluate_ends(module, max_points)
    n_calls = len(chunk.codes)
    device = chunk.starts.device
    n_paths = chunk.starts.shape[0]
    width = sum(unit.distances.shape[1] for unit in chunk.passes[0][2]) if chunk.passes else 1
    lo = torch.arange(0, chunk.n_points, 2, device=device)
    hi = lo + 1
    from_call = torch.zeros_like(lo)
    done_lo, done_hi = [], []
    # Pieces of a segment cut at call L's crossings look from L + 1 on (in exact arithmetic L keeps its pieces on
    # them), so every round moves every segment past one call at least: at most n_calls + 1 rounds.
    for round_ in range(n_calls + 2):
        check_interrupt()
        if bounds is not None:
            used = torch.bincount(chunk.path.values, minlength=n_paths) * width
            bounds.check(used, (round_ + 1) / (n_calls + 2))
        first, segment, cut = _split_points(chunk, lo, hi, from_call)
        uniform = first == n_calls
        done_lo.append(lo[uniform])
        done_hi.append(hi[uniform])
        if bool(uniform.all()):
            return torch.cat(done_lo), torch.cat(done_hi)
        new = chunk.n_points + torch.arange(segment.shape[0], device=device)
        chunk.evaluate(module, chunk.path.values[lo[segment]], cut, max_points)
        opens = torch.ones_like(segment, dtype=torch.bool)
        opens[1:] = segment[1:] != segment[:-1]
        closes = torch.ones_like(segment, dtype=torch.bool)
        closes[:-1] = segment[:-1] != segment[1:]
        # A cut segment becomes [lo, c1], [c1, c2], ..., [ck, hi]; one whose crossings all fell on its ends stays.
        whole = ~uniform
        whole[segment] = False
        lo, hi, from_call = (
            torch.cat((torch.where(opens, lo[segment], new.roll(1)), new[closes], lo[whole])),
            torch.cat((new, hi[segment[closes]], hi[whole])),
            torch.cat((first[segment], first[segment[closes]], first[whole])) + 1,
        )
    raise RuntimeError(f"exact path refinement did not finish in {n_calls + 2} rounds ({lo.numel()} segments left).")


def _segment_gradients(chunk: PathChunk, lo: torch.Tensor, hi: torch.Tensor, output_weights: torch.Tensor):
    """Per point, ``output_weights . d output / d x`` on the segment the point opens (zero for points opening none).

    Backward through the kept passes, each unit on the segment's own piece: the gradient of the affine piece,
    whatever piece the point itself sits on (at a crossing it sits on both).
    """
    dtype = chunk.starts.dtype
    opened = torch.zeros(chunk.n_points, output_weights.shape[1], dtype=dtype, device=lo.device)
    opened[lo] = output_weights.to(dtype)
    for index in range(len(chunk.codes)):
        codes = chunk.codes[index].values
        rows, columns = _differing_units(codes[lo], codes[hi])
        # A unit on the same side of its thresholds at both ends of a uniform segment stays there (its input is
        # affine on the segment), so its piece at the first point is the segment's. One on different sides sits on
        # a threshold at an end; its distance, affine on the segment, takes the sign at the midpoint inside.
        points = lo[rows]
        inside = (chunk.distances_at(index, points, columns) + chunk.distances_at(index, hi[rows], columns)) > 0
        for _input, _output, units, first, last in chunk.passes:
            here = ((points >= first) & (points < last)).nonzero().squeeze(1)
            units[index].patch = (points[here] - first, columns[here], inside[here])
    inputs, outputs, grad_outputs = [], [], []
    for points, output, _units, first, last in chunk.passes:
        inputs.append(points)
        outputs.append(output)
        padded = opened.new_zeros(output.shape[0], opened.shape[1])
        padded[: last - first] = opened[first:last]
        grad_outputs.append(padded.reshape(output.shape))
    if not any(output.requires_grad for output in outputs):  # the module ignores its input
        return torch.zeros(chunk.n_points, chunk.starts.shape[1], dtype=dtype, device=lo.device)
    found = torch.autograd.grad(outputs, inputs, grad_outputs, allow_unused=True)
    # Passes cover the points in order, so their gradients stack into the points' order.
    pairs = zip(inputs, found, chunk.passes, strict=True)
    return torch.cat(
        [
            (torch.zeros_like(points) if grad is None else grad)[: last - first]
            for points, grad, (*_, first, last) in pairs
        ]
    )


def general_chunk(
    module: torch.nn.Module,
    head: Head,
    starts: torch.Tensor,
    ends: torch.Tensor,
    targets: torch.Tensor,
    max_points: int,
    accumulate: torch.dtype,
    capacity: int,
    bounds: PieceBounds | None = None,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Exact attributions of one chunk of paths through recorded forward passes, the segments each path crossed,
    and the points evaluated (``capacity``: how many are expected)."""
    chunk = PathChunk(starts, ends, capacity=capacity)
    lo, hi = refine(module, chunk, max_points, bounds)
    outputs, alpha, path = chunk.outputs.values, chunk.alpha.values, chunk.path.values
    output_shape = chunk.passes[0][1].shape[1:]
    integrals = head_integrals(
        head, outputs[lo].to(accumulate), outputs[hi].to(accumulate), targets[path[lo]], output_shape
    )
    length = (alpha[hi] - alpha[lo]).to(accumulate).unsqueeze(1)
    # Points opening no segment have zero gradients here and add nothing.
    gradients = _segment_gradients(chunk, lo, hi, integrals * length)
    # The step is the same along a path: sum the gradients per path first, scale once.
    n_paths = starts.shape[0]
    summed = torch.zeros(n_paths, starts.shape[1], dtype=accumulate, device=starts.device)
    summed.index_add_(0, path, gradients.to(accumulate))
    return summed * chunk.steps.to(accumulate), torch.bincount(path[lo], minlength=n_paths), chunk.n_points

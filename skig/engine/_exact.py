"""Exact Integrated Gradients along straight paths through piecewise-linear networks (ExactLine).

Each path is cut where a unit changes its linear piece; on every segment the network is affine, so IG is exact there.
"""

from __future__ import annotations

import math

import torch

from ._chain import chain_chunk, compile_chain
from ._gradients import progress_bar, row_padded
from ._head_lines import Head, head_integrals
from ._invariant import RowInvariantProducts
from ._piecewise import (
    PiecewiseUnits,
    _violation_message,
    frozen_parameters,
    piecewise_linear_violations,
    record_forward,
)

_CPU_CHUNK_PASSES = 4


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


class _PathChunk:
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
    chunk: _PathChunk, lo: torch.Tensor, hi: torch.Tensor, from_call: torch.Tensor
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
        # crossings follow by linear interpolation. Float rounding can put one at or past an end: those are dropped.
        at_lo, at_hi = lo[candidates[rows]], hi[candidates[rows]]
        d_lo = chunk.distances_at(index, at_lo, columns)
        d_hi = chunk.distances_at(index, at_hi, columns)
        alpha_lo, alpha_hi = alphas[at_lo], alphas[at_hi]
        crossing = alpha_lo + d_lo / (d_lo - d_hi) * (alpha_hi - alpha_lo)
        inside = (crossing > alpha_lo) & (crossing < alpha_hi)
        segments.append(candidates[rows[inside]])
        positions.append(crossing[inside])
    if not segments:
        empty = torch.zeros(0, dtype=torch.long, device=lo.device)
        return first, empty, empty.double()
    segment, alpha = torch.cat(segments), torch.cat(positions)
    order = torch.argsort(alpha, stable=True)
    segment, alpha = segment[order], alpha[order]
    order = torch.argsort(segment, stable=True)
    segment, alpha = segment[order], alpha[order]
    keep = torch.ones_like(segment, dtype=torch.bool)
    keep[1:] = (segment[1:] != segment[:-1]) | (alpha[1:] != alpha[:-1])
    return first, segment[keep], alpha[keep]


def _refine(module: torch.nn.Module, chunk: _PathChunk, max_points: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut every path of ``chunk`` into segments on which every unit keeps its piece: (lo, hi) point indices."""
    chunk.evaluate_ends(module, max_points)
    n_calls = len(chunk.codes)
    device = chunk.starts.device
    lo = torch.arange(0, chunk.n_points, 2, device=device)
    hi = lo + 1
    from_call = torch.zeros_like(lo)
    done_lo, done_hi = [], []
    # Pieces of a segment cut at call L's crossings look from L + 1 on (in exact arithmetic L keeps its pieces on
    # them), so every round moves every segment past one call at least: at most n_calls + 1 rounds.
    for _ in range(n_calls + 2):
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


def _segment_gradients(chunk: _PathChunk, lo: torch.Tensor, hi: torch.Tensor, output_weights: torch.Tensor):
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


def _general_chunk(
    module: torch.nn.Module,
    head: Head,
    starts: torch.Tensor,
    ends: torch.Tensor,
    targets: torch.Tensor,
    max_points: int,
    accumulate: torch.dtype,
    capacity: int,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Exact attributions of one chunk of paths through recorded forward passes, the segments each path crossed,
    and the points evaluated (``capacity``: how many are expected)."""
    chunk = _PathChunk(starts, ends, capacity=capacity)
    lo, hi = _refine(module, chunk, max_points)
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


def _check_module(module: torch.nn.Module, starts: torch.Tensor, ends: torch.Tensor) -> list[PiecewiseUnits]:
    """Refuse a module that is not piecewise-linear on a few rows; its piecewise-linear calls on one row."""
    probe = torch.cat((starts[:1], ends[:2]))
    violations = piecewise_linear_violations(module, probe)
    if violations:
        raise ValueError(_violation_message(violations))
    return record_forward(module, starts[:1].detach().clone().requires_grad_(True))[1]


def exact_path_integrals(
    module: torch.nn.Module,
    head: Head,
    starts: torch.Tensor,
    ends: torch.Tensor,
    targets: torch.Tensor,
    *,
    max_points: int,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrated Gradients along straight paths, exact up to float rounding, for a piecewise-linear module.

    Each path is cut at the points where some unit (ReLU, LeakyReLU, PReLU, Hardtanh, clamp, ...) changes its linear
    piece, found exactly by linear interpolation, one piecewise-linear call at a time in execution order. On every
    segment the module is affine: its input Jacobian is constant and its output a line, along which the smooth
    ``head`` is integrated by Gauss-Legendre without further network evaluations. A module that is a chain of
    affine layers and hinges (the usual ReLU MLP, read from one traced forward pass and checked against the module)
    goes through :mod:`._chain`, which computes each layer once per point that exists when it is reached; any other
    piecewise-linear module through the recorded forward passes here.

    Parameters
    ----------
    module : torch.nn.Module
        A private copy in eval mode, parameters not requiring grad; affine or piecewise-linear in its input.
    head : callable
        ``head(raw, targets) -> (m,)``, raw of shape (m, K) or (m,) as the module returns it; smooth.
    starts, ends : Tensor of shape (P, d)
        Path ends, in the module's dtype and on its device.
    targets : Tensor of shape (P,)
        The output each path explains, passed on to ``head``.
    max_points : int
        Most points per forward/backward pass. Paths are processed in chunks sized from the segments per path seen
        so far so that a chunk holds about ``max_points`` points (at least one path) with their recorded passes;
        on a CPU, where passes are sized for the cache, a chunk holds ``_CPU_CHUNK_PASSES`` one-thread passes' worth.
    progress : bool, default=False
        Show a progress bar over paths.

    Returns
    -------
    attributions : Tensor of shape (P, d)
        ``(end - start) * integral_0^1 grad_x head(module(start + a (end - start))) da``, in float64 (float32 on
        devices without float64).
    segments : Tensor of shape (P,)
        The number of linear segments each path crossed (1 for a path of length zero).

    Raises
    ------
    ValueError
        If the module makes a call that is not affine or piecewise-linear in its input, naming it.
    RuntimeError
        If the refinement does not finish in as many rounds as the module has piecewise-linear calls, plus two.
    """
    n_paths, n_features = ends.shape
    device = ends.device
    accumulate = torch.float32 if device.type == "mps" else torch.float64
    attributions = torch.zeros(n_paths, n_features, dtype=accumulate, device=device)
    segments = torch.zeros(n_paths, dtype=torch.long, device=device)
    if n_paths == 0:
        return attributions, segments
    max_points = max(2, int(max_points))
    # On a CPU passes are sized for the cache (per torch thread), not for memory; a chunk of paths holds a few
    # one-thread passes' worth: fewer chunks pay less per-chunk bookkeeping, smaller ones stay in cache (measured in
    # benchmarks/bench_exact.py with 1 and 2 threads: 4 is the fastest).
    if device.type == "cpu":
        held = max(2, max_points * _CPU_CHUNK_PASSES // torch.get_num_threads())
    else:
        held = max_points
    with frozen_parameters(module):
        units = _check_module(module, starts, ends)
        chain = compile_chain(module, torch.cat((starts[:2], ends[:2], (starts[:2] + ends[:2]) / 2)))
        if chain is not None:

            def run(rows: slice) -> tuple[torch.Tensor, torch.Tensor, int]:
                return chain_chunk(chain, head, starts[rows], ends[rows], targets[rows], accumulate)

        else:

            def run(rows: slice) -> tuple[torch.Tensor, torch.Tensor, int]:
                expected = int(1.25 * (rows.stop - rows.start) * points_per_path)
                return _general_chunk(
                    module, head, starts[rows], ends[rows], targets[rows], max_points, accumulate, expected
                )

        # Before any path is seen, assume each crosses every unit once: more than most models need.
        points_per_path = 2.0 + sum(unit.distances.shape[1] for unit in units)
        bar = progress_bar(progress, n_paths, "exact paths")
        # The chain engine's compiled loops run on one thread: on a CPU with several torch threads, chunks go to as
        # many Python threads (the loops release the GIL), once the first chunk has measured the points per path.
        # Paths never interact, so the numbers do not depend on which thread explains which chunk.
        workers = torch.get_num_threads() if chain is not None and device.type == "cpu" else 1
        done = 0
        while done < n_paths:
            size = int(min(n_paths - done, max(1, held // math.ceil(points_per_path))))
            if done and workers > 1 and n_paths - done > size:
                _run_in_threads(run, done, n_paths, size, workers, attributions, segments, bar)
                break
            rows = slice(done, done + size)
            attributions[rows], segments[rows], n_points = run(rows)
            points_per_path = (points_per_path * done + n_points) / (done + size) if done else n_points / size
            done += size
            bar.update(size)
        bar.close()
    return attributions, segments


def _run_in_threads(run, done, n_paths, size, workers, attributions, segments, bar) -> None:
    """``run`` on the chunks of ``size`` paths from ``done`` on, ``workers`` at a time, into the results."""
    from concurrent.futures import ThreadPoolExecutor

    # At least a few chunks per thread, so that the threads finish together.
    size = max(1, min(size, -(-(n_paths - done) // (4 * workers))))
    chunks = [slice(lo, min(lo + size, n_paths)) for lo in range(done, n_paths, size)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for rows, (values, crossed, _) in zip(chunks, pool.map(run, chunks), strict=True):
            attributions[rows], segments[rows] = values, crossed
            bar.update(rows.stop - rows.start)

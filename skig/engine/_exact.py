"""Exact Integrated Gradients along straight paths through piecewise-linear networks (ExactLine).

Each path is cut where a unit changes its linear piece; on every segment the network is affine, so IG is exact there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._chain import Chain, chain_chunk, chain_reproduces, compile_chain
from ._exact_bounds import PIECE_VALUES, Overflow, PieceBounds, piece_ends, split_pieces
from ._gradients import progress_bar, row_padded
from ._head_lines import Head, head_integrals
from ._interrupt import check_interrupt, interrupted
from ._invariant import RowInvariantProducts
from ._piecewise import (
    PiecewiseUnits,
    _violation_message,
    frozen_parameters,
    piecewise_linear_violations,
    record_forward,
)

_CPU_CHUNK_PASSES = 4
# Fewest points a chunk of paths is sized for (a chunk of one path may hold fewer).
_MIN_CHUNK_POINTS = 4096


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


def _refine(
    module: torch.nn.Module, chunk: _PathChunk, max_points: int, bounds: PieceBounds | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut every path of ``chunk`` into segments on which every unit keeps its piece: (lo, hi) point indices.

    With ``bounds``, the values each path keeps (its points times the recorded units) are checked after every round
    (see :class:`~._exact_bounds.PieceBounds`).
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
    bounds: PieceBounds | None = None,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Exact attributions of one chunk of paths through recorded forward passes, the segments each path crossed,
    and the points evaluated (``capacity``: how many are expected)."""
    chunk = _PathChunk(starts, ends, capacity=capacity)
    lo, hi = _refine(module, chunk, max_points, bounds)
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


#: ``engine=`` of :func:`exact_path_integrals` and :func:`read_module`: "auto" takes the chain engine where the
#: module reads as a chain, the general engine otherwise.
EXACT_ENGINES = ("auto", "chain", "general")


@dataclass(frozen=True)
class ModuleReading:
    """What exact integration reads of a module before any path: checked once, reused while the weights are the same.

    Parameters
    ----------
    engine : {"chain", "general"}
        The engine its paths go through.
    units : int
        Piecewise-linear units one forward pass of a row evaluates (sizes the first chunk of paths).
    chain : Chain or None
        The module read as a chain (the chain engine), else None.
    weights : tuple of (name, Tensor)
        The module's parameters and buffers the chain was read from (empty for the general engine, which reads the
        module itself at every pass).
    """

    engine: str
    units: int
    chain: Chain | None = None
    weights: tuple[tuple[str, torch.Tensor], ...] = ()

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, ModuleReading)
            and (self.engine, self.units) == (other.engine, other.units)
            and [name for name, _ in self.weights] == [name for name, _ in other.weights]
            and all(_same_tensor(a, b) for (_, a), (_, b) in zip(self.weights, other.weights, strict=True))
        )

    __hash__ = None

    def fits(self, module: torch.nn.Module) -> bool:
        """Whether this reading describes ``module`` (the chain's weights equal the module's)."""
        if self.chain is None:
            return True
        current = module.state_dict(keep_vars=False)
        if len(current) != len(self.weights):
            return False
        return all(name in current and _same_tensor(current[name], tensor) for name, tensor in self.weights)


def _same_tensor(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.device == b.device and a.dtype == b.dtype and torch.equal(a, b)


def read_module(
    module: torch.nn.Module, starts: torch.Tensor, ends: torch.Tensor, engine: str = "auto"
) -> ModuleReading:
    """Check that ``module`` is piecewise-linear on a few path ends, count its units and choose its engine.

    Parameters
    ----------
    module : torch.nn.Module
        A private copy in eval mode.
    starts, ends : Tensor of shape (m, d)
        A few path starts and ends (the first two of each are read).
    engine : {"auto", "chain", "general"}, default="auto"
        ``"auto"``: the chain engine where the module reads as a chain (checked against the module), the general
        engine otherwise; ``"chain"`` refuses a module that is no chain; ``"general"`` never reads a chain.

    Raises
    ------
    ValueError
        If the module makes a call that is not affine or piecewise-linear in its input, or ``engine="chain"`` and
        it is no chain of affine layers and hinges.
    """
    if engine not in EXACT_ENGINES:
        raise ValueError(f"engine must be one of {list(EXACT_ENGINES)}, got {engine!r}.")
    with frozen_parameters(module):
        violations = piecewise_linear_violations(module, torch.cat((starts[:1], ends[:2])))
        if violations:
            raise ValueError(_violation_message(violations))
        units = record_forward(module, starts[:1].detach().clone().requires_grad_(True))[1]
        n_units = sum(unit.distances.shape[1] for unit in units)
        chain = None
        if engine != "general":
            chain = compile_chain(module, torch.cat((starts[:2], ends[:2], (starts[:2] + ends[:2]) / 2)))
    if chain is None:
        if engine == "chain":
            raise ValueError(
                "engine='chain' needs a module that is a chain of affine layers and hinges (Linear, BatchNorm, "
                "ReLU, LeakyReLU, PReLU, abs); this one is not: use engine='general' or 'auto'."
            )
        return ModuleReading("general", n_units)
    weights = tuple((name, tensor.detach()) for name, tensor in module.state_dict(keep_vars=True).items())
    return ModuleReading("chain", n_units, chain, weights)


@dataclass
class _Prepared:
    """What one call integrates with: the chain the module is (or None), the width of its piecewise-linear units,
    and the points a path has made so far on average (to size chunks)."""

    chain: Chain | None
    width: int
    points_per_path: float
    seen: bool = False

    def measured(self, points_per_path: float) -> None:
        """Take in the points per path of a chunk just integrated."""
        if self.seen:
            points_per_path = 0.75 * self.points_per_path + 0.25 * points_per_path
        self.points_per_path, self.seen = points_per_path, True


def _prepare(module: torch.nn.Module, starts: torch.Tensor, ends: torch.Tensor, reading: ModuleReading) -> _Prepared:
    """What this call integrates with: the chain ``reading`` holds, checked against the module on this call's own
    rows (a module that is a chain only on some rows is read again here), and the units' width."""
    chain = reading.chain
    if chain is not None:
        probe = torch.cat((starts[:2], ends[:2], (starts[:2] + ends[:2]) / 2))
        if not chain_reproduces(chain, module, probe):
            chain = compile_chain(module, probe)
    # Before any path is seen, assume each crosses every unit once: more than most models need.
    return _Prepared(chain, max(1, reading.units), 2.0 + reading.units)


def exact_path_integrals(
    module: torch.nn.Module,
    head: Head,
    starts: torch.Tensor,
    ends: torch.Tensor,
    targets: torch.Tensor,
    *,
    max_points: int,
    progress: bool = False,
    reading: ModuleReading | None = None,
    engine: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrated Gradients along straight paths, exact up to float rounding, for a piecewise-linear module.

    Each path is cut at the points where some unit (ReLU, LeakyReLU, PReLU, Hardtanh, clamp, ...) changes its linear
    piece, found exactly by linear interpolation, one piecewise-linear call at a time in execution order. On every
    segment the module is affine: its input Jacobian is constant and its output a line, along which the smooth
    ``head`` is integrated by Gauss-Legendre without further network evaluations. A module that is a chain of
    affine layers and hinges (the usual ReLU MLP, read from one traced forward pass and checked against the module)
    goes through :mod:`._chain`, which computes each layer once per point that exists when it is reached; any other
    piecewise-linear module through the recorded forward passes here.

    Memory does not grow with the segments a path crosses: a path whose points would hold more than
    :data:`~._exact_bounds.PIECE_VALUES` values is cut into sub-intervals of alpha, integrated one after another and
    summed (see :mod:`._exact_bounds`); where it is cut depends on the path alone.

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
    reading : ModuleReading or None, default=None
        What :func:`read_module` read of ``module`` (as ``fit`` does once); None reads it here, with ``engine``.
    engine : {"auto", "chain", "general"}, default="auto"
        Which engine, when ``reading`` is None (see :func:`read_module`).

    Returns
    -------
    attributions : Tensor of shape (P, d)
        ``(end - start) * integral_0^1 grad_x head(module(start + a (end - start))) da``, in float64 (float32 on
        devices without float64).
    segments : Tensor of shape (P,)
        The number of linear segments each path crossed (1 for a path of length zero); a path cut into pieces counts
        the segments of each.

    Raises
    ------
    ValueError
        If the module makes a call that is not affine or piecewise-linear in its input, naming it; or if a path
        crosses so many linear pieces that even cut into :data:`~._exact_bounds.MAX_PIECES` sub-intervals one would
        not fit the bound.
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
        held = max_points * _CPU_CHUNK_PASSES // torch.get_num_threads()
    else:
        held = max_points
    # A chunk costs a few milliseconds of bookkeeping whatever its size: small batch sizes do not mean tiny chunks
    # (exact Expected IG at batch_size=256 ran 5x slower than at the default with 1,024 points per chunk).
    held = max(held, _MIN_CHUNK_POINTS)
    if reading is None:
        reading = read_module(module, starts, ends, engine)
    with frozen_parameters(module):
        prepared = _prepare(module, starts, ends, reading)
        chain = prepared.chain
        # A chunk holds about `held` points of `width` values; it may hold a few times more before it is cut down.
        bounds = PieceBounds(piece=PIECE_VALUES, chunk=max(PIECE_VALUES, 4 * held * prepared.width))

        def run(path: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
            piece_starts, piece_ends_ = piece_ends(starts, ends, path, lo, hi)
            if chain is not None:
                return chain_chunk(chain, head, piece_starts, piece_ends_, targets[path], accumulate, bounds)
            expected = int(1.25 * len(path) * prepared.points_per_path)
            return _general_chunk(
                module, head, piece_starts, piece_ends_, targets[path], max_points, accumulate, expected, bounds
            )

        bar = progress_bar(progress, n_paths, "exact paths")
        # The chain engine's compiled loops run on one thread: on a CPU with several torch threads, chunks go to as
        # many Python threads (the loops release the GIL), once the first chunk has measured the points per path.
        # Paths never interact, so the numbers do not depend on which thread explains which chunk.
        workers = torch.get_num_threads() if chain is not None and device.type == "cpu" else 1
        pieces = _Pieces(n_paths, device)
        while pieces.pending:
            check_interrupt()
            size = int(min(pieces.pending, max(1, held // math.ceil(prepared.points_per_path))))
            if pieces.done and workers > 1 and pieces.whole and pieces.pending > size:
                pieces.requeue(
                    _run_in_threads(run, pieces.done, pieces.total, size, workers, pieces, attributions, segments, bar)
                )
                workers = 1
                continue
            path, lo, hi = pieces.next(size)
            try:
                values, crossed, n_points = run(path, lo, hi)
            except Overflow as overflow:
                if overflow.over is None:  # the chunk, not a path: fewer paths per chunk
                    prepared.points_per_path *= 4
                else:
                    pieces.split(size, overflow, bounds.piece)
                continue
            pieces.add(size, values, crossed, attributions, segments, bar)
            prepared.measured(n_points / size)
        bar.close()
    return attributions, segments


class _Pieces:
    """The path pieces still to integrate, in order along each path: (path, lo, hi) with lo, hi in alpha."""

    def __init__(self, n_paths: int, device: torch.device) -> None:
        self.path = torch.arange(n_paths, device=device)
        self.lo = torch.zeros(n_paths, dtype=torch.float64, device=device)
        self.hi = torch.ones(n_paths, dtype=torch.float64, device=device)
        self.count = torch.ones(n_paths, dtype=torch.long, device=device)  # pieces per path
        self.done = 0

    @property
    def total(self) -> int:
        return len(self.path)

    @property
    def pending(self) -> int:
        return len(self.path) - self.done

    @property
    def whole(self) -> bool:
        """Whether every pending piece is a whole path."""
        rest = slice(self.done, None)
        return bool((self.lo[rest] == 0).all()) and bool((self.hi[rest] == 1).all())

    def next(self, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows = slice(self.done, self.done + size)
        return self.path[rows], self.lo[rows], self.hi[rows]

    def add(self, size, values, crossed, attributions, segments, bar) -> None:
        """Add the results of the next ``size`` pieces to their paths (pieces of a path in order along it)."""
        rows = slice(self.done, self.done + size)
        path = self.path[rows]
        attributions.index_add_(0, path, values)
        segments.index_add_(0, path, crossed.to(segments.dtype))
        bar.update(int((self.hi[rows] == 1).sum()))
        self.done += size

    def split(self, size: int, overflow: Overflow, bound: int) -> None:
        """Cut the next ``size`` pieces' overflowing ones into sub-intervals, in place in the queue."""
        rows = slice(self.done, self.done + size)
        parts = split_pieces(self.path[rows], self.lo[rows], self.hi[rows], overflow, bound, self.count)
        rest = slice(self.done + size, None)
        self.path, self.lo, self.hi = (
            torch.cat((old[: self.done], new, old[rest]))
            for old, new in zip((self.path, self.lo, self.hi), parts, strict=True)
        )

    def requeue(self, chunks: list[slice]) -> None:
        """Pending pieces become those of ``chunks`` (all pieces from ``done`` on were handled but these)."""
        keep = torch.cat([torch.arange(rows.start, rows.stop) for rows in chunks]) if chunks else torch.zeros(0).long()
        self.path, self.lo, self.hi = self.path[keep], self.lo[keep], self.hi[keep]
        self.done = 0


_OVERFLOWED = object()


def _run_in_threads(run, done, n_paths, size, workers, pieces, attributions, segments, bar) -> list[slice]:
    """``run`` on the chunks of ``size`` whole paths from ``done`` on, ``workers`` at a time, into the results; the
    chunks that overflowed their bounds are returned, to be cut and integrated afterwards.

    Ctrl-C (see :mod:`._interrupt`) stops the workers before their next chunk; queued chunks are cancelled.
    """
    from concurrent.futures import ThreadPoolExecutor

    # At least a few chunks per thread, so that the threads finish together.
    size = max(1, min(size, -(-(n_paths - done) // (4 * workers))))
    chunks = [slice(lo, min(lo + size, n_paths)) for lo in range(done, n_paths, size)]

    def work(rows: slice):
        if interrupted():
            return None
        try:
            return run(pieces.path[rows], pieces.lo[rows], pieces.hi[rows])
        except Overflow:
            return _OVERFLOWED

    overflowed = []
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = [pool.submit(work, rows) for rows in chunks]
        for rows, future in zip(chunks, futures, strict=True):
            result = future.result()
            check_interrupt()
            if result is _OVERFLOWED:
                overflowed.append(rows)
                continue
            values, crossed, _ = result
            path = pieces.path[rows]
            attributions.index_add_(0, path, values)
            segments.index_add_(0, path, crossed.to(segments.dtype))
            bar.update(rows.stop - rows.start)
    finally:
        # On an interrupt or an error: queued chunks are dropped, running ones end with their chunk.
        pool.shutdown(wait=True, cancel_futures=True)
    return overflowed

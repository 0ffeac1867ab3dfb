"""Exact Integrated Gradients along straight paths through piecewise-linear networks: the driver both engines share.

Paths go in chunks sized from the segments per path seen so far, pieces of paths that outgrow the memory bound are
cut (:mod:`._bounds`), and on a CPU with several torch threads the chain engine's chunks run on as many threads.
"""

from __future__ import annotations

import math
from contextlib import closing, nullcontext

import torch

from .._gradients import accumulation_dtype, progress_bar
from .._interrupt import check_interrupt
from .._threads import operator_threads, run_passes, skig_threads
from ._bounds import PIECE_VALUES, Overflow, PieceBounds, piece_ends, split_pieces
from ._chain import chain_chunk
from ._general import general_chunk
from ._head_lines import Head
from ._reading import ModuleReading, prepare, read_module
from ._trace import frozen_parameters

_CPU_CHUNK_PASSES = 4
# Fewest points a chunk of paths is sized for (a chunk of one path may hold fewer).
_MIN_CHUNK_POINTS = 4096


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
    piecewise-linear module through the recorded forward passes of :mod:`._general`.

    Memory does not grow with the segments a path crosses: a path whose points would hold more than
    :data:`~._bounds.PIECE_VALUES` values is cut into sub-intervals of alpha, integrated one after another and
    summed (see :mod:`._bounds`); where it is cut depends on the path alone.

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
        crosses so many linear pieces that even cut into :data:`~._bounds.MAX_PIECES` sub-intervals one would
        not fit the bound.
    RuntimeError
        If the refinement does not finish in as many rounds as the module has piecewise-linear calls, plus two.
    """
    n_paths, n_features = ends.shape
    device = ends.device
    accumulate = accumulation_dtype(device)
    attributions = torch.zeros(n_paths, n_features, dtype=accumulate, device=device)
    segments = torch.zeros(n_paths, dtype=torch.long, device=device)
    if n_paths == 0:
        return attributions, segments
    max_points = max(2, int(max_points))
    # On a CPU passes are sized for the cache (per torch thread), not for memory; a chunk of paths holds a few
    # one-thread passes' worth: fewer chunks pay less per-chunk bookkeeping, smaller ones stay in cache (measured in
    # benchmarks/bench_exact.py with 1 and 2 threads: 4 is the fastest).
    if device.type == "cpu":
        held = max_points * _CPU_CHUNK_PASSES // skig_threads()
    else:
        held = max_points
    # A chunk costs a few milliseconds of bookkeeping whatever its size: small batch sizes do not mean tiny chunks
    # (exact Expected IG at batch_size=256 ran 5x slower than at the default with 1,024 points per chunk).
    held = max(held, _MIN_CHUNK_POINTS)
    if reading is None:
        reading = read_module(module, starts, ends, engine)
    with frozen_parameters(module):
        prepared = prepare(module, starts, ends, reading)
        chain = prepared.chain
        # A chunk holds about `held` points of `width` values; it may hold a few times more before it is cut down.
        bounds = PieceBounds(piece=PIECE_VALUES, chunk=max(PIECE_VALUES, 4 * held * prepared.width))

        def run(path: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
            piece_starts, piece_ends_ = piece_ends(starts, ends, path, lo, hi)
            if chain is not None:
                return chain_chunk(chain, head, piece_starts, piece_ends_, targets[path], accumulate, bounds)
            expected = int(1.25 * len(path) * prepared.points_per_path)
            return general_chunk(
                module, head, piece_starts, piece_ends_, targets[path], max_points, accumulate, expected, bounds
            )

        bar = progress_bar(progress, n_paths, "exact paths")
        # The chain engine's compiled loops run on one thread: on a CPU with several torch threads, chunks go to as
        # many Python threads (the loops release the GIL), once the first chunk has measured the points per path.
        # Paths never interact, so the numbers do not depend on which thread explains which chunk.
        workers = skig_threads() if chain is not None and device.type == "cpu" else 1
        pieces = _Pieces(n_paths, device)
        # The general engine's chunks run here alone: their operators on skig's threads (see _threads.torch_threads).
        with operator_threads() if chain is None else nullcontext():
            while pieces.pending:
                check_interrupt()
                size = int(min(pieces.pending, max(1, held // math.ceil(prepared.points_per_path))))
                if pieces.done and workers > 1 and pieces.whole and pieces.pending > size:
                    pieces.requeue(
                        _run_in_threads(
                            run, pieces.done, pieces.total, size, workers, pieces, attributions, segments, bar
                        )
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
    """``run`` on the chunks of ``size`` whole paths from ``done`` on, on ``workers`` threads with one torch thread
    each (:func:`~skig.engine._threads.run_passes`), added into the results in chunk order; the chunks that
    overflowed their bounds are returned, to be cut and integrated afterwards.

    Ctrl-C (see :mod:`skig.engine._interrupt`) stops the workers before their next chunk; queued chunks are dropped.
    """
    # At least a few chunks per thread, so that the threads finish together.
    size = max(1, min(size, -(-(n_paths - done) // (4 * workers))))
    chunks = [slice(lo, min(lo + size, n_paths)) for lo in range(done, n_paths, size)]

    def work(rows: slice):
        try:
            return run(pieces.path[rows], pieces.lo[rows], pieces.hi[rows])
        except Overflow:
            return _OVERFLOWED

    overflowed = []
    with closing(run_passes(work, chunks, workers)) as results:
        for rows, result in zip(chunks, results, strict=True):
            if result is _OVERFLOWED:
                overflowed.append(rows)
                continue
            values, crossed, _ = result
            path = pieces.path[rows]
            attributions.index_add_(0, path, values)
            segments.index_add_(0, path, crossed.to(segments.dtype))
            bar.update(rows.stop - rows.start)
    return overflowed

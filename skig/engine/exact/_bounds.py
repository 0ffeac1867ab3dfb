"""Memory bounds of exact integration: paths cut into pieces of alpha, so that memory does not grow with segments.

An exact engine keeps, for every point it made, the values of every unit it passed (to take each segment's gradient
afterwards): a path crossing many linear pieces holds many points (a 40 x 1,024 ReLU net with inputs scaled by 1,000
crosses about 20,800 per row, 2.6 GB for one row). The engines count, after each piecewise-linear call, the values
each path holds; past :data:`PIECE_VALUES` the path is cut into equal sub-intervals of alpha, integrated one after
another and summed (IG is additive over sub-intervals, so the sum is the whole path's integral up to float rounding).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: Kept values (points x units, summed over a path's piecewise-linear calls) one path piece may hold: 64 MiB in
#: float32. A constant rather than a share of free memory, so that where a path is cut (and so its last float bits)
#: depends on the path alone, never on the machine, the batch or the other rows.
PIECE_VALUES = 2**24
#: A path needing more pieces than this is refused (with ~2**24 values per piece, over a trillion values in all):
#: integrating it exactly is not worth it, a quadrature rule is the tool there.
MAX_PIECES = 2**12


class Overflow(Exception):
    """A chunk of path pieces outgrew its bound after a share ``done`` of the module's piecewise-linear calls.

    ``over`` (indices in the chunk) are the pieces that each outgrew :data:`PIECE_VALUES`, holding ``used`` values;
    both None when only the chunk as a whole outgrew its bound (fewer pieces per chunk will do).
    """

    def __init__(self, over: torch.Tensor | None, used: torch.Tensor | None, done: float) -> None:
        super().__init__("path pieces outgrew their memory bound")
        self.over, self.used, self.done = over, used, done


@dataclass(frozen=True)
class PieceBounds:
    """The values one path piece (``piece``) and one chunk of pieces (``chunk``) may hold."""

    piece: int = PIECE_VALUES
    chunk: int = PIECE_VALUES

    def check(self, used: torch.Tensor, done: float) -> None:
        """Raise :class:`Overflow` if a piece (``used``: values per piece) or the chunk outgrew its bound."""
        over = used > self.piece
        if bool(over.any()):
            chosen = over.nonzero().squeeze(1)
            raise Overflow(chosen, used[chosen], done)
        if int(used.sum()) > self.chunk:
            raise Overflow(None, None, done)


def piece_ends(
    starts: torch.Tensor, ends: torch.Tensor, path: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ends of the pieces ``[lo, hi]`` (in alpha) of the paths ``path``, in the paths' dtype.

    A piece starting at 0 (ending at 1) starts (ends) exactly at its path's start (end); others at the point at that
    alpha, computed in float64 by one formula, so that neighbouring pieces share their common end bit for bit.
    """
    start, end = starts[path], ends[path]
    if bool((lo == 0).all()) and bool((hi == 1).all()):
        return start, end
    step = end.double() - start.double()

    def at(alpha: torch.Tensor, exact: torch.Tensor, whole: float) -> torch.Tensor:
        inside = (start.double() + alpha.unsqueeze(1) * step).to(start.dtype)
        return torch.where((alpha == whole).unsqueeze(1), exact, inside)

    return at(lo, start, 0.0), at(hi, end, 1.0)


def split_pieces(
    path: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, overflow: Overflow, bound: int, pieces: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The pieces of a chunk with those that overflowed cut into equal sub-intervals, in order along each path.

    Each overflowing piece is cut into a power of two of sub-intervals from its own numbers alone (the values it held
    after a share of the calls, extrapolated to all of them), so where a path is cut does not depend on its chunk.
    ``pieces`` counts the pieces of every path (indexed by path) and is updated in place.

    Raises
    ------
    ValueError
        If a path would need more than :data:`MAX_PIECES` pieces.
    """
    estimate = overflow.used.double() / max(overflow.done, 1e-9)
    factor = torch.clamp(torch.ceil(2.0 * estimate / bound), min=2, max=256)
    counts = torch.ones_like(path)
    counts[overflow.over] = (2 ** torch.ceil(torch.log2(factor))).long()
    pieces.index_add_(0, path, counts - 1)
    if bool((pieces > MAX_PIECES).any()) or bool(((hi - lo) / counts < 2.0**-40).any()):
        worst = int(torch.argmax(pieces))
        raise ValueError(
            f"exact integration: path {worst} crosses so many linear pieces of the network that cut into "
            f"{MAX_PIECES} sub-intervals some would still hold over {bound:,} values each; it is not worth "
            "integrating exactly. Use a quadrature rule (rule='gausslegendre', with n_steps large enough for the "
            "delta you need, or n_steps='auto')."
        )
    owner = torch.repeat_interleave(torch.arange(len(path)), counts)
    first = torch.cumsum(counts, 0) - counts
    within = torch.arange(len(owner)) - first[owner]
    step = counts[owner].double()
    new_lo = lo[owner] + (hi[owner] - lo[owner]) * (within.double() / step)
    new_hi = lo[owner] + (hi[owner] - lo[owner]) * ((within + 1).double() / step)
    # The last piece of a cut keeps its parent's end exactly (and so the first its start, since within = 0 there).
    last = within == counts[owner] - 1
    new_hi = torch.where(last, hi[owner], new_hi)
    return path[owner], new_lo, new_hi

"""The input space: where paths run. For a plain net the encoded float matrix; for a net that looks input columns
up in embedding tables, the joint space of the encoded matrix and the looked-up vectors (lookups replaced on the path).

Methods and integrators see one float matrix either way: :class:`InputSpace` maps encoded rows to points, wraps the
module so that it reads points, and folds attributions on points back to the encoded columns (a sum per column, so
completeness is preserved).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from ._device import module_placement
from .exact._trace import _argument

_LOOKUPS = {"embedding": F.embedding, "embedding_bag": F.embedding_bag}
_INTEGER_CASTS = frozenset({"long", "int", "short", "byte", "to", "type"})
#: Reference rows probed to trace which lookups read which column.
_TRACE_ROWS = 256
#: Further shuffles tried where a lookup's indices equal several columns up to a constant (few reference rows).
_RESHUFFLES = 8


def spread_rows(n_rows: int, most: int) -> np.ndarray:
    """Up to ``most`` row positions of ``n_rows``, drawn across all of them: one from each of ``most`` equal runs of
    rows, at a seeded place in it (in order; the time and memory of ``most`` positions, whatever ``n_rows``). Reference
    data sorted or grouped by a column shows all its values, which its first rows might not; the draw within each run
    keeps data that repeats with the runs' period from showing one phase."""
    if n_rows <= most:
        return np.arange(n_rows)
    starts = np.arange(most + 1) * n_rows // most
    return starts[:-1] + np.random.RandomState(0).randint(0, np.diff(starts))


@dataclass(frozen=True)
class Lookup:
    """One embedding call of the forward pass whose indices (some positions of them) are input columns.

    ``call`` is its rank among the lookups of a forward pass; ``positions`` the flat positions (in the index's
    shape past the rows) read from input columns, ``columns`` those encoded columns and ``offsets`` what the model
    adds to their codes; ``rows`` the table's size, ``dim`` its vector width. A bag (``embedding_bag``, modes
    ``"sum"`` and ``"mean"``) sums or averages its positions' vectors.
    """

    call: int
    kind: str
    index_shape: tuple[int, ...]
    positions: tuple[int, ...]
    columns: tuple[int, ...]
    offsets: tuple[int, ...]
    rows: int
    dim: int
    bag_mode: str | None = None

    def code_ranges(self) -> list[tuple[int, int]]:
        """The codes each traced position may take: its offset's block of the table, up to the next offset."""
        starts = sorted(set(self.offsets))
        ranges = []
        for offset in self.offsets:
            following = [start for start in starts if start > offset]
            ranges.append((max(0, offset) - offset, (following[0] if following else self.rows) - offset))
        return ranges


def _lookup_name(func) -> str | None:
    for name, function in _LOOKUPS.items():
        if func is function:
            return name
    return None


class LookupsInRange(TorchFunctionMode):
    """Runs a forward pass on reference rows to its end when codes fall outside an embedding table: such a lookup
    reads its indices clamped into the table, and is recorded in ``outside`` as (call rank, the indices outside, the
    table's size), so that the codes can be named (:func:`trace_lookups`, then the explainer's code check) instead of
    torch failing with "index out of range in self"."""

    def __init__(self) -> None:
        super().__init__()
        self.outside: list[tuple[int, list, int]] = []
        self.n_calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = _lookup_name(func)
        if name is None:
            return func(*args, **kwargs)
        self.lookup(name, args, kwargs)
        self.n_calls += 1
        indices, weight = args[0], _argument(args, kwargs, 1, "weight")
        if isinstance(indices, torch.Tensor) and isinstance(weight, torch.Tensor) and indices.numel():
            rows = int(weight.shape[0])
            bad = (indices < 0) | (indices >= rows)
            if bool(bad.any()):
                self.outside.append((self.n_calls - 1, torch.unique(indices[bad]).tolist()[:10], rows))
                args = (indices.clamp(0, max(rows - 1, 0)), *args[1:])
        return func(*args, **kwargs)

    def lookup(self, name: str, args: tuple, kwargs: dict) -> None:
        """Called on every lookup, with its arguments as the forward pass made them."""


class _Recorder(LookupsInRange):
    """Records the lookups of one forward pass: (kind, indices, weight, arguments)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, torch.Tensor, torch.Tensor, tuple, dict]] = []

    def lookup(self, name: str, args: tuple, kwargs: dict) -> None:
        self.calls.append((name, args[0], _argument(args, kwargs, 1, "weight"), args, kwargs))


def bag_left_to_model(args: tuple, kwargs: dict) -> bool:
    """Whether an ``embedding_bag`` call (its arguments) is one the input space leaves to the model: only bags of
    modes ``"sum"`` and ``"mean"`` over one 2-D index tensor, without offsets or ``padding_idx``, are linear in their
    vectors and integrated in embedding space."""
    indices = args[0]
    return (
        not isinstance(indices, torch.Tensor)
        or indices.ndim != 2
        or _argument(args, kwargs, 2, "offsets") is not None
        or _argument(args, kwargs, 6, "mode", "mean") not in ("sum", "mean")
        or _argument(args, kwargs, 10, "padding_idx") is not None
    )


def _matches(indices: torch.Tensor, probe: np.ndarray, candidates: np.ndarray) -> list[list[tuple[int, int]]]:
    """For each position of ``indices`` (rows first), every candidate column it equals up to a constant, with it."""
    flat = indices.reshape(indices.shape[0], -1).detach().cpu().numpy().astype(np.int64)
    found = []
    for position in range(flat.shape[1]):
        matches = []
        for column in candidates:
            difference = flat[:, position] - probe[:, column].astype(np.int64)
            if (difference == difference[0]).all():
                matches.append((int(column), int(difference[0])))
        found.append(matches)
    return found


def _one_column(matches, call: int, position: int, recorded, candidates, names) -> tuple[int, int] | None:
    """The one column (and offset) a lookup's index position reads, from its ``matches`` on the first shuffle: where
    several columns fit (columns that move together over few reference rows), those that also fit other shuffles;
    where several still do, an error: skig cannot tell which column the table belongs to."""
    seed = 0
    while len(matches) > 1 and seed < _RESHUFFLES:
        seed += 1
        probe, recorder = recorded(seed)
        if call >= len(recorder.calls):
            break
        again = set(_matches(recorder.calls[call][1], probe, candidates)[position])
        matches = [match for match in matches if match in again]
    if len(matches) > 1:
        raise ValueError(
            f"an embedding lookup's indices equal each of the columns {[str(names[c]) for c, _ in matches]} up to a "
            "constant on every shuffle of the reference rows tried, so skig cannot tell which column the table "
            "belongs to: fit on more reference rows (rows where those columns move apart)."
        )
    return matches[0] if matches else None


def trace_lookups(module: torch.nn.Module, encoded: np.ndarray, names=None) -> list[Lookup]:
    """The lookups of ``module`` whose indices are input columns (plus a constant offset), found on reference rows.

    The integer-valued columns of up to 256 reference rows, drawn across all of them (:func:`spread_rows`: data
    sorted by a column shows its values), are shuffled independently (so that no two columns move together), and
    each lookup's index positions are matched to the column they equal up to a constant. Where several columns
    match (columns that move together over few rows), other shuffles decide, or a ValueError naming them (by
    ``names``, the encoded columns' names) says to fit on more rows. Lookups with constant indices, or indices
    computed from several columns, stay part of the model.
    """
    rows = encoded[spread_rows(len(encoded), _TRACE_ROWS)]
    integral = np.isfinite(rows).all(0) & (rows == np.round(rows)).all(0)
    varying = rows.max(0) > rows.min(0) if len(rows) else np.zeros(rows.shape[1], dtype=bool)
    # Lookups are traced where some integer-valued column varies over three rows or more. The recording pass runs
    # on every model all the same: indices outside their table are refused by name where none is traced too.
    candidates = np.flatnonzero(integral & varying) if len(rows) >= 3 else np.zeros(0, dtype=np.int64)
    names = np.arange(encoded.shape[1]) if names is None else names
    dtype, device = module_placement(module)
    passes: dict[int, tuple[np.ndarray, _Recorder]] = {}

    def recorded(seed: int) -> tuple[np.ndarray, _Recorder]:
        """The rows with each candidate column shuffled by ``seed``, and the lookups the module made on them."""
        if seed not in passes:
            probe, rng, recorder = rows.copy(), np.random.RandomState(seed), _Recorder()
            for column in candidates:
                probe[:, column] = probe[rng.permutation(len(probe)), column]
            with torch.no_grad(), recorder:
                module(torch.as_tensor(probe, dtype=dtype, device=device))
            passes[seed] = probe, recorder
        return passes[seed]

    probe, recorder = recorded(0)
    lookups = []
    for call, (kind, indices, weight, args, kwargs) in enumerate(recorder.calls):
        if not isinstance(indices, torch.Tensor) or indices.ndim == 0 or indices.shape[0] != len(probe):
            continue
        mode = None
        if kind == "embedding_bag":
            if bag_left_to_model(args, kwargs):
                continue  # not linear in its vectors: the zero-gradient guard names it
            mode = _argument(args, kwargs, 6, "mode", "mean")
        traced = [
            _one_column(matches, call, p, recorded, candidates, names)
            for p, matches in enumerate(_matches(indices, probe, candidates))
        ]
        positions = tuple(p for p, match in enumerate(traced) if match is not None)
        if not positions:
            continue
        lookups.append(
            Lookup(
                call=call,
                kind=kind,
                index_shape=tuple(indices.shape[1:]),
                positions=positions,
                columns=tuple(traced[p][0] for p in positions),
                offsets=tuple(traced[p][1] for p in positions),
                rows=int(weight.shape[0]),
                dim=int(weight.shape[1]),
                bag_mode=mode,
            )
        )
    traced = {lookup.call for lookup in lookups}
    untraced = [(values, size) for call, values, size in recorder.outside if call not in traced]
    if untraced:
        values, size = untraced[0]
        raise ValueError(
            f"the model looks up an embedding table of {size} rows with indices outside it ({values}) on the "
            "reference rows, and skig could not tie those indices to one input column plus a constant (indices "
            "computed from several columns, a column that does not vary over the reference rows, or fewer than 3 "
            "rows), so it cannot say which column's codes they come from: check the codes the model computes its "
            "lookup indices from (a category the net never saw, a missing value mapped to -1)."
        )
    return lookups


class _Captured(BaseException):
    """Ends a capturing forward pass once every traced lookup's vectors are in: the rest of the pass is not needed.

    A ``BaseException`` so that a ``forward`` catching ``Exception`` lets it through (one that catches everything just
    runs its pass to the end, with the vectors already captured)."""


class _Lookups(TorchFunctionMode):
    """Inside the wrapped module's forward: captures the traced lookups' vectors, or replaces them by given ones.

    Integer casts of point-dependent tensors are taken on detached values (their result has no gradient anyway), so
    that the exact engine's recorder sees only the codes' float uses, and never the indices of a replaced lookup.
    A capturing pass (``vectors=None``) ends with :class:`_Captured` right after the last traced lookup.
    """

    def __init__(self, lookups: tuple[Lookup, ...], vectors: torch.Tensor | None) -> None:
        super().__init__()
        self.by_call = {lookup.call: lookup for lookup in lookups}
        widths = [len(lookup.positions) * lookup.dim for lookup in lookups]
        starts = np.cumsum([0, *widths[:-1]])
        self.starts = {lookup.call: int(start) for lookup, start in zip(lookups, starts, strict=True)}
        self.vectors = vectors  # None: capture
        self.captured: list[torch.Tensor] = []
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = _lookup_name(func)
        if name is None:
            if getattr(func, "__name__", "") in _INTEGER_CASTS and self.vectors is not None:
                with torch._C.DisableTorchFunction():  # a detach no outer mode (the exact engine's recorder) sees
                    detached = tuple(a.detach() if isinstance(a, torch.Tensor) else a for a in args)
                result = func(*detached, **kwargs)
                if isinstance(result, torch.Tensor) and not result.is_floating_point():
                    return result
            return func(*args, **kwargs)
        call, self.count = self.count, self.count + 1
        lookup = self.by_call.get(call)
        if lookup is None or tuple(args[0].shape[1:]) != lookup.index_shape:
            return func(*args, **kwargs)
        indices = args[0]
        n = indices.shape[0]
        flat = indices.reshape(n, -1)
        weight = _argument(args, kwargs, 1, "weight")
        if self.vectors is None:
            output = func(*args, **kwargs)
            if lookup.kind == "embedding":
                vectors = output.reshape(n, -1, lookup.dim)[:, list(lookup.positions)]
            else:  # a bag's output mixes its positions: each position's own vector is its table row
                vectors = F.embedding(flat[:, list(lookup.positions)], weight)
            self.captured.append(vectors.reshape(n, -1))
            if len(self.captured) == len(self.by_call):
                raise _Captured
            return output
        start = self.starts[call]
        given = self.vectors[:, start : start + len(lookup.positions) * lookup.dim]
        given = given.reshape(n, len(lookup.positions), lookup.dim)
        return self._replaced(func, args, kwargs, lookup, flat, weight, given)

    @staticmethod
    def _replaced(func, args, kwargs, lookup: Lookup, flat, weight, given) -> torch.Tensor:
        n, k = flat.shape
        slots = dict(zip(lookup.positions, given.unbind(1), strict=True))
        others = [p for p in range(k) if p not in slots]
        if others:
            # Positions with constant indices are part of the model: looked up as the model does.
            if lookup.kind == "embedding":
                kept = func(flat[:, others], *args[1:], **kwargs)
            else:
                kept = F.embedding(flat[:, others], weight)
            slots.update(zip(others, kept.unbind(1), strict=True))
        stacked = torch.stack([slots[p] for p in range(k)], dim=1)
        if lookup.kind == "embedding":
            return stacked.reshape(n, *lookup.index_shape, lookup.dim)
        weights = _argument(args, kwargs, 8, "per_sample_weights")
        if weights is not None:
            stacked = stacked * weights.unsqueeze(-1)
        return stacked.sum(1) if lookup.bag_mode == "sum" else stacked.mean(1)


class JointModule(torch.nn.Module):
    """``module`` reading points of the joint space: encoded columns first, then the traced lookups' vectors."""

    def __init__(self, module: torch.nn.Module, space: InputSpace) -> None:
        super().__init__()
        self.module = module
        self.space = space

    def forward(self, points: torch.Tensor):
        width = self.space.n_encoded
        with _Lookups(self.space.lookups, points[:, width:]):
            return self.module(points[:, :width])


@dataclass(frozen=True)
class InputSpace:
    """Where paths run: the encoded columns, followed by one block of coordinates per traced lookup position.

    Parameters
    ----------
    n_encoded : int
        Width of the encoded matrix.
    lookups : tuple of Lookup
        The traced lookups, in call order (empty for a plain net: the space is the encoded matrix).
    """

    n_encoded: int
    lookups: tuple[Lookup, ...] = ()
    vector_columns: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        columns = [c for lookup in self.lookups for c in lookup.columns for _ in range(lookup.dim)]
        object.__setattr__(self, "vector_columns", np.asarray(columns, dtype=np.int64))

    @property
    def width(self) -> int:
        return self.n_encoded + len(self.vector_columns)

    @property
    def code_columns(self) -> np.ndarray:
        """Encoded columns read as codes by some lookup."""
        return np.unique(self.vector_columns)

    def encoded_column(self) -> np.ndarray:
        """For each coordinate of the space, the encoded column it belongs to."""
        return np.concatenate([np.arange(self.n_encoded), self.vector_columns])

    def module(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` reading points of this space (itself for a plain net)."""
        return JointModule(module, self) if self.lookups else module

    def points(
        self, module: torch.nn.Module, encoded: torch.Tensor, max_points: int, *, zero_vectors: bool = False
    ) -> torch.Tensor:
        """Encoded rows as points: the rows followed by the vectors ``module`` looks up for them (zeros with
        ``zero_vectors``: the virtual zero point of embedding space)."""
        if not self.lookups:
            return encoded
        if zero_vectors:
            zeros = encoded.new_zeros(len(encoded), len(self.vector_columns))
            return torch.cat([encoded, zeros], dim=1)
        parts = []
        with torch.no_grad():
            for lo in range(0, len(encoded), max(1, max_points)):
                chunk = encoded[lo : lo + max(1, max_points)]
                capture = _Lookups(self.lookups, None)
                try:
                    with capture:
                        module(chunk)
                except _Captured:
                    pass
                if len(capture.captured) != len(self.lookups):
                    raise RuntimeError(
                        f"the model looked up {len(capture.captured)} of the {len(self.lookups)} embedding lookups "
                        "fit traced; it changed since fit: call fit again."
                    )
                parts.append(torch.cat([chunk, *capture.captured], dim=1))
        return torch.cat(parts) if parts else encoded.new_zeros(0, self.width)

    def fold(self, attributions: torch.Tensor) -> torch.Tensor:
        """Attributions on points summed back to the encoded columns (each vector onto its code column)."""
        if not self.lookups:
            return attributions
        folded = attributions[:, : self.n_encoded].clone()
        index = torch.as_tensor(self.vector_columns, device=attributions.device)
        return folded.index_add_(1, index, attributions[:, self.n_encoded :])

    def bad_codes(self, encoded: np.ndarray) -> dict[int, tuple[np.ndarray, tuple[int, int]]]:
        """For each code column with values no table row stands for (out of range, not whole, NaN): the rows at
        fault and the accepted range."""
        bad: dict[int, tuple[np.ndarray, tuple[int, int]]] = {}
        for lookup in self.lookups:
            for column, (low, high) in zip(lookup.columns, lookup.code_ranges(), strict=True):
                values = encoded[:, column]
                with np.errstate(invalid="ignore"):
                    wrong = ~np.isfinite(values) | (values != np.round(values)) | (values < low) | (values >= high)
                if wrong.any() and column not in bad:
                    bad[column] = (np.flatnonzero(wrong), (low, high))
        return bad

"""Batched input gradients along paths, under a memory bound.

Every method reduces to: many (start, end, alpha, weight) path points, one gradient each, summed per group.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, nullcontext
from dataclasses import dataclass

import torch

from ._invariant import RowInvariantProducts
from ._threads import pass_threads, run_passes, skig_threads

#: ``scalar_fn(points, targets) -> (m,)``: the explained output of each point for its target.
ScalarFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# Bytes a CPU pass holds per thread (inputs, gradients, the activations autograd keeps; see point_bytes).
# Measured (benchmarks/bench_chunk.py, MLPs 30 -> 32..1024 wide, 2 to 4 hidden layers): with 8 to 16 MiB per
# thread every model's bare forward/backward is within a few percent of its fastest pass size; smaller passes pay
# per-operator overhead, larger ones stream their activations from memory rather than cache (2 MiB of L2 per core
# there). 12 MiB, the middle, also amortises the per-pass work of building the points and summing the gradients.
_CPU_CHUNK_BYTES = 12 * 2**20
#: On a CPU, passes hold at least this many points where memory allows, whatever their bytes: a pass costs a fixed
#: dispatch per torch call besides its arithmetic, and a net whose points are heavy (an FT-Transformer's attention:
#: ~120 KB a point, 100 points in 12 MiB) spent half its time in it (bench_embeddings.py: 7.4 ms per row at 100
#: points a pass, 3.7 ms at 512, 4.3 ms at 1,024; 1 thread, 64 Gauss-Legendre steps).
_MIN_CPU_PASS_POINTS = 512
_MAX_CHUNK_POINTS = 2**21
# batch_size="auto" refuses to start below room for this many path points' passes plus this many bytes (the
# explanation's own arrays, the exact engine's chunks, the compiled loops' buffers).
_MIN_HEADROOM_POINTS = 4096
_MIN_HEADROOM_BYTES = 256 * 2**20
#: Row blocks (:func:`row_blocks`) hold at least this many groups, whatever the pass size.
MIN_BLOCK_POINTS = 4096

# Every pass through the model has a multiple of this many rows (the last rows repeated), so that each row takes
# the same kernel path whatever batch it is in: CPU BLAS computes the last rows of an odd-sized batch, and batches
# under 16 rows, with other kernels that round differently. Padded, a row's result does not depend on the rows
# beside it, so any partitioning of the rows (Spark, Dask, batches) gives bit-identical attributions.
ROW_BLOCK = 16


def padded_rows(n_rows: int) -> int:
    """``n_rows`` rounded up to a multiple of :data:`ROW_BLOCK` (at least one block)."""
    return max(ROW_BLOCK, -(-n_rows // ROW_BLOCK) * ROW_BLOCK)


def row_padded(rows: torch.Tensor) -> torch.Tensor:
    """``rows`` with copies of its last row appended up to :func:`padded_rows` rows.

    The copies are detached: their outputs are always dropped, and a gradient flowing back into them would only add
    zeros to the last row (through a backward that allocates and sums a pass-sized buffer).
    """
    extra = padded_rows(rows.shape[0]) - rows.shape[0]
    if extra == 0 or rows.shape[0] == 0:
        return rows
    return torch.cat((rows, rows[-1:].detach().expand(extra, *rows.shape[1:])))


def accumulation_dtype(device: torch.device) -> torch.dtype:
    """The dtype path sums are accumulated in: float64, or float32 on devices that lack it (Apple's MPS)."""
    return torch.float32 if device.type == "mps" else torch.float64


def batch_invariant(scalar_fn: ScalarFn) -> ScalarFn:
    """``scalar_fn`` run on padded batches (see :data:`ROW_BLOCK`) with row-invariant backward products (see
    :mod:`._invariant`), returning the rows asked for."""

    def padded(points: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        # Where nothing carries a gradient the mode would pass every call through: without it, a forward pass saves
        # its Python dispatch per torch call (29 calls, 0.05 ms, on bench_ig's narrow net).
        gradients = torch.is_grad_enabled() or points.requires_grad
        with RowInvariantProducts() if gradients else nullcontext():
            return scalar_fn(row_padded(points), row_padded(targets))[: points.shape[0]]

    return padded


def _available_bytes(device: torch.device, headroom: int | None = None) -> int:
    """Bytes the passes on ``device`` may hold at once (``headroom``: :func:`memory_headroom`'s bytes, if read)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(0.4 * free)
    headroom = memory_headroom()[0] if headroom is None else headroom
    return min(int(0.25 * headroom), _CPU_CHUNK_BYTES * skig_threads())


def _read_bytes(path: str, size: int = 65536) -> bytes | None:
    """The start of a small file (``/proc``, ``/sys``) read without a text wrapper; None where it cannot be read
    (four of the five a reading opens cost 15 µs each through ``open``, 3-5 µs this way)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(descriptor, size)
    except OSError:
        return None
    finally:
        os.close(descriptor)


def _read_int(path: str) -> int | None:
    text = (_read_bytes(path, 64) or b"").split()
    if not text or text[0] == b"max":
        return None
    try:
        return int(text[0])
    except ValueError:
        return None


def _meminfo_available() -> int | None:
    text = _read_bytes("/proc/meminfo")
    start = -1 if text is None else text.find(b"MemAvailable:")
    if start < 0:
        return None
    try:
        return int(text[start + len(b"MemAvailable:") :].split(maxsplit=1)[0]) * 1024
    except (ValueError, IndexError):
        return None


_held = threading.local()


@contextmanager
def one_memory_reading() -> Iterator[None]:
    """Within the block, :func:`memory_headroom` reads the limits once in this thread and answers from that reading.

    An explanation checks that its rows fit and sizes its passes from one reading: each reading opens four files
    (about 70 µs, twice per call before).
    """
    outer = getattr(_held, "reading", None)
    _held.reading = outer if outer is not None else []
    try:
        yield
    finally:
        _held.reading = outer


def memory_headroom() -> tuple[int, str]:
    """Bytes this process may still allocate on the CPU, and which limit says so.

    The smallest of: the memory available on the machine, the address-space limit (``RLIMIT_AS``, ``ulimit -v``) less
    the process's current size, and its cgroup's limit (v2 ``memory.max``, v1 ``memory.limit_in_bytes``) less its
    current usage. 4 GiB where none can be read. Inside :func:`one_memory_reading`, the block's first reading.
    """
    held = getattr(_held, "reading", None)
    if held is None:
        return _read_headroom()
    if not held:
        held.append(_read_headroom())
    return held[0]


def _read_headroom() -> tuple[int, str]:
    found: list[tuple[int, str]] = []
    available = _meminfo_available()
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            available = None
    if available is not None:
        found.append((available, "the memory available on this machine"))
    try:
        import resource

        limit, _ = resource.getrlimit(resource.RLIMIT_AS)
        if limit != resource.RLIM_INFINITY:
            with open("/proc/self/statm") as file:
                size = int(file.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            found.append((limit - size, f"the address-space limit (RLIMIT_AS, `ulimit -v`) of {limit / 2**30:.2f} GiB"))
    except (ImportError, OSError, ValueError):
        pass
    for limit_file, usage_file, name in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current", "the cgroup's memory.max"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
            "the cgroup's memory.limit_in_bytes",
        ),
    ):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and limit < 2**60:
            found.append((limit - (usage or 0), f"{name} of {limit / 2**30:.2f} GiB"))
    if not found:
        return 4 * 2**30, "an assumed 4 GiB (no limit could be read)"
    return min(found)


#: Bytes per row and per column that an explanation holds at once besides its passes, in float64: the encoded rows
#: and their attributions (with their tensor copies) per encoded column, the raw rows and the result's frames per raw
#: column. On 1,000,000 rows x 30 columns the peak measured 4.6x the input (benchmarks/bench_memory.py): 8 x 5 = 40
#: bytes per row and column holds it.
_ROW_BYTES_PER_ENCODED_COLUMN = 24
_ROW_BYTES_PER_RAW_COLUMN = 16


def check_rows_fit(
    n_rows: int, n_raw: int, n_encoded: int, *, interactions: bool = False, batch_size: int | str = "auto"
) -> None:
    """Refuse, before any work, an explanation whose rows cannot fit in what this process may still allocate.

    With ``batch_size="auto"`` room for the passes is kept too (what :func:`chunk_points` needs); a ``batch_size``
    given explicitly sizes the passes itself.

    Raises
    ------
    MemoryError
        Naming the rows, the memory they need, the limit (:func:`memory_headroom`) and how many rows fit per call.
    """
    per_row = _ROW_BYTES_PER_ENCODED_COLUMN * n_encoded + _ROW_BYTES_PER_RAW_COLUMN * n_raw + 64
    if interactions:
        per_row += 8 * n_raw * n_raw
    headroom, limit = memory_headroom()
    passes = _MIN_HEADROOM_BYTES if batch_size == "auto" else 0
    room = headroom - passes
    if n_rows * per_row <= room:
        return
    fits = max(0, room // per_row)
    needed = (
        f"explaining {n_rows:,} rows needs about {n_rows * per_row / 2**20:,.0f} MiB for the rows, their attributions "
        f"and the result, and {passes / 2**20:,.0f} MiB for its passes, but this process may allocate only "
        f"{max(headroom, 0) / 2**20:,.0f} MiB more ({limit})"
    )
    raise_limit = "raise the limit (`ulimit -v`, the container's or cgroup's memory limit)"
    if fits == 0:
        raise MemoryError(
            f"{needed}: no rows can be explained in this process; {raise_limit}"
            + (", or give batch_size= explicitly to size the passes yourself." if passes else ".")
        )
    raise MemoryError(
        f"{needed}. Explain the rows in parts of at most {fits:,} (explainer.explain(X.iloc[i : i + {fits}])), "
        f"spread them over workers with skig.dask or skig.spark, or {raise_limit}."
    )


def activation_size(module: torch.nn.Module, probe: torch.Tensor) -> int:
    """Number of activation values one input row creates in a forward pass (summed over leaf modules)."""
    total = 0

    def count(_module, _inputs, output):
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel()

    leaves = [sub for sub in module.modules() if not list(sub.children())] or [module]
    handles = [leaf.register_forward_hook(count) for leaf in leaves]
    try:
        with torch.no_grad():
            module(probe)
    finally:
        for handle in handles:
            handle.remove()
    return max(1, total // probe.shape[0])


def chunk_points(module: torch.nn.Module, probe: torch.Tensor, batch_size: int | str) -> int:
    """How many path points go through the model in one forward/backward pass (see :func:`points_per_pass`)."""
    if batch_size != "auto":
        return int(batch_size)
    return points_per_pass(batch_size, point_bytes(module, probe), probe.device)


def points_per_pass(batch_size: int | str, bytes_per_point: int, device: torch.device) -> int:
    """``batch_size`` as path points per forward/backward pass: an int as given; ``"auto"`` from the bytes a point
    holds (:func:`point_bytes`) and the device.

    On CUDA the passes fill a share of the free memory; on a CPU they stay cache-sized (``_CPU_CHUNK_BYTES`` per
    thread), which is faster than larger passes, not only leaner, but hold at least ``_MIN_CPU_PASS_POINTS`` points
    (with heavy points per-pass dispatch would dominate).

    Raises
    ------
    MemoryError
        On a CPU, when this process may not allocate room for the passes and the results
        (:func:`memory_headroom`).
    """
    if batch_size != "auto":
        return int(batch_size)
    headroom = None
    if device.type == "cpu":
        headroom, limit = memory_headroom()
        if headroom < _MIN_HEADROOM_POINTS * bytes_per_point + _MIN_HEADROOM_BYTES:
            raise MemoryError(
                f"skig cannot size its passes: this process may allocate only {max(headroom, 0) / 2**20:.0f} MiB more "
                f"({limit}), and explaining needs at least "
                f"{(_MIN_HEADROOM_POINTS * bytes_per_point + _MIN_HEADROOM_BYTES) / 2**20:.0f} MiB for its passes and "
                "results. Raise the limit (`ulimit -v`, the container's or cgroup's memory limit), explain fewer rows "
                "per call, or give batch_size= explicitly."
            )
    points = max(64, min(_MAX_CHUNK_POINTS, _available_bytes(device, headroom) // bytes_per_point))
    if device.type == "cpu":  # the headroom checked above holds _MIN_HEADROOM_POINTS points' passes
        points = max(points, _MIN_CPU_PASS_POINTS)
    return int(points)


def row_blocks(n_rows: int, groups_per_row: int, max_points: int) -> list[slice]:
    """Slices of rows whose groups (noisy copies, baselines, background pairs) fit one pass of ``max_points``.

    Methods that hold per-group state (copies, guided paths, sampled pairs, exact lines) go block by block, so
    ``batch_size`` bounds their memory as it bounds IG's; every draw is keyed per row, so blocks do not change
    results. Blocks hold at least :data:`MIN_BLOCK_POINTS` groups, so small batch sizes do not mean tiny blocks.
    """
    size = max(1, max(max_points, MIN_BLOCK_POINTS) // max(1, groups_per_row))
    return [slice(lo, min(lo + size, n_rows)) for lo in range(0, n_rows, size)]


def point_bytes(module: torch.nn.Module, probe: torch.Tensor) -> int:
    """Bytes one path point holds during a pass: its input, its gradient and the activations autograd keeps."""
    return probe.element_size() * (4 * probe.shape[1] + 3 * activation_size(module, probe) + 8)


@dataclass
class Paths:
    """Straight-line path points, ``P`` per group, over groups ``g = 0..G-1``.

    Point ``p`` of group ``g`` lies at ``start + alpha * (end - start)`` with ``end = ends[g]`` and
    ``start = starts[start_index[g, p]]``; its gradient, times ``weight[g, p] * (end - start)``, adds to group ``g``.
    ``start_index``, ``alpha`` and ``weight`` have shape (P,) when every group shares them, else (G, P).
    """

    ends: torch.Tensor
    starts: torch.Tensor
    start_index: torch.Tensor
    alpha: torch.Tensor
    weight: torch.Tensor
    targets: torch.Tensor

    @property
    def n_groups(self) -> int:
        return self.ends.shape[0]

    @property
    def per_group(self) -> int:
        return self.alpha.shape[-1]

    def _take(self, values: torch.Tensor, groups: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
        return values[slots] if values.ndim == 1 else values[groups, slots]

    def chunk(self, lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Points, step vectors (end - start), weights, targets and groups of flat point indices [lo, hi).

        The steps have shape (hi - lo, d), or (n_groups, 1, d) when [lo, hi) holds whole groups that all start at
        the same row: then a group's step is common to its points.
        """
        per_group, n_features = self.per_group, self.ends.shape[1]
        shared = self.alpha.ndim == 1 and self.start_index.ndim == 1 and self.weight.ndim == 1
        if shared and lo % per_group == 0 and (hi - lo) % per_group == 0:
            # Whole groups sharing one (start, alpha, weight) pattern: broadcast it rather than gather every point's
            # start, end and alpha (those gathers were most of IG's own time on CPU).
            first, last = lo // per_group, hi // per_group
            if len(self.starts) == 1:
                step = (self.ends[first:last] - self.starts).unsqueeze(1).contiguous()
                points = torch.addcmul(self.starts, self.alpha.unsqueeze(1), step)
            else:
                start = self.starts[self.start_index]
                step = (self.ends[first:last, None, :] - start).contiguous()  # rows may come column-major
                points = torch.addcmul(start, self.alpha.unsqueeze(1), step)
                step = step.view(-1, n_features)
            return (
                points.reshape(-1, n_features),
                step,
                self.weight.repeat(last - first),
                self.targets[first:last].repeat_interleave(per_group),
                torch.arange(first, last, device=self.ends.device).repeat_interleave(per_group),
            )
        flat = torch.arange(lo, hi, device=self.ends.device)
        groups, slots = flat // per_group, flat % per_group
        start = self.starts[self._take(self.start_index, groups, slots)]
        step = self.ends[groups] - start
        alpha = self._take(self.alpha, groups, slots).unsqueeze(1)
        # addcmul, as for whole groups above: a point is the same whichever way its pass was cut.
        points = torch.addcmul(start, alpha, step)
        return points, step, self._take(self.weight, groups, slots), self.targets[groups], groups


def _chunk_bounds(n_groups: int, per_group: int, max_points: int, block: int = 1) -> list[tuple[int, int]]:
    # Whole groups per pass where they fit; otherwise split inside a group, at multiples of `block` points.
    total = n_groups * per_group
    if per_group <= max_points:
        step = max(1, max_points // per_group) * per_group
    else:
        step = max(1, max_points // block) * block
    return [(lo, min(lo + step, total)) for lo in range(0, total, step)]


def path_gradients(
    scalar_fn: ScalarFn,
    paths: Paths,
    max_points: int,
    progress: bool = False,
    description: str = "explaining",
    *,
    also_at: tuple[torch.Tensor, torch.Tensor] | None = None,
):
    """Sum over each group's path points of ``weight * gradient * (end - start)``.

    Parameters
    ----------
    scalar_fn : callable
        ``scalar_fn(points, targets) -> (m,)``, differentiable in ``points``; rows must not interact.
    paths : Paths
        The path points.
    max_points : int
        Most points per forward/backward pass.
    progress : bool, default=False
        Show a progress bar over passes.
    description : str
        Label of the progress bar.
    also_at : (points, targets), optional
        A few more points whose plain gradients are wanted too: taken in the first pass beside its path points, not in
        a pass of their own (a pass has a fixed cost besides its points; a point's gradient does not depend on the
        points beside it).

    Returns
    -------
    Tensor of shape (G, d)
        Accumulated attributions per group, in float64 (float32 where the device lacks float64).
    Tensor of shape (len(points), d)
        With ``also_at``: the gradient at each of its points, beside the attributions.
    """
    device = paths.ends.device
    accumulate = accumulation_dtype(device)
    plain, scalar_fn = scalar_fn, batch_invariant(scalar_fn)
    out = torch.zeros(paths.n_groups, paths.ends.shape[1], dtype=accumulate, device=device)
    block = math.gcd(paths.per_group, ROW_BLOCK)
    threads = pass_threads(device)
    # max_points is the passes' budget: on several threads each runs a share of it (one thread's cache, see
    # points_per_pass), so a batch_size bounds the memory of all passes at once.
    bounds = _chunk_bounds(paths.n_groups, paths.per_group, max(1, max_points // threads), block)
    bar = progress_bar(len(bounds) > 1 and progress, paths.n_groups * paths.per_group, description)

    extra: list[torch.Tensor] = []

    def one_pass(bound: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi = bound
        points, step, weight, targets, groups = paths.chunk(lo, hi)
        if also_at is not None and bound == bounds[0]:
            points, targets = torch.cat([points, also_at[0].to(points.dtype)]), torch.cat([targets, also_at[1]])
        points.requires_grad_(True)
        (grad,) = torch.autograd.grad(scalar_fn(points, targets).sum(), points)
        if len(grad) > hi - lo:
            extra.append(grad[hi - lo :].clone())
            grad = grad[: hi - lo]
        # Each run of `block` consecutive points of a group is summed in the points' dtype, and the runs are
        # added to their group in float64 in point order. Passes split groups only at run boundaries, so a
        # group's sum is the same however its points fall into passes: batch_size, the thread count and the rows
        # beside it change nothing (a batched matrix product per group, as before, rounded by how many groups shared
        # the pass). In place where the dtypes agree: the gradient is this pass's own buffer (the same products,
        # without two pass-sized copies); otherwise as promoted.
        in_place = grad.dtype == step.dtype == weight.dtype and grad.is_contiguous()
        if step.ndim == 3:  # whole groups sharing one step each
            n_groups = (hi - lo) // paths.per_group
            grouped = grad.view(n_groups, paths.per_group, -1)
            per_point = (grouped.mul_(step) if in_place else grouped * step).view(hi - lo, -1)
        else:
            per_point = grad.mul_(step) if in_place else grad * step
        per_point = per_point.mul_(weight.unsqueeze(1)) if in_place else per_point * weight.unsqueeze(1)
        runs = per_point.view((hi - lo) // block, block, -1).sum(1)
        return groups[::block], runs.to(accumulate)

    with closing(run_passes(one_pass, bounds, threads)) as passes:
        for (lo, hi), (run_groups, runs) in zip(bounds, passes, strict=True):
            out.index_add_(0, run_groups, runs)  # in pass order, whichever thread ran the pass
            bar.update(hi - lo)
    bar.close()
    if also_at is None:
        return out
    if not extra:  # no path points: the points asked for alone
        extra.append(input_gradients(plain, also_at[0], also_at[1], max_points))
    return out, extra[0]


def _point_chunks(n_points: int, max_points: int, device: torch.device) -> tuple[list[slice], int]:
    threads = pass_threads(device)
    size = max(1, max_points // threads)
    return [slice(lo, min(lo + size, n_points)) for lo in range(0, n_points, size)], threads


def input_gradients(scalar_fn: ScalarFn, points: torch.Tensor, targets: torch.Tensor, max_points: int) -> torch.Tensor:
    """Gradient of ``scalar_fn`` at each point for its target, in passes of at most ``max_points`` (together, on
    several threads: see :mod:`._threads`)."""
    scalar_fn = batch_invariant(scalar_fn)
    chunks, threads = _point_chunks(len(points), max_points, points.device)

    def one_pass(rows: slice) -> torch.Tensor:
        chunk = points[rows].detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(scalar_fn(chunk, targets[rows]).sum(), chunk)
        return grad

    with closing(run_passes(one_pass, chunks, threads)) as passes:
        parts = list(passes)
    return torch.cat(parts) if parts else torch.zeros_like(points)


def evaluate(scalar_fn: ScalarFn, points: torch.Tensor, targets: torch.Tensor, max_points: int) -> torch.Tensor:
    """``scalar_fn`` on many points without gradients, in passes of at most ``max_points`` (together, on several
    threads: see :mod:`._threads`)."""
    scalar_fn = batch_invariant(scalar_fn)
    chunks, threads = _point_chunks(len(points), max_points, points.device)
    with closing(run_passes(lambda rows: scalar_fn(points[rows], targets[rows]), chunks, threads, grad=False)) as runs:
        parts = list(runs)
    return torch.cat(parts) if parts else points.new_zeros(0)


def progress_bar(enabled: bool, total: int, description: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="pt", unit_scale=True, disable=not enabled, leave=False)

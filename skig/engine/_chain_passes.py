"""Path gradients through a chain of affine layers and hinges (a ReLU MLP) without autograd, with the affine steps
below its first hinge run once per line rather than once per point.

Along a straight line ``x(a) = s + a (e - s)`` the steps below the chain's first hinge (its first ``Linear``, a
``BatchNorm`` in eval mode) are affine, so their output is ``z(a) = (1 - a) z(s) + a z(e)``: they run on the line's
two ends, and each point's ``z`` is one multiply-add. The steps above run per point, forward keeping each hinge's
side (which units are above zero), then backward through the chain engine's own steps (:mod:`.exact._steps`) from
each point's weight times the head's gradient (for a head linear in the raw output, one row per target above the
last hinge, made once). The gradients at ``z`` are summed per line; only a line's sum goes back through the affine
steps below the first hinge (in float64) and is multiplied by the line's step ``e - s``. A point costs a forward and
backward pass without the first layer in either direction (a third of the products of a 30 -> 64 -> 64 -> 1 net),
without autograd's bookkeeping, and with a linear head without the last layer either.

The chain is the one the exact engine reads (:func:`.exact.read_chain`): ``fit`` reads it once and each explanation
checks it against its copy of the module (:meth:`.exact.ModuleReading.fits`). The numbers keep the passes' promise
(:func:`._gradients.path_gradients`): a row's attributions do not depend on the rows beside it, on ``batch_size`` or
on the thread count.
"""

from __future__ import annotations

import math
import threading
from contextlib import closing

import torch

from ._gradients import ROW_BLOCK, Paths, accumulation_dtype, padded_rows, progress_bar, row_blocks, row_padded
from ._threads import pass_threads, run_passes
from .exact._head_lines import Head
from .exact._steps import Affine, Chain, Hinge


def chain_passes_apply(paths: Paths) -> bool:
    """Whether :func:`chain_path_gradients` takes ``paths``: every group shares one pattern of (start, alpha, weight)
    over its points (Integrated Gradients, SmoothGrad, stratified Expected IG), so that a group's points lie on one
    line per start."""
    return paths.alpha.ndim == 1 and paths.start_index.ndim == 1 and paths.weight.ndim == 1


def _run_length(start_index: torch.Tensor) -> int:
    """Points summed together before the float64 sums: the largest divisor, at most :data:`ROW_BLOCK`, of every
    stretch of points sharing a start, so that runs never straddle two lines."""
    index = start_index.cpu()
    edges = torch.nonzero(index[1:] != index[:-1]).squeeze(1) + 1
    bounds = [0, *edges.tolist(), len(index)]
    common = 0
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        common = math.gcd(common, hi - lo)
    return max(size for size in range(1, ROW_BLOCK + 1) if common % size == 0)


def _pass_bounds(n_groups: int, per_group: int, max_points: int, run: int) -> list[tuple[int, int]]:
    """Whole groups per pass where they fit, as many as make a multiple of :data:`ROW_BLOCK` points (no padding rows
    then); otherwise a group split at multiples of ``run`` points."""
    total = n_groups * per_group
    if per_group <= max_points:
        groups = max(1, max_points // per_group)
        align = ROW_BLOCK // math.gcd(per_group, ROW_BLOCK)
        if groups >= align:
            groups -= groups % align
        step = groups * per_group
    else:
        step = max(1, max_points // run) * run
        aligned = math.lcm(run, ROW_BLOCK)
        if step >= aligned:
            step -= step % aligned
    return [(lo, min(lo + step, total)) for lo in range(0, total, step)]


def _split(chain: Chain) -> tuple[tuple, tuple, tuple]:
    """The chain's affine steps below its first hinge, the steps from there to its last hinge, and the affine steps
    above that."""
    hinges = chain.hinges
    first, last = (hinges[0], hinges[-1] + 1) if hinges else (len(chain.steps), len(chain.steps))
    return chain.steps[:first], chain.steps[first:last], chain.steps[last:]


def _top_gradients(top, head: Head, chain: Chain, targets: torch.Tensor, dtype: torch.dtype) -> torch.Tensor | None:
    """For a head linear in the raw output: the gradient at the last hinge's output for each target (row ``t`` for
    target ``t``), the same at every point; None for other heads (their gradient depends on the point).

    Each row is made once per chain, head (its ``key``), target and dtype, and kept on the chain: the chain's weights
    never change, and autograd through the head and the steps above the last hinge cost 0.3 ms a call.
    """
    if not getattr(head, "linear", False):
        return None
    key = getattr(head, "key", None)
    device = targets.device
    rows = {}
    for target in torch.unique(targets).tolist():
        kept = (key, target, dtype, device)
        row = chain.derived.get(kept) if key is not None else None
        if row is None:
            row = _top_gradient_row(top, head, chain, target, targets.dtype, dtype, device)
            if key is not None:
                chain.derived[kept] = row
        rows[target] = row
    if not rows:
        return None
    width = next(iter(rows.values())).shape[0]
    table = torch.zeros(max(rows) + 1, width, dtype=dtype, device=device)
    for target, row in rows.items():
        table[target] = row
    return table


def _top_gradient_row(top, head: Head, chain: Chain, target: int, target_dtype, dtype, device) -> torch.Tensor:
    """The gradient of ``head(chain output, target)`` at the last hinge's output: one row, the same everywhere."""
    # On its own padded rows: the gradient does not depend on which other targets are explained.
    raw = torch.zeros(ROW_BLOCK, chain.output_shape.numel(), dtype=dtype, device=device, requires_grad=True)
    chosen = torch.full((ROW_BLOCK,), target, dtype=target_dtype, device=device)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(head(raw.reshape(-1, *chain.output_shape), chosen).sum(), raw, allow_unused=True)
    grad = torch.zeros_like(raw) if grad is None else grad.detach()
    for step in reversed(top):
        grad = step.backward(grad)
    return grad[0].clone()


# Each thread's pass buffers (see :func:`_buffer`), kept from pass to pass and from call to call.
_kept = threading.local()
#: Most bytes of buffers a thread keeps after a pass; larger ones (passes far above the automatic size) are dropped.
KEPT_BUFFER_BYTES = 32 * 2**20


def _buffer(slot: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """This thread's CPU buffer ``slot`` as a tensor of ``shape``, for a pass to write into.

    A pass that allocated its activations anew had them back from glibc as fresh pages: a pool thread's arena gives
    its freed top back to the system, and bench_ig's narrow net paid 2,300 page faults a call at 2 threads. Buffers
    kept per thread are reused, warm in its cache. A slot holds one pass's value: what a pass returns is never a
    buffer.
    """
    buffers = getattr(_kept, "buffers", None)
    if buffers is None:
        buffers = _kept.buffers = {}
    numel = math.prod(shape)
    held = buffers.get(slot)
    if held is None or held.numel() < numel or held.dtype != dtype:
        held = buffers[slot] = torch.empty(numel, dtype=dtype)
    return held[:numel].view(shape)


def _drop_large_buffers() -> None:
    """Drop this thread's buffers if together they hold more than :data:`KEPT_BUFFER_BYTES`."""
    buffers = getattr(_kept, "buffers", None)
    if buffers and sum(held.numel() * held.element_size() for held in buffers.values()) > KEPT_BUFFER_BYTES:
        buffers.clear()


def _forward(steps, x: torch.Tensor) -> torch.Tensor:
    for step in steps:
        x = step.forward(x)
    return x


def chain_path_gradients(
    chain: Chain,
    head: Head,
    paths: Paths,
    max_points: int,
    progress: bool = False,
    description: str = "explaining",
) -> torch.Tensor:
    """Sum over each group's path points of ``weight * gradient * (end - start)`` of ``head(chain(x), target)``:
    :func:`._gradients.path_gradients` for a chain, without autograd through the chain.

    Parameters
    ----------
    chain : Chain
        The module as a chain of affine steps and hinges (checked against it by the caller).
    head : callable
        ``head(raw, targets) -> (m,)``: the explained scalar from the chain's raw output.
    paths : Paths
        The path points; :func:`chain_passes_apply` must hold.
    max_points : int
        Most points per pass (shared among the threads, as in :func:`._gradients.path_gradients`).
    progress : bool, default=False
        Show a progress bar over passes.
    description : str
        Label of the progress bar.

    Returns
    -------
    Tensor of shape (G, d)
        Accumulated attributions per group, in float64 (float32 where the device lacks float64).
    """
    device = paths.ends.device
    accumulate = accumulation_dtype(device)
    below, _, top = _split(chain)
    # The first affine steps at every start, once (padded like every product, see _gradients.ROW_BLOCK).
    z_starts = _forward(below, row_padded(paths.starts))[: len(paths.starts)]
    top_grads = _top_gradients(top, head, chain, paths.targets, z_starts.dtype)
    run = _run_length(paths.start_index)
    threads = pass_threads(device)
    out = torch.empty(paths.n_groups, paths.ends.shape[1], dtype=accumulate, device=device)
    bar = progress_bar(
        progress and paths.n_groups * paths.per_group > max_points, paths.n_groups * paths.per_group, description
    )
    # Blocks of groups, so that the per-line sums held at once stay within a pass's worth of points.
    for block in row_blocks(paths.n_groups, len(paths.starts), max_points):
        out[block] = _block(
            chain, head, paths, block, z_starts, top_grads, run, max(1, max_points // threads), threads, bar
        )
    bar.close()
    return out


def _block(chain, head, paths, block, z_starts, top_grads, run, max_points, threads, bar):
    """The attributions of the groups ``block`` (see :func:`chain_path_gradients`)."""
    device, dtype = paths.ends.device, z_starts.dtype
    accumulate = accumulation_dtype(device)
    below, body, top = _split(chain)
    n_starts, per_group, start_index = len(paths.starts), paths.per_group, paths.start_index
    offset, n_groups = block.start, block.stop - block.start
    width = z_starts.shape[1]
    bounds = _pass_bounds(n_groups, per_group, max_points, run)
    # Per line (group, start): the weighted gradients at z summed; rows padded for the products below.
    lines = torch.zeros(padded_rows(n_groups * n_starts), width, dtype=accumulate, device=device)
    # What every pass shares: each step's (1 - alpha) z(start) and alpha, its weight; the runs' lines. A point's z is
    # (1 - alpha) z(start) + alpha z(end), one multiply-add per value, the same whichever way its pass was cut.
    alpha = paths.alpha.unsqueeze(1)
    from_start = (1 - alpha) * z_starts[start_index]
    weight = paths.weight.view(1, -1, 1).to(dtype)
    most = max((hi - lo) // per_group + 1 for lo, hi in bounds)
    run_lines = (torch.arange(most, device=device).unsqueeze(1) * n_starts + start_index[::run].unsqueeze(0)).view(-1)
    block_targets = paths.targets[block]
    # Every pass's first affine steps at once (row-invariant, so the same numbers as pass by pass), and the body's
    # products with their weights looked up once: per pass, the lookups cost more than a small product.
    z_ends = _forward(below, row_padded(paths.ends[block]))[:n_groups]
    hinge_steps = [isinstance(step, Hinge) for step in body]
    bound_steps = [
        (step.forward_keeping_side, step.backward) if hinge else step.bound(dtype)
        for step, hinge in zip(body, hinge_steps, strict=True)
    ]
    forwards, backwards = [forward for forward, _ in bound_steps], [backward for _, backward in reversed(bound_steps)]
    # Widths of the affine steps' outputs forward and backward, for their buffers (CPU only; CUDA caches its own).
    buffered = device.type == "cpu"
    forward_widths = [None if hinge else _out_width(step) for step, hinge in zip(body, hinge_steps, strict=True)]
    backward_widths = [None if hinge else _in_width(step) for step, hinge in zip(body, hinge_steps, strict=True)][::-1]
    single = None  # one target for every row, with a linear head: each step's weighted gradient row, once
    if top_grads is not None and len(block_targets) and bool((block_targets == block_targets[0]).all()):
        single = top_grads[block_targets[0]].unsqueeze(0) * weight[0]
    made: dict[int, torch.Tensor] = {}

    def single_rows(n_groups_: int) -> torch.Tensor:
        """``single`` repeated for ``n_groups_`` groups, one row per point, made once per pass size (read, never
        written): a hinge's backward reads it faster than a broadcast view."""
        rows = made.get(n_groups_)
        if rows is None:
            rows = single.unsqueeze(0).expand(n_groups_, per_group, -1).reshape(n_groups_ * per_group, -1)
            rows = made.setdefault(n_groups_, rows)
        return rows

    def one_pass(bound: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi = bound
        first, last = lo // per_group, (hi - 1) // per_group + 1
        n_points = hi - lo
        whole = lo % per_group == 0 and n_points % per_group == 0
        if whole:  # whole groups: one pattern, broadcast
            ends = z_ends[first:last].unsqueeze(1)
            shape = (last - first, per_group, width)
            out = _buffer("z", shape, dtype) if buffered else None
            z = torch.addcmul(from_start.unsqueeze(0), alpha.unsqueeze(0), ends, out=out).view(-1, width)
        else:  # part of one group (a group larger than a pass): the same arithmetic per point
            flat = torch.arange(lo, hi, device=device)
            groups, slots = flat // per_group, flat % per_group
            z = torch.addcmul(from_start[slots], alpha[slots], z_ends[groups])
        x, sides = row_padded(z), []
        for index, (is_hinge, forward) in enumerate(zip(hinge_steps, forwards, strict=True)):
            if is_hinge:
                x, side = forward(x)
                sides.append(side)
            else:
                width_out = forward_widths[index]
                out = _buffer(f"f{index}", (len(x), width_out), dtype) if buffered and width_out else None
                x = forward(x, out)
        # The backward starts from each point's weight times the gradient above the last hinge.
        if single is not None and whole and x.shape[0] == n_points:  # the same rows for every group
            grad = single_rows(last - first)
        elif top_grads is not None and whole:  # a linear head: one gradient row per target
            row_targets = paths.targets[offset + first : offset + last]
            grad = row_padded((top_grads[row_targets].unsqueeze(1) * weight).view(n_points, -1))
        elif top_grads is not None:
            grad = row_padded(top_grads[paths.targets[offset + groups]] * paths.weight[slots].unsqueeze(1).to(dtype))
        else:
            if whole:
                targets, point_weights = (
                    block_targets[first:last].repeat_interleave(per_group),
                    weight.view(-1).repeat(last - first),
                )
            else:
                targets, point_weights = paths.targets[offset + groups], paths.weight[slots].to(dtype)
            raw = _forward(top, x).detach().requires_grad_(True)
            value = head(raw.reshape(-1, *chain.output_shape), row_padded(targets))
            (grad,) = torch.autograd.grad(value.sum(), raw, allow_unused=True)
            grad = torch.zeros_like(raw) if grad is None else grad.reshape(raw.shape)
            grad = grad * row_padded(point_weights).unsqueeze(1)
            for step in reversed(top):
                grad = step.backward(grad)
        for index, (is_hinge, backward) in enumerate(zip(reversed(hinge_steps), backwards, strict=True)):
            width_in = grad.shape[1] if is_hinge else backward_widths[index]
            out = _buffer(f"b{index}", (len(grad), width_in), dtype) if buffered and width_in else None
            grad = backward(grad, sides.pop(), out) if is_hinge else backward(grad, out)
        # Runs of `run` points of one line summed in the points' dtype, then added to their line in float64 in point
        # order: the same sums however the passes cut a group (runs never straddle a pass or a line).
        runs = (grad if len(grad) == n_points else grad[:n_points]).view(n_points // run, run, width).sum(1)
        if whole:
            line_index = run_lines[: n_points // run] + first * n_starts
        else:
            line_index = groups[::run] * n_starts + start_index[slots[::run]]
        if buffered:
            _drop_large_buffers()
        return line_index, runs.to(accumulate)  # the sum is a new tensor, never a buffer

    with closing(run_passes(one_pass, bounds, threads)) as passes:
        for (lo, hi), (line_index, runs) in zip(bounds, passes, strict=True):
            lines.index_add_(0, line_index, runs)
            bar.update(hi - lo)
    for step in reversed(below):
        lines = step.backward(lines)
    per_line = lines[: n_groups * n_starts].view(n_groups, n_starts, -1)
    ends = paths.ends[block].to(accumulate).unsqueeze(1)
    return (per_line * (ends - paths.starts.to(accumulate).unsqueeze(0))).sum(1)


def _out_width(step) -> int | None:
    """Width of an affine step's output (None for steps that write no buffer)."""
    return step.weight.shape[0] if isinstance(step, Affine) else None


def _in_width(step) -> int | None:
    """Width of an affine step's input gradient (None for steps that write no buffer)."""
    return step.weight.shape[1] if isinstance(step, Affine) else None


def chain_output_changes(
    chain: Chain,
    head: Head,
    ends: torch.Tensor,
    targets: torch.Tensor,
    starts: torch.Tensor,
    start_weights: torch.Tensor,
) -> torch.Tensor:
    """``sum_j w_j (f(end) - f(start_j))`` per row for ``f = head(chain(x), target)``, in float64: what the exact
    attributions of the chain add up to (a chain is continuous, so exact integration leaves only float rounding).

    The completeness guard compares it with the module's own output change: the error exact integration would leave,
    without integrating.
    """
    n_ends = len(ends)
    with torch.no_grad():
        # Ends and starts in one pass of the chain (padded, so each row's numbers are its own).
        points = torch.cat((ends, starts.to(ends.dtype)))
        raw = _forward(chain.steps, row_padded(points))[: len(points)].reshape(-1, *chain.output_shape)
        distinct, which = torch.unique(targets, return_inverse=True)
        at_starts = raw[n_ends:]
        weights = start_weights.double()
        per_target = torch.stack(
            [(head(at_starts, target.expand(len(starts))).double() * weights).sum() for target in distinct]
        )
        return head(raw[:n_ends], targets).double() - per_target[which]

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
in :mod:`._exact`; :func:`compile_chain` decides, and checks the chain it reads against the module.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from . import _cut_cpu
from ._exact_bounds import PieceBounds
from ._gradients import ROW_BLOCK, padded_rows
from ._head_lines import Head, head_integrals
from ._piecewise import _METADATA, _SAFE_PROPERTIES, _argument


@dataclass(frozen=True)
class Affine:
    """``y = x @ weight.T + bias`` (``torch.nn.Linear``)."""

    weight: torch.Tensor
    bias: torch.Tensor | None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)

    def backward(self, grad: torch.Tensor) -> torch.Tensor:
        # F.linear with the transposed weight rather than ``grad @ weight``: with MKL on some CPUs (seen on AMD EPYC)
        # the latter rounds a row differently by its position in the pass when the result is narrow (a first layer
        # reading few features), which would make a row's attributions depend on the paths beside it.
        cache = self.__dict__.setdefault("_transposed", {})
        if grad.dtype not in cache:
            cache[grad.dtype] = self.weight.t().to(grad.dtype).contiguous()
        return F.linear(grad, cache[grad.dtype])


@dataclass(frozen=True)
class Scale:
    """``y = x * scale + shift`` per feature (a BatchNorm in eval mode)."""

    scale: torch.Tensor
    shift: torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift, x, self.scale)

    def backward(self, grad: torch.Tensor) -> torch.Tensor:
        return grad * self.scale.to(grad.dtype)


@dataclass(frozen=True)
class Hinge:
    """``y = x`` where ``x > 0``, else ``slope * x`` (ReLU: 0; LeakyReLU; PReLU: per feature; abs: -1)."""

    slope: float | torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.slope, float):
            if self.slope == 0.0:
                return torch.relu(x)
            if self.slope == -1.0:
                return x.abs()
            return F.leaky_relu(x, self.slope)
        return torch.where(x > 0, x, x * self.slope)

    def backward(self, grad: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        """Gradient of the input from the output's; ``side`` is positive where a unit is above zero."""
        if isinstance(self.slope, float):
            # The fused kernels autograd itself uses for ReLU and LeakyReLU (abs: slope -1).
            if self.slope == 0.0:
                return torch.ops.aten.threshold_backward(grad, side, 0.0)
            return torch.ops.aten.leaky_relu_backward(grad, side, self.slope, False)
        return torch.where(side > 0, grad, grad * self.slope.to(grad.dtype))


Step = Affine | Scale | Hinge


@dataclass(frozen=True)
class Chain:
    """A module read as a chain of steps on rows of ``n_features`` values, with its raw output's row shape."""

    steps: tuple[Step, ...]
    output_shape: torch.Size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for step in self.steps:
            x = step.forward(x)
        return x


# Calls that leave a row's values as they are (only its shape, which the chain keeps flat).
_RESHAPES = frozenset(
    {"view", "reshape", "flatten", "squeeze", "unsqueeze", "contiguous", "clone", "view_as", "reshape_as", "identity"}
)
_DROPOUTS = frozenset({"dropout", "alpha_dropout", "feature_alpha_dropout", "dropout1d"})


def _constant(value) -> bool:
    return not (isinstance(value, torch.Tensor) and value.requires_grad)


class _NotAChain(Exception):
    pass


class _ChainTracer(TorchFunctionMode):
    """Follow one forward pass; each call on the running value must be a chain step applied to it alone."""

    def __init__(self, x: torch.Tensor) -> None:
        super().__init__()
        self.current = x
        self.steps: list[Step] = []
        self.failed = False

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if self.failed:
            return result
        name = getattr(func, "__name__", "")
        values = [*args, *kwargs.values()]
        dependent = [v for v in values if isinstance(v, torch.Tensor) and v.requires_grad]
        if any(isinstance(v, (list, tuple)) and not all(_constant(item) for item in v) for v in values):
            self.failed = True
            return result
        if not dependent:
            return result
        if name == "__get__":
            self.failed = getattr(getattr(func, "__self__", None), "__name__", "") not in _SAFE_PROPERTIES
            return result
        if name in _METADATA:
            return result
        try:
            if len(dependent) != 1 or dependent[0] is not self.current or args[0] is not self.current:
                raise _NotAChain
            step = self._step(name, args, kwargs, result)
        except _NotAChain:
            self.failed = True
            return result
        if step is not None:
            self.steps.append(step)
        self.current = result
        return result

    def _step(self, name: str, args: tuple, kwargs: dict, result) -> Step | None:
        x = self.current
        if not isinstance(result, torch.Tensor) or x.ndim != 2:
            raise _NotAChain
        base = name.rstrip("_") if not name.endswith("__") else name
        if name in _RESHAPES:
            if result.shape[0] != x.shape[0] or result.numel() != x.numel():
                raise _NotAChain
            return None
        if name in ("to", "float", "double", "type_as"):
            if result.dtype != x.dtype or result.device != x.device:
                raise _NotAChain
            return None
        if name in ("matmul", "__matmul__", "mm"):
            matrix = args[1] if len(args) > 1 else kwargs.get("other", kwargs.get("mat2"))
            if not isinstance(matrix, torch.Tensor) or matrix.ndim != 2:
                raise _NotAChain
            return Affine(matrix.detach().t().contiguous(), None)
        if name in ("add", "__add__", "__iadd__", "add_", "sub", "__sub__", "__isub__", "sub_"):
            return self._shift(args, kwargs, negate=name.strip("_").startswith(("sub", "isub")))
        if base == "linear":
            weight, bias = _argument(args, kwargs, 1, "weight"), _argument(args, kwargs, 2, "bias")
            if weight.ndim != 2 or (bias is not None and bias.ndim != 1):
                raise _NotAChain
            return Affine(weight.detach(), None if bias is None else bias.detach())
        if base == "relu":
            return Hinge(0.0)
        if base == "leaky_relu":
            return Hinge(float(_argument(args, kwargs, 1, "negative_slope", 0.01)))
        if base == "abs":
            return Hinge(-1.0)
        if base == "prelu":
            weight = _argument(args, kwargs, 1, "weight").detach()
            if weight.numel() not in (1, x.shape[1]):
                raise _NotAChain
            return Hinge(weight.reshape(-1).expand(x.shape[1]).clone())
        if base in _DROPOUTS:
            if _argument(args, kwargs, 2, "training", True):
                raise _NotAChain
            return None
        if base == "batch_norm":
            mean, var = _argument(args, kwargs, 1, "running_mean"), _argument(args, kwargs, 2, "running_var")
            weight, bias = _argument(args, kwargs, 3, "weight"), _argument(args, kwargs, 4, "bias")
            training, eps = _argument(args, kwargs, 5, "training", False), _argument(args, kwargs, 7, "eps", 1e-5)
            if training or mean is None or var is None:
                raise _NotAChain
            scale = torch.rsqrt(var.detach().double() + eps)
            if weight is not None:
                scale = scale * weight.detach().double()
            shift = -mean.detach().double() * scale
            if bias is not None:
                shift = shift + bias.detach().double()
            return Scale(scale.to(x.dtype), shift.to(x.dtype))
        raise _NotAChain

    def _shift(self, args: tuple, kwargs: dict, negate: bool) -> None:
        """``x + c`` or ``x - c`` for a constant ``c``: the bias of the affine step before it."""
        other = args[1] if len(args) > 1 else kwargs.get("other")
        alpha = _argument(args, kwargs, 2, "alpha", 1)
        width = self.current.shape[1]
        shift = torch.as_tensor(other, dtype=self.current.dtype, device=self.current.device).detach() * alpha
        if shift.ndim > 1 and shift.shape[0] == 1:
            shift = shift.reshape(shift.shape[1:])
        if shift.ndim > 1 or shift.numel() not in (1, width):
            raise _NotAChain
        shift = (-shift if negate else shift).expand(width).clone()
        previous = self.steps[-1] if self.steps else None
        if isinstance(previous, Affine):
            bias = shift if previous.bias is None else previous.bias + shift
            self.steps[-1] = Affine(previous.weight, bias)
        elif isinstance(previous, Scale):
            self.steps[-1] = Scale(previous.scale, previous.shift + shift)
        else:
            self.steps.append(Scale(torch.ones_like(shift), shift))
        return None


def compile_chain(module: torch.nn.Module, probe: torch.Tensor) -> Chain | None:
    """``module`` as a chain of affine steps and hinges, or None if its forward pass is anything else.

    The chain is read from one forward pass on ``probe`` (rows of the module's input) and checked against the
    module on those rows: a chain that does not reproduce the module to float rounding is not used.
    """
    if probe.ndim != 2:
        return None
    x = probe.detach().clone().requires_grad_(True)
    tracer = _ChainTracer(x)
    with torch.enable_grad(), tracer:
        output = module(x)
    if tracer.failed or tracer.current is not output or not isinstance(output, torch.Tensor):
        return None
    chain = Chain(tuple(tracer.steps), output.shape[1:])
    return chain if _agrees(chain, output.detach(), probe) else None


def chain_reproduces(chain: Chain, module: torch.nn.Module, probe: torch.Tensor) -> bool:
    """Whether ``chain`` reproduces ``module`` on the rows ``probe`` to float rounding."""
    with torch.no_grad():
        return _agrees(chain, module(probe.detach()), probe)


def _agrees(chain: Chain, output: torch.Tensor, probe: torch.Tensor) -> bool:
    with torch.no_grad():
        expected = output.reshape(output.shape[0], -1)
        found = chain.forward(probe.detach())
    if found.shape != expected.shape:
        return False
    tolerance = 1e3 * torch.finfo(expected.dtype).eps * (1.0 + float(expected.abs().max()))
    return bool(((found - expected).abs() <= tolerance).all())


def _true_entries(flags: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, column) of the true entries of a contiguous 2-D bool tensor where few are true.

    Scans it as 64-bit words (eight flags each) first: ``nonzero`` over every byte costs several times more.
    """
    n_columns = flags.shape[1]
    flat = flags.reshape(-1)
    n_words = flat.numel() // 8
    words = flat[: 8 * n_words].view(torch.int64)
    (word,) = (words != 0).nonzero(as_tuple=True)
    shifts = torch.arange(0, 64, 8, device=flags.device, dtype=torch.int64)
    byte, within = (((words[word].unsqueeze(1) >> shifts) & 0xFF) != 0).nonzero(as_tuple=True)
    index = word[byte] * 8 + within
    tail = flat[8 * n_words :].nonzero().squeeze(1) + 8 * n_words
    index = torch.cat((index, tail))
    return index // n_columns, index % n_columns


class _Points:
    """Points of a chunk of paths, sorted by (path, alpha): consecutive points of a path bound a segment.

    Arrays are padded to a multiple of ``ROW_BLOCK`` rows (path -1, alpha 2, values 0), so that matrix products run
    on them whole and each row's results do not depend on the rows beside it. Each hinge's cut makes a new level of
    points; ``parents[j]`` maps every point of level ``j + 1`` to the point of level ``j`` that opens the segment it
    lies in, and ``sides[j]`` keeps the input of hinge ``j`` at the points of level ``j + 1``, positive exactly where a
    unit is above zero along the segment the point opens.
    """

    def __init__(self, starts: torch.Tensor, ends: torch.Tensor) -> None:
        n_paths = starts.shape[0]
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

    def same_path(self) -> torch.Tensor:
        """Whether point i and point i + 1 bound a segment (of the same path), for every i but the last."""
        return (self.path[:-1] == self.path[1:]) & (self.path[:-1] >= 0)

    def _flips(self, above: torch.Tensor, same_path: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(point, unit) where a unit is on different sides at the two ends of the segment the point opens."""
        point, unit = _true_entries(above[:-1] ^ above[1:])
        inside = same_path[point]
        return point[inside], unit[inside]

    def cut(self, hinge_input: torch.Tensor, hinge: Hinge) -> None:
        """Insert the zero crossings of ``hinge_input`` (affine on every current segment) as a new level of points,
        apply the hinge there, and keep which side of zero each unit is on along each segment.

        On a CPU two compiled loops do it (:mod:`._cut_cpu`); elsewhere (CUDA) the torch operators below, with the
        same arithmetic.
        """
        if _cut_cpu.available(hinge_input):
            merged, self.alpha, self.path, parent, self.n = _cut_cpu.merge_crossings(
                hinge_input, self.alpha, self.path, self.n, ROW_BLOCK
            )
            self.parents.append(parent)
            self.values = hinge.forward(merged)
            _cut_cpu.record_sides(merged, self.path, self.n)
            self.sides.append(merged)
            return
        above = hinge_input > 0
        same_path = self.same_path()
        point, unit = self._flips(above, same_path)
        n_old = self.n
        if point.numel():
            d_lo, d_hi = hinge_input[point, unit].double(), hinge_input[point + 1, unit].double()
            t = d_lo / (d_lo - d_hi)
            alpha_lo, alpha_hi = self.alpha[point], self.alpha[point + 1]
            alpha = alpha_lo + t * (alpha_hi - alpha_lo)
            # Float rounding can put a crossing at or past an end of its segment: then the segment keeps it.
            inside = ((alpha > alpha_lo) & (alpha < alpha_hi)).nonzero().squeeze(1)
            # Sorted by segment, then position along it (two stable sorts), without repeats.
            order = inside[torch.argsort(alpha[inside], stable=True)]
            order = order[torch.argsort(point[order], stable=True)]
            point, alpha, t = point[order], alpha[order], t[order]
            keep = torch.ones_like(point, dtype=torch.bool)
            keep[1:] = (point[1:] != point[:-1]) | (alpha[1:] != alpha[:-1])
            point, alpha, t = point[keep], alpha[keep], t[keep]
        n_new = point.shape[0]
        parent = torch.arange(padded_rows(n_old + n_new), device=point.device)
        parent[n_old + n_new :] = 0  # padding rows carry zero gradients; any row will do
        if n_new:
            # Old point i moves down by the new points before it; new points follow the point opening their segment.
            before = torch.zeros(n_old + 1, dtype=torch.long, device=point.device)
            before[1:] = torch.cumsum(torch.bincount(point, minlength=n_old), 0)
            old_at = torch.arange(n_old, device=point.device) + before[:-1]
            new_at = point + 1 + torch.arange(n_new, device=point.device)
            new_values = torch.lerp(
                hinge_input.index_select(0, point),
                hinge_input.index_select(0, point + 1),
                t.to(hinge_input.dtype).unsqueeze(1),
            )
            self.n = n_old + n_new

            def merged(old: torch.Tensor, new: torch.Tensor, fill) -> torch.Tensor:
                out = old.new_empty((padded_rows(self.n), *old.shape[1:]))
                out.index_copy_(0, old_at, old[:n_old])
                out.index_copy_(0, new_at, new)
                out[self.n :] = fill
                return out

            hinge_input = merged(hinge_input, new_values, 0)
            above = merged(above, new_values > 0, False)
            self.path = merged(self.path, self.path[point], -1)
            self.alpha = merged(self.alpha, alpha, 2.0)
            parent[: self.n] = merged(parent[:n_old], point, 0)[: self.n]
            same_path = self.same_path()
        self.parents.append(parent)
        self.values = hinge.forward(hinge_input)
        # After the cut every unit keeps its side along each segment: the side of the segment's first point, unless
        # an end sits on the threshold (its crossing, or one rounding put just past an end). Where the two ends
        # disagree, the sign at the midpoint decides, written over the kept input as +-1 (only its sign is read).
        point, unit = self._flips(above, same_path)
        midpoint = hinge_input[point, unit] + hinge_input[point + 1, unit]
        hinge_input[point, unit] = torch.where(midpoint > 0, 1.0, -1.0).to(hinge_input.dtype)
        self.sides.append(hinge_input)


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

    With ``bounds``, the values each path keeps are counted after every hinge, and :class:`~._exact_bounds.Overflow`
    is raised as soon as a path or the chunk holds more than they allow.
    """
    points = _Points(starts, ends)
    n_paths = starts.shape[0]
    used = torch.zeros(n_paths, dtype=torch.long, device=starts.device)
    n_hinges = sum(isinstance(step, Hinge) for step in chain.steps)
    for step in chain.steps:
        if isinstance(step, Hinge):
            points.cut(points.values, step)
            if bounds is not None:
                used += torch.bincount(points.path[: points.n], minlength=n_paths) * points.values.shape[1]
                bounds.check(used, len(points.sides) / n_hinges)
        else:
            points.values = step.forward(points.values)
    first = points.same_path().nonzero().squeeze(1)
    outputs = points.values.to(accumulate)
    path = points.path[first]
    integrals = head_integrals(head, outputs[first], outputs[first + 1], targets[path], chain.output_shape)
    length = (points.alpha[first + 1] - points.alpha[first]).to(accumulate).unsqueeze(1)
    # Backward from the last level down; points that open no segment start from zero. Below a hinge the Jacobian
    # is that of the segment's parent, so a level's gradient rows are summed into their parents before the affine
    # steps under them: the matrix products run on as few rows as the forward pass used.
    grad = torch.zeros(points.values.shape, dtype=starts.dtype, device=starts.device)
    grad[first] = (integrals * length).to(starts.dtype)
    hinges = [index for index, step in enumerate(chain.steps) if isinstance(step, Hinge)]
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

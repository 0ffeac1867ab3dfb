"""The one tracer of both exact engines: which torch calls of a forward pass are affine or piecewise-linear in the
input, recorded piecewise-linear units (the general engine's input), and the pass read as a chain (the chain engine's).

A ``TorchFunctionMode`` (:class:`ForwardTracer`) sees every torch call of a forward pass on input-dependent tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from ._steps import SMOOTH_ACTIVATIONS, Affine, Chain, Hinge, Scale, Smooth, Step, hinge_backward

# Calls that are affine in every input-dependent argument whatever the other arguments are.
_AFFINE = frozenset(
    {
        "add", "add_", "__add__", "__radd__", "__iadd__", "sub", "sub_", "__sub__", "__rsub__", "__isub__", "rsub",
        "subtract", "neg", "neg_", "__neg__", "negative", "__pos__", "positive", "sum", "mean", "cumsum", "trace",
        "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "squeeze", "squeeze_", "unsqueeze",
        "unsqueeze_", "cat", "concat", "concatenate", "stack", "hstack", "vstack", "__getitem__", "__setitem__",
        "permute", "transpose", "transpose_", "t", "movedim", "moveaxis", "swapaxes", "swapdims", "expand",
        "expand_as", "repeat", "tile", "split", "tensor_split", "chunk", "narrow", "select", "index_select", "unbind",
        "gather", "roll", "flip", "contiguous", "clone", "to", "float", "double", "type_as", "copy_", "diagonal",
        "identity", "zero_pad2d",
    }
)  # fmt: skip
# Calls whose result does not depend on the input's values, only on its shape, dtype or device.
_METADATA = frozenset(
    {
        "size", "dim", "ndimension", "numel", "nelement", "__len__", "stride", "is_contiguous", "is_floating_point",
        "is_complex", "element_size", "requires_grad_", "get_device", "zeros_like", "ones_like", "empty_like",
        "full_like", "new_zeros", "new_ones", "new_full", "new_empty", "__format__", "__repr__", "__hash__",
    }
)  # fmt: skip
# Tensor properties read through ``Tensor.<name>.__get__``: all but ``data`` (a detached view) are harmless.
_SAFE_PROPERTIES = frozenset(
    {"shape", "dtype", "device", "ndim", "T", "mT", "H", "mH", "requires_grad", "grad_fn", "is_leaf", "layout"}
)
# Products: affine when at most one factor depends on the input (and never the divisor).
_PRODUCTS = frozenset(
    {"mul", "mul_", "__mul__", "__rmul__", "__imul__", "multiply", "matmul", "__matmul__", "__rmatmul__", "mm",
     "bmm", "mv", "dot", "outer", "einsum", "tensordot", "kron"}
)  # fmt: skip
_DIVISIONS = frozenset({"div", "div_", "__truediv__", "__itruediv__", "true_divide", "divide"})
_EVAL_ONLY = frozenset({"batch_norm", "dropout", "dropout1d", "dropout2d", "alpha_dropout", "feature_alpha_dropout"})


def _function_name(func: Callable) -> str:
    name = getattr(func, "__name__", repr(func))
    if name == "__get__":
        return f"Tensor.{getattr(getattr(func, '__self__', None), '__name__', '?')}"
    if getattr(func, "__module__", None) == "torch.nn.functional":
        return f"torch.nn.functional.{name}"
    if hasattr(func, "__objclass__"):
        return f"Tensor.{name}"
    return f"torch.{name}"


def _depends(value) -> bool:
    """Whether ``value`` (a tensor or a nest of them) depends on the input: while recording, only it requires grad."""
    if isinstance(value, torch.Tensor):
        return value.requires_grad
    if isinstance(value, (list, tuple)):
        return any(_depends(item) for item in value)
    return False


def _argument(args: tuple, kwargs: dict, position: int, name: str, default=None):
    if name in kwargs:
        return kwargs[name]
    return args[position] if len(args) > position else default


@dataclass
class PiecewiseUnits:
    """The units of one piecewise-linear call of a forward pass, in execution order.

    ``distances`` holds, per row, the signed distance of every unit's input to each of the call's thresholds
    (``x - t``, flattened, one block of columns per threshold); a unit is above a threshold where its distance is
    positive. The backward pass takes each unit's slope from the side of its thresholds it is on, except for the
    entries of ``patch`` (rows, columns, above), which say the side to use instead: at a breakpoint a unit sits on
    its threshold and the segment being differentiated decides its piece.
    """

    name: str
    shape: torch.Size
    kind: str  # "hinge": slope 1 above 0, ``lower_slope`` below; "band": slope 1 between ``low`` and ``high``, else 0
    lower_slope: float | torch.Tensor = 0.0
    has_low: bool = False
    has_high: bool = False
    distances: torch.Tensor = field(default=None, repr=False)
    output: torch.Tensor | None = field(default=None, repr=False)  # a ReLU's output: positive exactly where above
    patch: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)

    def _inside_band(self, above: torch.Tensor) -> torch.Tensor:
        """A band's derivative per (row, column) entry given which thresholds each unit is above."""
        blocks = above.reshape(above.shape[0], -1, *self.shape[1:]).unbind(1)
        inside = torch.ones_like(blocks[0])
        if self.has_low:
            inside = inside & blocks[0]
        if self.has_high:
            inside = inside & ~blocks[-1]
        return inside.to(self.distances.dtype)

    def backward(self, grad: torch.Tensor) -> torch.Tensor:
        """Gradient of the call's input from the gradient of its output."""
        shape = grad.shape
        if self.kind == "hinge" and not isinstance(self.lower_slope, torch.Tensor):
            # ReLU, LeakyReLU and abs: the fused kernels, then the patched units by hand.
            result = hinge_backward(grad, self.distances.reshape(shape), self.lower_slope)
            if self.patch is not None:
                rows, columns, patched = self.patch
                result = result.contiguous()
                picked = grad.reshape(shape[0], -1)[rows, columns]
                result.view(shape[0], -1)[rows, columns] = torch.where(patched, picked, picked * self.lower_slope)
            return result
        above = self.distances > 0
        if self.patch is not None:
            rows, columns, patched = self.patch
            above[rows, columns] = patched
        if self.kind == "hinge":  # PReLU: one slope per channel
            return hinge_backward(grad, above.reshape(shape), self.lower_slope)
        return grad * self._inside_band(above).reshape(shape)


class _Piecewise(torch.autograd.Function):
    """A piecewise-linear call: the exact forward value, and a backward by the pieces its record says.

    Patching the pieces after the forward lets one recorded pass serve the gradient of the linear piece on either
    side of a breakpoint, where the forward value itself cannot tell which piece is meant.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, func: Callable[[torch.Tensor], torch.Tensor], units: PiecewiseUnits):
        ctx.units = units
        return func(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return ctx.units.backward(grad), None, None


def _threshold_units(name: str, args: tuple, kwargs: dict) -> tuple[PiecewiseUnits, list, bool] | None:
    """The units of a piecewise-linear call: (record, thresholds, whether it works in place), or None if not one."""
    x = args[0]
    base = name.rstrip("_")
    in_place = name.endswith("_") and not name.endswith("__")
    if base == "relu":
        units = PiecewiseUnits(name, x.shape, "hinge")
        return units, [0.0], in_place or bool(_argument(args, kwargs, 1, "inplace", False))
    if base == "leaky_relu":
        slope = _argument(args, kwargs, 1, "negative_slope", 0.01)
        units = PiecewiseUnits(name, x.shape, "hinge", lower_slope=float(slope))
        return units, [0.0], in_place or bool(_argument(args, kwargs, 2, "inplace", False))
    if base == "prelu":
        weight = _argument(args, kwargs, 1, "weight").detach()
        if weight.numel() > 1 and x.ndim > 1:  # one slope per channel, channels on dimension 1
            weight = weight.reshape(1, -1, *([1] * (x.ndim - 2)))
        return PiecewiseUnits(name, x.shape, "hinge", lower_slope=weight), [0.0], False
    if base == "abs":
        return PiecewiseUnits(name, x.shape, "hinge", lower_slope=-1.0), [0.0], in_place
    if base in ("hardtanh", "relu6"):
        if base == "relu6":
            low, high, inplace_at = 0.0, 6.0, 1
        else:
            low = _argument(args, kwargs, 1, "min_val", -1.0)
            high = _argument(args, kwargs, 2, "max_val", 1.0)
            inplace_at = 3
        units = PiecewiseUnits(name, x.shape, "band", has_low=True, has_high=True)
        return units, [low, high], in_place or bool(_argument(args, kwargs, inplace_at, "inplace", False))
    if base in ("clamp", "clip", "clamp_min", "clamp_max"):
        if base == "clamp_min":
            low, high = _argument(args, kwargs, 1, "min"), None
        elif base == "clamp_max":
            low, high = None, _argument(args, kwargs, 1, "max")
        else:
            low, high = _argument(args, kwargs, 1, "min"), _argument(args, kwargs, 2, "max")
        bounds = [bound for bound in (low, high) if bound is not None]
        units = PiecewiseUnits(name, x.shape, "band", has_low=low is not None, has_high=high is not None)
        return units, bounds, in_place
    return None


_PIECEWISE = frozenset(
    {"relu", "relu_", "leaky_relu", "leaky_relu_", "prelu", "abs", "abs_", "hardtanh", "hardtanh_", "relu6",
     "clamp", "clamp_", "clip", "clip_", "clamp_min", "clamp_min_", "clamp_max", "clamp_max_"}
)  # fmt: skip


class ForwardTracer(TorchFunctionMode):
    """Follow one forward pass: classify every call on input-dependent tensors, count (and with ``record=True``
    record) the piecewise-linear units, and with ``chain=x`` read the pass as a chain of steps from ``x`` on (with
    ``smooth=True`` also taking elementwise smooth activations as steps, for Integrated Hessians).

    A tensor depends on the input when it requires grad: the pass runs with gradients enabled, the input requiring
    grad and the parameters not. A call that touches an input-dependent tensor and is neither affine nor
    piecewise-linear in it is a violation, named with the innermost module that made it (when
    :func:`_module_stack` keeps ``module_stack``).
    """

    def __init__(self, *, record: bool = False, chain: torch.Tensor | None = None, smooth: bool = False) -> None:
        super().__init__()
        self.record = record
        self.units: list[PiecewiseUnits] = []
        self.n_units = 0
        self.violations: list[str] = []
        self.module_stack: list[tuple[str, torch.nn.Module]] = []
        self.chain = None if chain is None else _ChainReader(chain, smooth)

    def _violation(self, func: Callable, reason: str = "") -> None:
        where = self.module_stack[-1] if self.module_stack else None
        function = _function_name(func) + (f" ({reason})" if reason else "")
        if where is not None and type(where[1]).__module__.startswith("torch.nn.modules"):
            label = f"{type(where[1]).__name__} (layer '{where[0]}')" if where[0] else type(where[1]).__name__
            if reason:
                label += f" ({reason})"
        elif where is not None and where[0]:
            label = f"{function} in {type(where[1]).__name__} (layer '{where[0]}')"
        else:
            label = function
        if label not in self.violations:
            self.violations.append(label)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if not (_depends(args) or _depends(list(kwargs.values()))):
            return func(*args, **kwargs)
        if name in _PIECEWISE:
            result = self._piecewise(func, name, args, kwargs)
        else:
            self._classify(func, name, args, kwargs)
            result = func(*args, **kwargs)
        if self.chain is not None:
            self.chain.follow(func, name, args, kwargs, result)
        return result

    def _classify(self, func: Callable, name: str, args: tuple, kwargs: dict) -> None:
        """Name ``func`` a violation unless it is affine in the input-dependent arguments it is called with."""
        if name == "__get__":
            if getattr(getattr(func, "__self__", None), "__name__", "") not in _SAFE_PROPERTIES:
                self._violation(func, "detaches the input")
        elif name in _AFFINE or name in _METADATA:
            return
        elif name in _PRODUCTS:
            if sum(_depends(arg) for arg in (*args, *kwargs.values())) > 1:
                self._violation(func, "product of two input-dependent tensors")
        elif name in _DIVISIONS:
            if kwargs.get("rounding_mode") is not None:
                self._violation(func, "division with a rounding_mode (a step)")
            elif _depends(args[1:]) or _depends(list(kwargs.values())):
                self._violation(func, "division by an input-dependent tensor")
        elif name == "__rtruediv__":
            self._violation(func, "division by an input-dependent tensor")
        elif name in ("linear", "addmm", "bilinear"):
            if _depends(args[1:]) or _depends(list(kwargs.values())):
                self._violation(func, "input-dependent weight")
        elif name in _EVAL_ONLY:
            position = 5 if name == "batch_norm" else 2
            if _argument(args, kwargs, position, "training", name != "batch_norm"):
                self._violation(func, "training mode")
        elif name == "pad":
            if _argument(args, kwargs, 2, "mode", "constant") != "constant":
                self._violation(func, "non-constant padding")
        else:
            self._violation(func)

    def _piecewise(self, func: Callable, name: str, args: tuple, kwargs: dict):
        found = _threshold_units(name, args, kwargs) if isinstance(args[0], torch.Tensor) else None
        if found is None or not args[0].requires_grad:
            self._violation(func, "piecewise-linear only in its first argument")
            return func(*args, **kwargs)
        units, thresholds, in_place = found
        if _depends(thresholds) or _depends(args[1:]) or _depends(list(kwargs.values())):
            self._violation(func, "input-dependent threshold")
            return func(*args, **kwargs)
        x = args[0]
        rows = x.shape[0] if x.ndim else 1
        self.n_units += x.numel() // max(1, rows) * len(thresholds)
        if not self.record:
            return func(*args, **kwargs)
        with torch.no_grad():
            flat = x.detach().reshape(rows, -1)
            if len(thresholds) == 1 and not isinstance(thresholds[0], torch.Tensor) and thresholds[0] == 0:
                # An in-place call overwrites its input after this, so only then does it need a copy.
                units.distances = flat.clone() if in_place else flat
            else:
                blocks = [(x.detach() - threshold).reshape(rows, -1) for threshold in thresholds]
                units.distances = torch.cat(blocks, dim=1)
        self.units.append(units)

        def apply(tensor: torch.Tensor) -> torch.Tensor:
            return _out_of_place(name, tensor, units, thresholds)

        result = _Piecewise.apply(x, apply, units)
        if units.kind == "hinge" and isinstance(units.lower_slope, float) and units.lower_slope == 0.0:
            units.output = result.detach()
        if in_place:
            x.copy_(result)
            return x
        return result


# Calls that leave a row's values as they are (only its shape, which the chain keeps flat).
_RESHAPES = frozenset(
    {"view", "reshape", "flatten", "squeeze", "unsqueeze", "contiguous", "clone", "view_as", "reshape_as", "identity"}
)
_DROPOUTS = frozenset({"dropout", "alpha_dropout", "feature_alpha_dropout", "dropout1d"})


def _constant(value) -> bool:
    return not (isinstance(value, torch.Tensor) and value.requires_grad)


class _NotAChain(Exception):
    pass


class _ChainReader:
    """The chain a traced pass is: each call on the running value must be a chain step applied to it alone (with
    ``smooth``, elementwise smooth activations too)."""

    def __init__(self, x: torch.Tensor, smooth: bool = False) -> None:
        self.current = x
        self.smooth = smooth
        self.steps: list[Step] = []
        self.failed = False

    def follow(self, func: Callable, name: str, args: tuple, kwargs: dict, result) -> None:
        if self.failed:
            return
        values = [*args, *kwargs.values()]
        dependent = [v for v in values if isinstance(v, torch.Tensor) and v.requires_grad]
        if any(isinstance(v, (list, tuple)) and not all(_constant(item) for item in v) for v in values):
            self.failed = True
            return
        if not dependent:
            return
        if name == "__get__":
            self.failed = getattr(getattr(func, "__self__", None), "__name__", "") not in _SAFE_PROPERTIES
            return
        if name in _METADATA:
            return
        try:
            if len(dependent) != 1 or dependent[0] is not self.current or args[0] is not self.current:
                raise _NotAChain
            step = self._step(name, args, kwargs, result)
        except _NotAChain:
            self.failed = True
            return
        if step is not None:
            self.steps.append(step)
        self.current = result

    def chain(self, output) -> Chain | None:
        """The chain read, if the pass was one ending in ``output``."""
        if self.failed or self.current is not output or not isinstance(output, torch.Tensor):
            return None
        return Chain(tuple(self.steps), output.shape[1:])

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
        if self.smooth and base in SMOOTH_ACTIVATIONS:
            return _smooth_step(base, args, kwargs)
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


def _smooth_step(name: str, args: tuple, kwargs: dict) -> Smooth:
    """The :class:`~._steps.Smooth` step of a call to a smooth activation, with its numbers."""
    if name == "softplus":
        beta, threshold = _argument(args, kwargs, 1, "beta", 1.0), _argument(args, kwargs, 2, "threshold", 20.0)
        return Smooth(name, (float(beta), float(threshold)))
    if name == "elu":
        return Smooth(name, (float(_argument(args, kwargs, 1, "alpha", 1.0)),))
    if name == "gelu":
        approximate = _argument(args, kwargs, 1, "approximate", "none")
        if approximate not in ("none", "tanh"):
            raise _NotAChain
        return Smooth(name, (float(approximate == "tanh"),))
    return Smooth(name)


def _out_of_place(name: str, x: torch.Tensor, units: PiecewiseUnits, thresholds: list) -> torch.Tensor:
    """The value of a piecewise-linear call, never in place."""
    if units.kind == "hinge":
        if isinstance(units.lower_slope, torch.Tensor):
            return torch.where(x > 0, x, x * units.lower_slope)
        if name.rstrip("_") == "abs":
            return x.abs()
        if units.lower_slope == 0.0:
            return F.relu(x)
        return F.leaky_relu(x, units.lower_slope)
    low = thresholds[0] if units.has_low else None
    high = thresholds[-1] if units.has_high else None
    return torch.clamp(x, min=low, max=high)


@contextmanager
def _module_stack(module: torch.nn.Module, recorder) -> Iterator[None]:
    """Keep ``recorder.module_stack`` (a list) as the chain of modules running, to name where a violation happens."""

    def enter(name: str):
        def hook(sub, _inputs):
            recorder.module_stack.append((name, sub))

        return hook

    def leave(_sub, _inputs, _output):
        recorder.module_stack.pop()

    handles = []
    try:
        for name, sub in module.named_modules():
            handles.append(sub.register_forward_pre_hook(enter(name)))
            handles.append(sub.register_forward_hook(leave, always_call=True))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def frozen_parameters(module: torch.nn.Module) -> Iterator[None]:
    """Parameters not requiring grad within the block (so that only input-dependent tensors do); restored after."""
    flags = [(param, param.requires_grad) for param in module.parameters()]
    try:
        for param, _ in flags:
            param.requires_grad_(False)
        yield
    finally:
        for param, flag in flags:
            param.requires_grad_(flag)


def record_forward(module: torch.nn.Module, points: torch.Tensor) -> tuple[torch.Tensor, list[PiecewiseUnits]]:
    """Forward pass on ``points`` (requiring grad) with every piecewise-linear call recorded, in execution order.

    Raises
    ------
    ValueError
        If a call is neither affine nor piecewise-linear in the input.
    """
    tracer = ForwardTracer(record=True)
    with torch.enable_grad(), tracer:
        output = module(points)
    if tracer.violations:
        raise ValueError(violation_message(tracer.violations))
    return output, tracer.units


def trace_module(
    module: torch.nn.Module, probe: torch.Tensor, *, chain: bool, smooth: bool = False
) -> tuple[torch.Tensor, ForwardTracer]:
    """One forward pass on ``probe`` (parameters frozen for it), its violations named by module, its units counted
    and, with ``chain=True``, the pass read as a chain (``tracer.chain``; with ``smooth=True`` smooth activations
    are steps of it): the output and the tracer."""
    points = probe.detach().clone().requires_grad_(True)
    tracer = ForwardTracer(chain=points if chain else None, smooth=smooth)
    with frozen_parameters(module), _module_stack(module, tracer), torch.enable_grad(), tracer:
        output = module(points)
    return output, tracer


def violation_message(violations: list[str]) -> str:
    return (
        f"exact integrated gradients need a piecewise-linear module, but these calls are not affine or "
        f"piecewise-linear in the input: {violations}. Supported: Linear, BatchNorm and Dropout in eval mode, "
        "ReLU, LeakyReLU, PReLU, ReLU6, Hardtanh, clamp, abs, reshaping and sums; use a quadrature rule instead."
    )


def piecewise_linear_violations(module: torch.nn.Module, probe: torch.Tensor) -> list[str]:
    """Names of the modules and functions in one forward pass on ``probe`` that are not piecewise-linear in the input.

    Parameters
    ----------
    module : torch.nn.Module
        The model, in the mode it will be explained in (a BatchNorm in training mode is a violation). Its
        parameters' ``requires_grad`` flags are cleared for the pass and restored.
    probe : Tensor of shape (m, d)
        A few input rows.

    Returns
    -------
    list of str
        For example ``["Tanh (layer '1')", "torch.sigmoid"]``, in order of first use; ``[]`` means the module is
        affine or piecewise-linear in its input, so exact integrated gradients apply.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    >>> piecewise_linear_violations(net, torch.zeros(2, 3))
    ["Tanh (layer '1')"]
    """
    return trace_module(module, probe, chain=False)[1].violations

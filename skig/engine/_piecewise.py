"""Piecewise-linear forward passes: which torch calls are affine or piecewise-linear in the input, and recording.

A ``TorchFunctionMode`` sees every torch call of a forward pass; piecewise-linear units have their inputs recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

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

    def _slopes(self, above: torch.Tensor) -> torch.Tensor:
        """Derivative per (row, column) entry given which thresholds each unit is above (any leading shape)."""
        dtype = self.distances.dtype
        if self.kind == "hinge":
            lower = torch.as_tensor(self.lower_slope, dtype=dtype, device=above.device)
            return torch.where(above, torch.ones((), dtype=dtype, device=above.device), lower)
        blocks = above.reshape(above.shape[0], -1, *self.shape[1:]).unbind(1)
        inside = torch.ones_like(blocks[0])
        if self.has_low:
            inside = inside & blocks[0]
        if self.has_high:
            inside = inside & ~blocks[-1]
        return inside.to(dtype)

    def backward(self, grad: torch.Tensor) -> torch.Tensor:
        """Gradient of the call's input from the gradient of its output."""
        shape = grad.shape
        if self.kind == "hinge" and not isinstance(self.lower_slope, torch.Tensor):
            # ReLU, LeakyReLU and abs: the fused kernels autograd itself uses, then the patched units by hand.
            x = self.distances.reshape(shape)
            if self.lower_slope == 0.0:
                result = torch.ops.aten.threshold_backward(grad, x, 0.0)
            else:
                result = torch.ops.aten.leaky_relu_backward(grad, x, self.lower_slope, False)
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
        return grad * self._slopes(above).reshape(shape)


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


class PiecewiseRecorder(TorchFunctionMode):
    """Classify every call of a forward pass; with ``record=True``, also record piecewise-linear units.

    A tensor depends on the input when it requires grad: the pass runs with gradients enabled, the input requiring
    grad and the parameters not. A call that touches an input-dependent tensor and is neither affine nor
    piecewise-linear in it is a violation, named with the innermost module that made it.
    """

    def __init__(self, record: bool) -> None:
        super().__init__()
        self.record = record
        self.units: list[PiecewiseUnits] = []
        self.violations: list[str] = []
        self.module_stack: list[tuple[str, torch.nn.Module]] = []

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
        if name == "__get__":
            if getattr(getattr(func, "__self__", None), "__name__", "") not in _SAFE_PROPERTIES:
                self._violation(func, "detaches the input")
            return func(*args, **kwargs)
        if name in _PIECEWISE:
            return self._piecewise(func, name, args, kwargs)
        if name in _AFFINE or name in _METADATA:
            return func(*args, **kwargs)
        if name in _PRODUCTS:
            if sum(_depends(arg) for arg in (*args, *kwargs.values())) > 1:
                self._violation(func, "product of two input-dependent tensors")
        elif name in _DIVISIONS:
            if _depends(args[1:]) or _depends(list(kwargs.values())):
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
        return func(*args, **kwargs)

    def _piecewise(self, func: Callable, name: str, args: tuple, kwargs: dict):
        found = _threshold_units(name, args, kwargs) if isinstance(args[0], torch.Tensor) else None
        if found is None or not args[0].requires_grad:
            self._violation(func, "piecewise-linear only in its first argument")
            return func(*args, **kwargs)
        units, thresholds, in_place = found
        if _depends(thresholds) or _depends(args[1:]) or _depends(list(kwargs.values())):
            self._violation(func, "input-dependent threshold")
            return func(*args, **kwargs)
        if not self.record:
            return func(*args, **kwargs)
        x = args[0]
        rows = x.shape[0] if x.ndim else 1
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
def _module_stack(module: torch.nn.Module, recorder: PiecewiseRecorder) -> Iterator[None]:
    """Keep ``recorder.module_stack`` as the chain of modules running, to name where a violation happens."""

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
    recorder = PiecewiseRecorder(record=True)
    with torch.enable_grad(), recorder:
        output = module(points)
    if recorder.violations:
        raise ValueError(_violation_message(recorder.violations))
    return output, recorder.units


def _violation_message(violations: list[str]) -> str:
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
    recorder = PiecewiseRecorder(record=False)
    points = probe.detach().clone().requires_grad_(True)
    with frozen_parameters(module), _module_stack(module, recorder), torch.enable_grad(), recorder:
        module(points)
    return recorder.violations

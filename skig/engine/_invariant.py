"""Products with frozen weights that round every row alike, wherever the row sits in its pass.

A row's numbers must not depend on the rows explained with it (Spark and Dask promise the numbers of one machine).
Padding passes to whole row blocks (:data:`._gradients.ROW_BLOCK`) is not enough on every CPU: with MKL on some (seen
on AMD EPYC, float32) a product rounds a row differently by the rows beside it when its inner dimension is not a
multiple of 8 and its result is narrow (a layer of 5 to 11 units, a first layer reading few features), and autograd's
backward of ``x @ weight.T`` is ``grad @ weight``, another kernel. Here both directions go through :func:`linear`,
which pads the inner dimension with zeros to a multiple of 8 on a CPU, the backward as ``linear(grad, weight.T)``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils.weak import WeakIdKeyDictionary

# weight -> {form: (its version, where its data was, the derived tensor)}: a frozen weight is transposed (or padded)
# once, not in every pass (a 256 x 256 copy per pass was about 7% of a pass's time). Keyed by identity, so a copy of a
# module (deepcopy, pickling) never inherits another tensor's entry; the version and data address tell an in-place
# change.
_DERIVED: WeakIdKeyDictionary = WeakIdKeyDictionary()
_DERIVED_LOCK = threading.Lock()

# The inner dimension of a CPU product is padded with zeros to a multiple of this. With MKL on some CPUs (seen on AMD
# EPYC, float32) a product whose inner dimension is not a multiple of 8 and whose result is narrow (2 to 11 columns)
# rounds a row differently by the rows beside it, forward and backward; padded, every shape tried was invariant.
INNER_MULTIPLE = 8


def _derived(weight: torch.Tensor, form, make) -> torch.Tensor:
    key = (weight._version, weight.data_ptr(), weight.dtype, weight.device, tuple(weight.shape), weight.stride())
    with _DERIVED_LOCK:
        found = _DERIVED.get(weight, {}).get(form)
    if found is not None and found[0] == key:
        return found[1]
    made = make(weight.detach())
    with _DERIVED_LOCK:
        _DERIVED.setdefault(weight, {})[form] = (key, made)
    return made


def transposed(weight: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``weight.t().contiguous()`` of a frozen 2-D ``weight`` (in ``dtype``, default its own), made once per version
    of the weight.

    ``linear(grad, transposed(weight))`` is ``grad @ weight`` through the kernel of the forward pass (see the
    module's docstring).
    """
    dtype = weight.dtype if dtype is None else dtype
    return _derived(weight, ("transposed", dtype), lambda w: w.t().to(dtype).contiguous())


def _inner_padding(x: torch.Tensor, weight: torch.Tensor) -> int:
    return (-weight.shape[1]) % INNER_MULTIPLE if x.device.type == "cpu" and weight.dim() == 2 else 0


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` with a frozen ``weight`` whose rounding of a row does not depend on its neighbours.

    On a CPU the inner dimension is padded with zeros to a multiple of :data:`INNER_MULTIPLE` (the padded weight is
    made once per version); zeros add nothing, only the kernel's blocking changes.
    """
    pad = _inner_padding(x, weight)
    if pad:
        x = F.pad(x, (0, pad))
        weight = _padded(weight, pad)
    return F.linear(x, weight, bias)


def _padded(weight: torch.Tensor, pad: int) -> torch.Tensor:
    """``weight`` with ``pad`` zero columns appended (its inner dimension padded), made once per version."""
    return _derived(weight, "padded", lambda w: F.pad(w, (0, pad)).contiguous())


def bound_linear(
    weight: torch.Tensor, bias: torch.Tensor | None = None
) -> Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]:
    """``(x, out=None) -> linear(x, weight, bias)`` for 2-D inputs on ``weight``'s device, with the padded weight looked
    up once: for a loop of passes, where the lookup per product cost more than a small product's arithmetic.

    With ``out`` (a tensor of the result's shape and dtype) the product is written there: the kernel ``F.linear``
    itself calls on 2-D inputs (``addmm`` with a bias, ``mm`` without), so the same numbers.
    """
    pad = _inner_padding(weight, weight)
    if pad:
        weight = _padded(weight, pad)
    transposed_view = weight.t()

    def product(x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        if pad:
            x = F.pad(x, (0, pad))
        if out is None:
            return F.linear(x, weight, bias)
        if bias is None:
            return torch.mm(x, transposed_view, out=out)
        return torch.addmm(bias, x, transposed_view, out=out)

    return product


class _FrozenLinear(torch.autograd.Function):
    """``F.linear(x, weight, bias)`` with a frozen weight and bias; the input's gradient through ``F.linear``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(weight)
        return linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (weight,) = ctx.saved_tensors
        return linear(grad, transposed(weight)), None, None


def _frozen(tensor) -> bool:
    return tensor is None or (isinstance(tensor, torch.Tensor) and not tensor.requires_grad)


class RowInvariantProducts(TorchFunctionMode):
    """While active, ``F.linear`` and ``x @ W`` with a frozen 2-D ``W`` take their input gradient row-invariantly.

    Forward values are unchanged (the same call); only the backward's kernel differs. Anything else passes through.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.linear and not kwargs:
            x, weight, bias = (*args, None)[:3]
            if isinstance(x, torch.Tensor) and x.requires_grad and _frozen(weight) and _frozen(bias):
                if weight.dim() == 2:
                    return _FrozenLinear.apply(x, weight, bias)
        elif func in (torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.mm) and len(args) == 2:
            x, matrix = args
            if (
                isinstance(x, torch.Tensor)
                and x.requires_grad
                and x.dim() == 2
                and isinstance(matrix, torch.Tensor)
                and matrix.dim() == 2
                and not matrix.requires_grad
                and not kwargs
            ):
                # x @ M is F.linear(x, M.T): keep the forward product as the user wrote it, take the backward above.
                return _MatmulFrozen.apply(x, matrix)
        return func(*args, **kwargs)


class _MatmulFrozen(torch.autograd.Function):
    """``x @ matrix`` with a frozen matrix; the input's gradient ``grad @ matrix.T`` through ``F.linear``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(matrix)
        if _inner_padding(x, matrix.t()):
            return linear(x, _contiguous(matrix.t()))
        return x @ matrix

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (matrix,) = ctx.saved_tensors
        return linear(grad, _contiguous(matrix)), None


def _contiguous(matrix: torch.Tensor) -> torch.Tensor:
    """``matrix.contiguous()``; for ``weight.T`` of a contiguous weight (``x @ weight.T``), the weight's cached
    :func:`transposed`."""
    base = matrix._base
    if matrix.is_contiguous():
        # A whole-tensor view of a weight (``(weight.T).T``) is the weight: its derived forms are kept on the weight.
        if base is not None and base.shape == matrix.shape and base.stride() == matrix.stride():
            return base if base.data_ptr() == matrix.data_ptr() else matrix
        return matrix
    if (
        base is not None
        and base.dim() == 2
        and base.is_contiguous()
        and base.shape == matrix.t().shape
        and matrix.t().is_contiguous()
        and base.data_ptr() == matrix.data_ptr()
    ):
        return transposed(base)
    return matrix.contiguous()

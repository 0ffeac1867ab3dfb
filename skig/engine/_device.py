"""Where and in which precision the model runs: device resolution, and the private copy each explanation uses."""

from __future__ import annotations

import copy
import copyreg
from collections import OrderedDict

import torch

#: Dtypes whose models are explained in float32 (their weights converted exactly) rather than in their own precision.
HALF_PRECISION = (torch.float16, torch.bfloat16)


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of the module's first parameter or buffer (CPU for a module without either)."""
    return _first_device(_tensors(module))


def module_placement(module: torch.nn.Module) -> tuple[torch.dtype, torch.device]:
    """The floating dtype the module computes in (float32 for a module without floating parameters) and its device
    (:func:`module_device`), from one walk over the module's tensors."""
    tensors = _tensors(module)
    return _floating_dtype(tensors), _first_device(tensors)


def _first_device(tensors: list[torch.Tensor]) -> torch.device:
    """The device of the first of a module's parameters and buffers (:func:`_tensors`), else the CPU."""
    return tensors[0].device if tensors else torch.device("cpu")


def _floating_dtype(tensors: list[torch.Tensor]) -> torch.dtype:
    """The dtype of the first floating tensor of a module's parameters and buffers (:func:`_tensors`), else float32."""
    return next((tensor.dtype for tensor in tensors if tensor.is_floating_point()), torch.float32)


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"``: CUDA when available, else CPU; anything else as torch reads it."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError as error:
        raise ValueError(
            f"device={device!r} is not a device torch knows; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'. ({error})"
        ) from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} was requested but CUDA is not available; use 'cpu' or 'auto'.")
    return device


#: Copies of a module skig takes before giving up when every one overlapped a change of its parameters.
COPY_ATTEMPTS = 100


def private_copy(module: torch.nn.Module, device: torch.device | None = None) -> torch.nn.Module:
    """A snapshot of ``module`` for one explanation: on ``device``, in eval mode, parameters without gradients.

    skig never changes the user's module (training flags, ``requires_grad``, hooks, device), so other threads may
    use it, explain it or train it meanwhile; gradient-rule hooks go on the copy. The copy shares nothing with the
    original, so an in-place update of the original's weights during an explanation does not reach it. A float16
    or bfloat16 module is copied in float32: the same weights, integrated without half-precision rounding.

    The snapshot is consistent: every parameter and buffer holds the value it had at one same instant. After
    copying, each tensor is read again and compared bit for bit with its copy, and torch's version counters
    (bumped by every in-place change: optimizer steps, ``load_state_dict``, ``add_``) are compared with theirs
    before the copy; a copy that overlapped any change is taken again (up to :data:`COPY_ATTEMPTS` times). Each
    tensor then kept its copied value from the end of the copy to the start of the check, so the copy is the
    module's state at the instant between them. A training step that updates its parameters one after another
    passes through intermediate states, and an instant may fall inside one: a copy never mixes values that never
    coexisted, but only a lock held around both the step and the explanation restricts it to states between steps.

    Raises
    ------
    TypeError
        If the module cannot be deep-copied.
    RuntimeError
        If the module changed during every one of :data:`COPY_ATTEMPTS` copies.
    """
    for _ in range(COPY_ATTEMPTS):
        # The module's tensors listed once per attempt (each listing walks every submodule): a tensor replaced
        # during the copy is then a later state, or a copy that differs from the listed one and is taken again.
        originals = _tensors(module)
        versions = _versions(originals)
        snapshot = _deepcopy(module)
        copies = _tensors(snapshot)
        if _same_tensors(copies, originals) and _versions(originals) == versions:
            break
    else:
        raise RuntimeError(
            f"the parameters of {type(module).__name__} changed while skig copied them, {COPY_ATTEMPTS} times in a "
            "row (another thread is updating them without pause); explain between updates, e.g. hold a lock around "
            "the optimizer step and the call to explain."
        )
    # The copy's tensors are listed once (each listing walks every submodule): a device move keeps the dtypes.
    if device is not None and any(tensor.device != device for tensor in copies):
        snapshot.to(device)
    if _floating_dtype(copies) in HALF_PRECISION:
        # Half-precision weights are exact in float32, and the copy is private: compute there, not in 8-11 bits.
        snapshot.float()
    snapshot.eval()
    for param in snapshot.parameters():
        param.requires_grad_(False)
        param.grad = None
    return snapshot


def _deepcopy(module: torch.nn.Module) -> torch.nn.Module:
    try:
        return _copy_module(module, {})
    except Exception as error:
        raise TypeError(
            f"skig explains a private copy of the model so that other users of it are not disturbed, but "
            f"copy.deepcopy failed on {type(module).__name__}: {type(error).__name__}: {error}"
        ) from error


# Values a deep copy hands on as they are (copy.deepcopy's own atomic types, and torch's).
_ATOMIC = (type(None), bool, int, float, complex, str, bytes, type, torch.dtype, torch.device)


def _plain_module(cls: type) -> bool:
    """Whether ``copy.deepcopy`` copies instances of ``cls`` through ``torch.nn.Module``'s own state methods (no
    copying hook of the class's own)."""
    return (
        getattr(cls, "__deepcopy__", None) is None
        and cls.__reduce_ex__ is object.__reduce_ex__
        and cls.__reduce__ is object.__reduce__
        and cls.__getstate__ is torch.nn.Module.__getstate__
        and cls.__setstate__ is torch.nn.Module.__setstate__
        and cls not in copyreg.dispatch_table
    )


def _copy_module(module: torch.nn.Module, memo: dict) -> torch.nn.Module:
    """``copy.deepcopy(module, memo)``, the same copy made faster: what ``copy.deepcopy`` does for a module (a new
    instance given a deep copy of ``__getstate__()`` through ``__setstate__``), with submodules copied here, values
    that deep copies hand on as they are passed on, and empty dicts and sets made new without deepcopy's dispatch
    (a module holds about fifteen, its hooks; deepcopy spent three quarters of a small net's copy on them). Everything
    else, tensors included, goes through ``copy.deepcopy`` with the same ``memo``, so tied weights stay tied. A class
    with a copying hook of its own is copied by ``copy.deepcopy`` itself."""
    found = memo.get(id(module))
    if found is not None:
        return found
    cls = type(module)
    if not _plain_module(cls):
        return copy.deepcopy(module, memo)
    snapshot = cls.__new__(cls)
    memo[id(module)] = snapshot
    state = {}
    for key, value in module.__getstate__().items():
        kind = type(value)
        if kind in _ATOMIC:
            state[key] = value
        elif kind in (dict, OrderedDict, set) and not value:
            state[key] = kind()
        elif key == "_modules" and kind is dict:
            state[key] = {name: None if sub is None else _copy_module(sub, memo) for name, sub in value.items()}
        else:
            state[key] = copy.deepcopy(value, memo)
    snapshot.__setstate__(state)
    return snapshot


def _tensors(module: torch.nn.Module) -> list[torch.Tensor]:
    return [*module.parameters(), *module.buffers()]


def _versions(tensors: list[torch.Tensor]) -> list[int]:
    return [_version(tensor) for tensor in tensors]


def _version(tensor: torch.Tensor) -> int:
    try:
        return tensor._version
    except RuntimeError:  # inference tensors keep no version counter; the bitwise check still covers them
        return -1


def _same_tensors(copies: list[torch.Tensor], originals: list[torch.Tensor]) -> bool:
    """Whether every tensor of ``originals`` (:func:`_tensors` of the module) still equals its copy in ``copies``
    (:func:`_tensors` of the copy), bit for bit."""
    if len(copies) != len(originals):
        return False
    with torch.no_grad():
        return all(_bitwise_equal(a, b) for a, b in zip(copies, originals, strict=True))


def _bitwise_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    # Bits, not values: NaN equals itself, and -0.0 differs from 0.0, as a copy would have them.
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    try:
        return torch.equal(a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8))
    except RuntimeError:  # layouts without a byte view (sparse, quantized): compare the values
        return torch.equal(a, b)

"""Where and in which precision the model runs: device resolution, and the private copy each explanation uses."""

from __future__ import annotations

import copy

import torch

#: Dtypes whose models are explained in float32 (their weights converted exactly) rather than in their own precision.
HALF_PRECISION = (torch.float16, torch.bfloat16)


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of the module's first parameter or buffer (CPU for a module without either)."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def module_dtype(module: torch.nn.Module) -> torch.dtype:
    """The floating dtype the module computes in (float32 for a module without floating parameters)."""
    for tensor in (*module.parameters(), *module.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


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


def private_copy(module: torch.nn.Module, device: torch.device | None = None) -> torch.nn.Module:
    """A snapshot of ``module`` for one explanation: on ``device``, in eval mode, parameters without gradients.

    skig never changes the user's module (training flags, ``requires_grad``, hooks, device), so other threads may
    use it, explain it or train it meanwhile; gradient-rule hooks go on the copy. The copy shares nothing with the
    original, so an in-place update of the original's weights during an explanation does not reach it. A float16
    or bfloat16 module is copied in float32: the same weights, integrated without half-precision rounding.
    """
    try:
        snapshot = copy.deepcopy(module)
    except Exception as error:
        raise TypeError(
            f"skig explains a private copy of the model so that other users of it are not disturbed, but "
            f"copy.deepcopy failed on {type(module).__name__}: {type(error).__name__}: {error}"
        ) from error
    if device is not None:
        snapshot.to(device)
    if module_dtype(snapshot) in HALF_PRECISION:
        # Half-precision weights are exact in float32, and the copy is private: compute there, not in 8-11 bits.
        snapshot.float()
    snapshot.eval()
    snapshot.requires_grad_(False)
    for param in snapshot.parameters():
        param.grad = None
    return snapshot

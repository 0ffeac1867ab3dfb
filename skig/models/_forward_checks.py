"""What skig needs of a torch module's ``forward``, and what it says when it does not get it: one input tensor, and
no in-place change of a tensor that autograd keeps for the gradient."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch.overrides import TorchFunctionMode

from ..engine.exact._trace import _depends, _function_name, _module_stack

# What autograd says when forward changed, in place, a tensor it needs (or the input, a leaf that requires grad).
_INPLACE_ERRORS = ("modified by an inplace operation", "used in an in-place operation")


def required_inputs(module: torch.nn.Module) -> list[str]:
    """The names of the positional arguments ``module.forward`` cannot do without."""
    try:
        parameters = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):  # a forward without a signature (a builtin): it is called as it is
        return []
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in parameters if p.kind in positional and p.default is inspect.Parameter.empty]


def several_inputs_message(description: str, names: list[str]) -> str:
    """What to do with a module whose ``forward`` takes several tensors (``names``)."""
    example = ", ".join(f"{name!r}: [...]" for name in names)
    return (
        f"{description}'s forward takes several tensors ({', '.join(names)}), but skig calls a model's module with "
        "one (n, d) float tensor of the encoded columns. Say which DataFrame columns each one reads: "
        f"skig.Explainer(model, inputs={{{example}}}) (pandas Categorical and integer columns are passed as integer "
        "codes, {column: [categories]} maps strings to codes); or wrap the module in a torch.nn.Module whose "
        "forward(x) splits x into the tensors it needs, e.g. return self.model(x[:, :k], x[:, k:])."
    )


def check_single_input(module: torch.nn.Module, description: str) -> None:
    """Refuse, before any data is read, a module whose ``forward`` needs more than one tensor."""
    names = required_inputs(module)
    if len(names) > 1:
        raise TypeError(several_inputs_message(description, names))


def is_inplace_error(error: BaseException) -> bool:
    """Whether ``error`` is autograd refusing a tensor changed in place during forward."""
    return isinstance(error, RuntimeError) and any(text in str(error) for text in _INPLACE_ERRORS)


class _InPlaceRecorder(TorchFunctionMode):
    """Names the in-place calls on input-dependent tensors (those that require grad) and the module making them."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.module_stack: list[tuple[str, torch.nn.Module]] = []

    def __torch_function__(self, func: Callable, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        in_place = (
            (name.endswith("_") and not name.startswith("_") and name != "requires_grad_")
            or (name.startswith("__i") and name.endswith("__") and name != "__index__")
            or name == "__setitem__"
            or kwargs.get("inplace") is True
        )
        changed = kwargs["out"] if kwargs.get("out") is not None else (args[0] if in_place and args else None)
        if changed is not None and _depends(changed):
            call = _function_name(func) + (" (inplace=True)" if kwargs.get("inplace") is True else "")
            if self.module_stack:
                layer, where = self.module_stack[-1]
                call += f" in {type(where).__name__}" + (f" (layer '{layer}')" if layer else "")
            if call not in self.calls:
                self.calls.append(call)
        return func(*args, **kwargs)


def inplace_calls(module: torch.nn.Module, inputs: torch.Tensor) -> list[str]:
    """The in-place calls one forward pass of ``module`` (a private copy) makes on tensors that depend on
    ``inputs``, each with the module that makes it."""
    recorder = _InPlaceRecorder()
    probe = inputs.detach().clone().requires_grad_(True)
    try:
        with torch.enable_grad(), _module_stack(module, recorder), recorder:
            module(probe)
    except Exception:  # the calls made until forward failed are what there is to report
        pass
    return recorder.calls


def inplace_message(description: str, module: torch.nn.Module, inputs: torch.Tensor, error: BaseException) -> str:
    """What to change in a module whose forward changes, in place, a tensor autograd needs."""
    calls = inplace_calls(module, inputs)
    where = f" ({'; '.join(calls[:5])})" if calls else ""
    autograd = str(error).split(". Hint:")[0].split("\n")[0].rstrip(".")
    return (
        f"{description} changes a tensor in place inside forward{where}, and autograd needs that tensor's value to "
        f"compute the gradient skig integrates (autograd: {autograd}). Use out-of-place operations there, which "
        "give the same predictions: h = h * 2 rather than h.mul_(2) or h *= 2, torch.nn.ReLU() rather than "
        "ReLU(inplace=True), torch.where or torch.cat rather than assigning into a slice of a tensor."
    )

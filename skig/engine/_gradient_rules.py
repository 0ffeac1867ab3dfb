"""Gradient rules: the backward pass of every ``nn.ReLU`` replaced by deconvolution or guided backpropagation.

Installed as forward hooks for one explanation and always removed; functional ReLU calls are detected and refused.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

GRADIENT_RULES = ("standard", "deconv", "guided_backprop")

# Every way to call ReLU as a function; nn.ReLU itself goes through F.relu, which a mode sees once per module call.
_RELU_FUNCTIONS = frozenset({F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_})


class _RuleReLU(torch.autograd.Function):
    """ReLU forward; backward by a modified rule instead of ``grad * (x > 0)``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, guided: bool) -> torch.Tensor:
        out = x.clamp(min=0)
        ctx.guided = guided
        if guided:
            ctx.save_for_backward(x > 0)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        # Deconvolution (Zeiler & Fergus) passes only positive gradients and ignores the forward mask; guided
        # backpropagation (Springenberg et al.) keeps the forward mask as well.
        grad = grad.clamp(min=0)
        if ctx.guided:
            (mask,) = ctx.saved_tensors
            grad = grad * mask
        return grad, None


def _relu_modules(module: torch.nn.Module) -> list[torch.nn.Module]:
    return [sub for sub in module.modules() if isinstance(sub, torch.nn.ReLU)]


class _FunctionalReluCounter(TorchFunctionMode):
    """Counts ReLU function calls made outside every ``nn.ReLU`` module's own forward."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.outside = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _RELU_FUNCTIONS and self.depth == 0:
            self.outside += 1
        return func(*args, **(kwargs or {}))


def functional_relu_calls(module: torch.nn.Module, probe: torch.Tensor) -> int:
    """How many times one forward pass on ``probe`` calls ReLU as a function rather than through ``nn.ReLU``.

    Such calls keep the standard gradient under any rule, so a rule would silently not apply to them.
    """
    counter = _FunctionalReluCounter()

    def enter(_module, _inputs):
        counter.depth += 1

    def leave(_module, _inputs, _output):
        counter.depth -= 1

    handles = []
    try:
        for relu in _relu_modules(module):
            handles.append(relu.register_forward_pre_hook(enter))
            handles.append(relu.register_forward_hook(leave, always_call=True))
        with torch.no_grad(), counter:
            module(probe)
    finally:
        for handle in handles:
            handle.remove()
    return counter.outside


@contextmanager
def gradient_rule(module: torch.nn.Module, rule: str) -> Iterator[torch.nn.Module]:
    """Within the block, every ``nn.ReLU`` of ``module`` back-propagates by ``rule``; hooks are removed on exit.

    Parameters
    ----------
    module : torch.nn.Module
        The model; its ReLU modules get a forward pre-hook and a forward hook, removed on exit even if the body
        raises.
    rule : {"standard", "deconv", "guided_backprop"}
        ``"standard"`` installs nothing.
    """
    if rule not in GRADIENT_RULES:
        raise ValueError(f"gradient_rule must be one of {list(GRADIENT_RULES)}, got {rule!r}.")
    if rule == "standard":
        yield module
        return
    guided = rule == "guided_backprop"
    # Per ReLU and per thread: passes run on several threads at once (see _threads.py).
    pending: dict[tuple[int, int], list[torch.Tensor]] = {}

    def keep_input(relu, inputs):
        # The rule needs the ReLU's input untouched: an in-place ReLU gets a copy to overwrite instead.
        pending.setdefault((id(relu), threading.get_ident()), []).append(inputs[0])
        if relu.inplace:
            return (inputs[0].clone(), *inputs[1:])
        return None

    def replace_output(relu, _inputs, _output):
        return _RuleReLU.apply(pending[id(relu), threading.get_ident()].pop(), guided)

    handles = []
    try:
        for relu in _relu_modules(module):
            handles.append(relu.register_forward_pre_hook(keep_input))
            handles.append(relu.register_forward_hook(replace_output))
        yield module
    finally:
        for handle in handles:
            handle.remove()
        pending.clear()

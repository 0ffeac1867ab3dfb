"""The private copy is a consistent snapshot: the module's state at one instant, also while another thread trains it."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import skig
from skig.engine import _device, private_copy

N_FEATURES, HIDDEN = 16, 32


class ChangesWhileCopied(torch.nn.Module):
    """Its first ``n_changes`` deep copies run while its weight is updated (as by a trainer in another thread)."""

    def __init__(self, n_changes: int, restore: bool = False):
        super().__init__()
        self.first = torch.nn.Linear(3, 3)
        self.second = _Hook(self)
        self.n_changes, self.restore, self.copies = n_changes, restore, 0


class _Hook(torch.nn.Linear):
    def __init__(self, owner):
        super().__init__(3, 1)
        self.owner = [owner]  # in a list: not a submodule

    def __deepcopy__(self, memo):
        owner = self.owner[0]
        owner.copies += 1
        if owner.copies <= owner.n_changes:
            with torch.no_grad():
                owner.first.weight.add_(1.0)  # copied already: the copy now holds a value that is gone
                if owner.restore:
                    owner.first.weight.sub_(1.0)  # the same value again: only the version counter saw it
        clone = torch.nn.Linear(3, 1)
        clone.load_state_dict(self.state_dict())
        return clone


@pytest.mark.parametrize("restore", [False, True])
def test_a_copy_that_overlapped_a_change_is_taken_again(restore):
    module = ChangesWhileCopied(n_changes=2, restore=restore)
    snapshot = private_copy(module)
    assert module.copies == 3
    torch.testing.assert_close(snapshot.first.weight, module.first.weight, rtol=0, atol=0)


def test_a_module_changing_during_every_copy_is_refused():
    module = ChangesWhileCopied(n_changes=10**6)
    with pytest.raises(RuntimeError, match=r"ChangesWhileCopied changed while skig copied them.*lock"):
        private_copy(module)
    assert module.copies == _device.COPY_ATTEMPTS


def _net():
    return torch.nn.Sequential(
        torch.nn.Linear(N_FEATURES, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, 1),
    )


def test_explanations_while_another_thread_trains_match_a_state_the_weights_held():
    # 8 threads explain one row while a training loop steps the same model. Each explanation's prediction and base
    # value must be those of a state the weights held: after a step, or inside one (SGD without foreach updates the
    # parameters one after another, each in one operation: tensors this small are written by one thread).
    model = _net()
    X = np.random.RandomState(0).normal(size=(200, N_FEATURES)).astype(np.float32)
    explainer = skig.Explainer(model, baseline="zero", n_steps=4, rule="gausslegendre", output="raw").fit(X)
    params = list(model.parameters())
    optimizer = torch.optim.SGD(params, lr=1e-3, foreach=False)
    inputs, target = torch.as_tensor(X), torch.as_tensor(X[:, :1])
    lock, done = threading.Lock(), threading.Event()
    states = [[param.detach().clone() for param in params]]

    def train():
        for _ in range(5000):  # bounded, in case the explaining threads fail
            if done.is_set():
                return
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(model(inputs), target).backward()
            with lock:
                optimizer.step()
                states.append([param.detach().clone() for param in params])

    explanations = []

    def explain():
        for _ in range(15):
            explanations.append(explainer.explain(X[:1]))

    trainer = threading.Thread(target=train)
    workers = [threading.Thread(target=explain) for _ in range(8)]
    trainer.start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done.set()
    trainer.join()

    # The engine runs padded 16-row passes; the same passes on a module holding each state give its numbers exactly.
    oracle = _net()
    row, zero = torch.as_tensor(X[:1]).expand(16, -1), torch.zeros(16, N_FEATURES)

    def outputs(state):
        with torch.no_grad():
            for param, value in zip(oracle.parameters(), state, strict=True):
                param.copy_(value)
            return float(oracle(row)[0, 0]), float(oracle(zero)[0, 0])

    held = {outputs(states[-1])}
    for before, after in zip(states[:-1], states[1:], strict=True):
        held |= {outputs(after[:k] + before[k:]) for k in range(len(params))}
    seen = [(float(exp.predictions.iloc[0]), float(exp.base_values.iloc[0])) for exp in explanations]
    assert len(explanations) == 120 and len(states) > 2
    assert [pair for pair in seen if pair not in held] == []


class _Scaled(torch.nn.Module):
    """A net with what a plain copy must not share: tied weights, a hook, a list attribute and a buffer."""

    def __init__(self):
        super().__init__()
        self.first = torch.nn.Linear(4, 4)
        self.second = torch.nn.Linear(4, 4)
        self.second.weight = self.first.weight  # tied
        self.register_buffer("scale", torch.tensor([2.0]))
        self.names = ["a", "b"]
        self.calls = 0
        self.register_forward_hook(lambda module, args, out: None)

    def forward(self, x):
        return self.second(torch.relu(self.first(x))) * self.scale


def test_the_copy_is_what_deepcopy_gives_and_shares_nothing():
    import copy

    module = _Scaled()
    fast, slow = _device._copy_module(module, {}), copy.deepcopy(module)
    assert type(fast) is _Scaled and sorted(vars(fast)) == sorted(vars(slow))
    assert fast.second.weight is fast.first.weight  # still tied, to a new tensor
    x = torch.randn(3, 4)
    assert torch.equal(fast(x), module(x)) and torch.equal(slow(x), module(x))
    copies, originals = (*fast.parameters(), *fast.buffers()), (*module.parameters(), *module.buffers())
    for copied, original in zip(copies, originals, strict=True):
        assert copied is not original and copied.data_ptr() != original.data_ptr()
    assert fast.names == module.names and fast.names is not module.names
    assert fast._forward_hooks is not module._forward_hooks and len(fast._forward_hooks) == 1
    fast.register_forward_pre_hook(lambda module, args: None)  # hooks on the copy never reach the original
    assert len(module._forward_pre_hooks) == 0
    # A class with a copying hook of its own is copied by that hook.
    owner = ChangesWhileCopied(0)
    assert owner.copies == 0
    _device._copy_module(owner, {})
    assert owner.copies == 1

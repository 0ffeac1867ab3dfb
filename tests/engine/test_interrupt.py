"""Ctrl-C stops long runs of every method within a pass, and leaves the model and the explainer as they were."""

from __future__ import annotations

import copy
import functools
import signal
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

import skig
from skig import _plan
from skig.engine.exact import read_module

SETTINGS = {
    "exact IG, chain engine": dict(method="ig", rule="exact"),
    "exact IG, chain engine on 2 threads": dict(method="ig", rule="exact"),
    "exact IG, general engine": dict(method="ig", rule="exact"),
    "guided IG": dict(method="guided", n_steps=512),
    "expected IG": dict(method="expected", baseline="sample", n_baselines=64, n_samples=64, rule="exact"),
    "smoothgrad": dict(method="smoothgrad", n_samples=64, rule="gausslegendre", n_steps=256),
}


@pytest.fixture(autouse=True)
def _ctrl_c_raises():
    """Ctrl-C raises KeyboardInterrupt in these tests whatever started the process: one started in the background by a
    non-interactive shell (as a CI job may be) inherits SIGINT ignored, and then neither the signal nor
    ``interrupt_main`` reaches Python (skig leaves a handler it did not install alone)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 1))


@pytest.mark.parametrize("name", list(SETTINGS))
@pytest.mark.parametrize("how", ["SIGINT", "interrupt_main"])
def test_ctrl_c_stops_the_run_promptly_and_changes_nothing(name, how, monkeypatch):
    if name == "exact IG, general engine":
        monkeypatch.setattr(_plan, "read_module", functools.partial(read_module, engine="general"))
    threads = torch.get_num_threads()
    torch.set_num_threads(2 if name.endswith("2 threads") else 1)  # 2: chunks on worker threads
    try:
        run_and_interrupt(name, how)
    finally:
        torch.set_num_threads(threads)


def run_and_interrupt(name, how):
    net = model()
    before = copy.deepcopy(net.state_dict())
    rows = np.random.default_rng(0).normal(size=(20_000, 12)).astype(np.float32) * 3
    explainer = skig.Explainer(net, random_state=0, **SETTINGS[name]).fit(rows[:500])
    reference = explainer.explain(rows[:20])

    def interrupt():
        if how == "SIGINT":
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        else:
            import _thread

            _thread.interrupt_main()

    timer = threading.Timer(0.5, interrupt)
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            explainer.explain(rows)  # would take far longer than the bound below
        elapsed = time.perf_counter() - start
    finally:
        timer.cancel()
    assert elapsed < 0.5 + 5.0, elapsed  # within a pass or a chunk (generous: shared CI machines)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert net.training and all(p.requires_grad for p in net.parameters())
    assert all(torch.equal(before[key], value) for key, value in net.state_dict().items())
    again = explainer.explain(rows[:20])
    np.testing.assert_array_equal(again.values.to_numpy(), reference.values.to_numpy())
    np.testing.assert_array_equal(again.n_steps.to_numpy(), reference.n_steps.to_numpy())


def test_a_second_ctrl_c_interrupts_at_once_and_a_users_handler_is_left_alone():
    from skig.engine._interrupt import check_interrupt, interruptible

    with pytest.raises(KeyboardInterrupt), interruptible():
        signal.raise_signal(signal.SIGINT)  # noted, not raised
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)  # the second one raises where it lands
        check_interrupt()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    seen = []
    previous = signal.signal(signal.SIGINT, lambda *args: seen.append(args[0]))
    try:
        with interruptible():
            signal.raise_signal(signal.SIGINT)
            check_interrupt()  # the user's handler ran; nothing to raise
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == [signal.SIGINT]

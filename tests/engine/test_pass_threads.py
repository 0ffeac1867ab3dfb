"""Passes on skig's own threads (skig/engine/_threads.py): the same numbers at any thread count, torch's count put
back, one torch thread per pass, errors and Ctrl-C stop the threads."""

from __future__ import annotations

import multiprocessing
import threading
import time

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError

import skig
from skig.engine._threads import operator_threads, run_passes, skig_threads, torch_threads


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def _relu_net(n_features: int = 5, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(n_features, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 1),
    )


SETTINGS = {
    "ig-gausslegendre": dict(rule="gausslegendre", n_steps=24),
    "ig-adaptive": dict(rule="gausslegendre", n_steps="auto", max_steps=64),
    "ig-exact": dict(rule="exact"),
    "smoothgrad": dict(method="smoothgrad", n_samples=3, n_steps=8, rule="gausslegendre", random_state=0),
    "expected": dict(method="expected", baseline="sample", n_baselines=8, n_samples=16, random_state=0),
    "guided": dict(method="guided", n_steps=8),
    "guided_backprop": dict(gradient_rule="guided_backprop", n_steps=8, rule="gausslegendre"),
}


@pytest.mark.filterwarnings("ignore:.*(still miss tol|stays large).*:UserWarning")  # few steps, on purpose
@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_the_numbers_do_not_depend_on_the_thread_count(name, restore_threads):
    X = np.random.RandomState(1).normal(size=(70, 5)).astype(np.float32)
    # batch_size small enough for many passes, so that several threads share them.
    explainer = skig.Explainer(_relu_net(), output="raw", batch_size=96, **SETTINGS[name]).fit(X)
    results = []
    for n_threads in (1, 2, 3):
        exp = explainer.set_params(n_threads=n_threads).explain(X)
        results.append((exp.values.to_numpy(), exp.n_steps.to_numpy()))
        assert torch.get_num_threads() == restore_threads
    for values, steps in results[1:]:
        np.testing.assert_array_equal(values, results[0][0])
        np.testing.assert_array_equal(steps, results[0][1])


class _Recording(torch.nn.Module):
    """A tanh net that notes which thread ran each forward pass with how many torch threads, and can raise.

    What it notes and when it raises are class attributes: explanations run on a private (deep) copy of the model.
    Smooth, so no chain of affine layers and hinges: its passes call its forward through autograd (a ReLU chain's
    passes skip the module, see skig/engine/_chain_passes.py; they run on the same threads, and
    test_the_numbers_do_not_depend_on_the_thread_count covers them).
    """

    log: list[tuple[int, int]] = []
    fail_after: int | None = None
    error: type[BaseException] = RuntimeError
    lock = threading.Lock()

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(5, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))

    def forward(self, x):
        cls = type(self)
        with cls.lock:
            cls.log.append((threading.get_ident(), torch.get_num_threads()))
            calls = len(cls.log)
        if cls.fail_after is not None and x.requires_grad and calls > cls.fail_after:
            raise cls.error("stop here")
        return self.net(x)


@pytest.fixture
def recording():
    _Recording.log = []
    yield _Recording
    _Recording.log, _Recording.fail_after, _Recording.error = [], None, RuntimeError


def test_passes_run_on_several_threads_with_one_torch_thread_each(recording, restore_threads):
    X = np.random.RandomState(2).normal(size=(200, 5)).astype(np.float32)
    explainer = skig.Explainer(_Recording(), rule="gausslegendre", n_steps=32, batch_size=256, n_threads=3).fit(X)
    torch.set_num_threads(2)
    recording.log = []
    explainer.explain(X)
    assert len({ident for ident, _ in recording.log}) >= 2
    assert {count for _, count in recording.log} == {1}
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize("n_threads", [1, 3])
def test_torch_thread_count_is_put_back_when_a_pass_raises(error, n_threads, recording, restore_threads):
    X = np.random.RandomState(3).normal(size=(120, 5)).astype(np.float32)
    explainer = skig.Explainer(_Recording(), rule="gausslegendre", n_steps=32, batch_size=256, n_threads=n_threads)
    explainer.fit(X)
    torch.set_num_threads(2)
    recording.log, recording.fail_after, recording.error = [], 5, error
    with pytest.raises(error, match="stop here"):
        explainer.explain(X)
    assert torch.get_num_threads() == 2


def test_torch_threads_sets_and_restores(restore_threads):
    torch.set_num_threads(2)
    with torch_threads(1) as threads:
        assert threads == 1 and skig_threads() == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with torch_threads(None) as threads:
        assert threads == 2
    with pytest.raises(KeyboardInterrupt), torch_threads(1):
        raise KeyboardInterrupt
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_run_passes_yields_in_order_and_raises_the_passes_error(threads, restore_threads):
    assert list(run_passes(lambda item: item * item, range(40), threads)) == [item * item for item in range(40)]

    def failing(item):
        if item == 17:
            raise ValueError("pass 17 failed")
        return item

    with pytest.raises(ValueError, match="pass 17 failed"):
        list(run_passes(failing, range(40), threads))
    assert torch.get_num_threads() == restore_threads


def test_grad_mode_inside_passes(restore_threads):
    with torch.no_grad():
        modes = list(run_passes(lambda _: torch.is_grad_enabled(), range(6), 2))
    assert modes == [True] * 6
    assert list(run_passes(lambda _: torch.is_grad_enabled(), range(6), 2, grad=False)) == [False] * 6


@pytest.mark.parametrize("value", [0, -1, 2.5, "two", True])
def test_bad_n_threads_is_named(value):
    X = np.random.RandomState(4).normal(size=(20, 5)).astype(np.float32)
    explainer = skig.Explainer(_relu_net(), n_threads=value)
    with pytest.raises((InvalidParameterError, TypeError), match=r"n_threads"):
        explainer.fit(X)
    fitted = skig.Explainer(_relu_net()).fit(X).set_params(n_threads=value)
    with pytest.raises((InvalidParameterError, TypeError), match=r"n_threads"):  # held to fit's checks
        fitted.explain(X)


def _busy(seconds: float = 0.002) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        time.sleep(0.0002)


@pytest.mark.parametrize("threads", [2, 3])
def test_passes_run_on_at_most_the_threads_asked_for_and_the_threads_are_kept(threads, restore_threads):
    lock, running, most, seen = threading.Lock(), [0], [0], []

    def work(item):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            seen[-1].add(threading.get_ident())
        _busy()
        with lock:
            running[0] -= 1
        return item

    for _ in range(2):
        seen.append(set())
        assert list(run_passes(work, range(30), threads)) == list(range(30))
    assert most[0] <= threads
    assert len(seen[0]) == threads  # the calling thread and the pool's share the passes
    # The pool outlives the call: a new thread per call paid fresh page faults for every pass buffer.
    assert seen[1] == seen[0]


def test_a_pass_may_run_passes_of_its_own(restore_threads):
    def outer(item):
        return sum(run_passes(lambda inner: inner * item, range(5), 2))

    assert list(run_passes(outer, range(6), 2)) == [10 * item for item in range(6)]


def test_passes_run_in_a_forked_child(restore_threads):
    list(run_passes(lambda item: item, range(8), 2))  # this process's pool is started
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_passes, args=(queue,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0, "the forked child's passes hung or failed"
    assert queue.get(timeout=5) == [item * item for item in range(8)]


def _child_passes(queue) -> None:
    queue.put(list(run_passes(lambda item: item * item, range(8), 2)))


def test_the_calling_thread_computes_on_one_torch_thread_inside_torch_threads(restore_threads):
    torch.set_num_threads(2)
    with torch_threads(3) as threads:
        assert threads == 3 and skig_threads() == 3
        assert torch.get_num_threads() == 1  # no OpenMP team left spinning on the passes' cores
        with operator_threads() as operators:
            assert operators == 3 and torch.get_num_threads() == 3
        assert torch.get_num_threads() == 1
        with torch_threads(None) as inner:  # nested: the outer count, not the calling thread's one
            assert inner == 3
    assert torch.get_num_threads() == 2 and skig_threads() == 2

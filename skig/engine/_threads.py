"""CPU threads for the passes: skig's own threads, one torch thread each, so a busy machine does not stall them.

torch parallelises each operator over its threads, and every operator waits for the slowest of them: when another
process shares the cores, a descheduled thread stalls every small operator of skig's cache-sized passes (Gauss-Legendre
IG ran 9.7x slower with 2 torch threads than with 1 beside one busy process, on 2 cores). Passes never interact, so
they run whole on separate threads instead, each with one torch thread; a late thread delays only its own pass.
Each pass does the same arithmetic whichever thread runs it and its results are added in pass order, so the numbers
do not depend on the thread count.

The threads outlive a call: each thread that asks for passes keeps its own pool (:func:`_pool`). A new thread's
allocator arena starts empty, so a pool started per call paid fresh page faults for every buffer of its passes
(4,500 per call, a third of the call's time, on bench_ig's narrow net at 2 threads; none with the pool kept).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import TypeVar

import torch

from ._interrupt import check_interrupt, interrupted

Item = TypeVar("Item")
Result = TypeVar("Result")

# Passes queued ahead of the one whose result is added next, per thread: enough to keep every thread busy while the
# results are added in order, few enough that waiting results hold little memory.
_AHEAD_PER_THREAD = 2


# skig's thread count in each thread that set one (torch_threads); elsewhere torch's own count.
_counts = threading.local()


def skig_threads() -> int:
    """Threads skig's CPU work in the calling thread uses: the count :func:`torch_threads` set, else torch's."""
    return getattr(_counts, "threads", None) or torch.get_num_threads()


@contextmanager
def torch_threads(n_threads: int | None) -> Iterator[int]:
    """Run the block with skig's CPU work on ``n_threads`` threads (``None``: torch's current count) and the
    calling thread's own torch operators on one; put torch's count back afterwards, also when the block raises or is
    interrupted.

    The count is how many threads skig's CPU work uses (:func:`skig_threads`): passes on as many threads of their
    own (:func:`run_passes`), exact integration's chunks on as many as well, and where work has no passes to share
    out, torch's operators on as many (:func:`operator_threads`). Everything else the calling thread computes (inputs,
    sums, checks) runs on one torch thread: with GNU OpenMP a thread that ran an operator on several threads leaves
    their team spinning for milliseconds, waiting for the next operator, on the cores the passes need (on bench_ig's
    narrow net at 2 threads the passes took 12.6-14.2 ms that way, 10.6 ms with the team asleep).
    """
    before, outer = torch.get_num_threads(), getattr(_counts, "threads", None)
    threads = skig_threads() if n_threads is None else int(n_threads)
    _counts.threads = threads
    try:
        if before != 1:
            torch.set_num_threads(1)
        yield threads
    finally:
        _counts.threads = outer
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


@contextmanager
def operator_threads() -> Iterator[int]:
    """Within :func:`torch_threads`, run the block's torch operators on skig's thread count: for work the calling
    thread does alone, with no passes to share out (the general exact engine, interaction matrices)."""
    threads = skig_threads()
    before = torch.get_num_threads()
    try:
        if threads != before:
            torch.set_num_threads(threads)
        yield threads
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def pass_threads(device: torch.device) -> int:
    """Threads the passes on ``device`` run on: skig's count on a CPU (see :func:`torch_threads`), else one."""
    return skig_threads() if device.type == "cpu" else 1


_pools = threading.local()


def _pool(threads: int) -> ThreadPoolExecutor:
    """The pass threads of the calling thread: ``threads`` of them, started once and kept (again when the count
    changes).

    One pool per calling thread, so that explanations run from several threads (a Dask worker's) never wait for each
    other's passes, and a pass that asks for passes of its own gets a pool of its own. A pool is started again in a
    process forked from the one that started it (its threads are not in the child), and its threads end when the
    calling thread ends (the pool is then dropped).
    """
    key = (os.getpid(), threads)
    pool, started = getattr(_pools, "pool", None), getattr(_pools, "key", None)
    if pool is None or started != key:
        if pool is not None and started[0] == key[0]:
            pool.shutdown(wait=False)
        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="skig-pass")
        _pools.pool, _pools.key = pool, key
    return pool


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)


def run_passes(
    work: Callable[[Item], Result], items: Iterable[Item], threads: int, *, grad: bool = True
) -> Iterator[Result]:
    """``work(item)`` for each item, yielded in the items' order; on ``threads`` threads with one torch thread each.

    With one thread (or one item) everything runs here, with one torch thread where ``threads`` > 1 asked for
    several. Ctrl-C (see :mod:`._interrupt`) stops the threads before their next pass; an error in a pass is raised
    here, and passes not yet started are dropped (those running on other threads end with their pass).
    """
    items = list(items)
    mode = torch.enable_grad if grad else torch.no_grad
    if threads <= 1 or len(items) <= 1:
        with _one_torch_thread() if threads > 1 else _nothing(), mode():
            for item in items:
                check_interrupt()
                yield work(item)
        return

    n_items = len(items)
    workers = min(threads, n_items) - 1  # the pool's threads; the calling thread runs passes as well
    results: list = [None] * n_items
    finished = [threading.Event() for _ in range(n_items)]
    taken = itertools.count()  # the next pass a thread takes (next() of a count is atomic)
    # Passes taken and not yet yielded: a thread takes a pass only with a slot free.
    slots = threading.Semaphore(_AHEAD_PER_THREAD * (workers + 1))
    stop = threading.Event()

    def run(index: int) -> bool:
        """Run pass ``index`` and note its result or its error; whether it ran without error."""
        try:
            results[index] = (True, work(items[index]))
        except BaseException as error:
            results[index] = (False, error)
            stop.set()
        finished[index].set()
        return results[index][0]

    def loop() -> None:
        # Torch's thread count (OpenMP's) and its grad mode belong to the thread that runs the pass.
        torch.set_num_threads(1)
        with mode():
            while True:
                slots.acquire()
                if stop.is_set() or interrupted():  # a pass raised, or Ctrl-C: the others do not start
                    return
                index = next(taken)
                if index >= n_items or not run(index):
                    return

    loops = [_pool(workers).submit(loop) for _ in range(workers)]
    try:
        with _one_torch_thread():
            index = 0
            while index < n_items:
                if not finished[index].is_set() and not stop.is_set() and slots.acquire(blocking=False):
                    # The next result is not in yet: run a pass here meanwhile (the calling thread's core would
                    # otherwise wait, and waking it for each result costs more than the pass it could run).
                    mine = next(taken)
                    if mine < n_items:
                        with mode():
                            run(mine)
                        continue
                    slots.release()
                # Every pass before one that raised was taken and ends, so this wait returns.
                finished[index].wait()
                ok, result = results[index]
                results[index] = None
                if not ok:
                    raise result
                check_interrupt()
                slots.release()
                index += 1
                yield result
    finally:
        # On an error, an interrupt or an abandoned generator: passes not taken are dropped, running ones end.
        stop.set()
        for _ in range(workers):
            slots.release()
        # A loop still queued never started (its pool's threads were busy: passes asked for from inside a pass on
        # the same thread's pool); the calling thread ran its share.
        wait([loop_ for loop_ in loops if not loop_.cancel()])


@contextmanager
def _nothing() -> Iterator[None]:
    yield

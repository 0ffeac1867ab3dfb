"""CPU threads for the passes: skig's own threads, one torch thread each, so a busy machine does not stall them.

torch parallelises each operator over its threads, and every operator waits for the slowest of them: when another
process shares the cores, a descheduled thread stalls every small operator of skig's cache-sized passes (Gauss-Legendre
IG ran 9.7x slower with 2 torch threads than with 1 beside one busy process, on 2 cores). Passes never interact, so
they run whole on separate threads instead, each with one torch thread; a late thread delays only its own pass.
Each pass does the same arithmetic whichever thread runs it and its results are added in pass order, so the numbers
do not depend on the thread count.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import torch

from ._interrupt import check_interrupt, interrupted

Item = TypeVar("Item")
Result = TypeVar("Result")

# Passes queued ahead of the one whose result is added next, per thread: enough to keep every thread busy while the
# results are added in order, few enough that waiting results hold little memory.
_AHEAD_PER_THREAD = 2


@contextmanager
def torch_threads(n_threads: int | None) -> Iterator[int]:
    """Run the block with ``n_threads`` torch threads in this thread (``None``: the current count), and put the
    previous count back afterwards, also when the block raises or is interrupted.

    The count is how many threads skig's CPU work uses: passes on as many threads of their own
    (:func:`run_passes`), exact integration's chunks on as many as well.
    """
    before = torch.get_num_threads()
    threads = before if n_threads is None else int(n_threads)
    try:
        if threads != before:
            torch.set_num_threads(threads)
        yield threads
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def pass_threads(device: torch.device) -> int:
    """Threads the passes on ``device`` run on: torch's count on a CPU (see :func:`torch_threads`), else one."""
    return torch.get_num_threads() if device.type == "cpu" else 1


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

    failed = threading.Event()

    def run(item: Item):
        if failed.is_set() or interrupted():  # a pass raised: the others do not start
            return None
        # Torch's thread count (OpenMP's) and its grad mode belong to the thread that runs the pass.
        torch.set_num_threads(1)
        try:
            with mode():
                return work(item)
        except BaseException:
            failed.set()
            raise

    pool = ThreadPoolExecutor(max_workers=min(threads, len(items)), thread_name_prefix="skig-pass")
    waiting: deque[Future] = deque()
    queue = iter(items)
    try:
        with _one_torch_thread():  # the pool's threads set theirs; this keeps the caller's passes to one as well
            for item in queue:
                waiting.append(pool.submit(run, item))
                if len(waiting) >= _AHEAD_PER_THREAD * threads:
                    break
            while waiting:
                result = waiting.popleft().result()
                check_interrupt()
                for item in queue:
                    waiting.append(pool.submit(run, item))
                    break
                yield result
    finally:
        # On an error, an interrupt or an abandoned generator: queued passes are dropped, running ones end.
        pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _nothing() -> Iterator[None]:
    yield

"""Torch threads inside a distributed task: the task's share of its process's cores, restored afterwards.

An engine runs several tasks on one machine at once (Spark's task slots, a Dask worker's threads); a task whose torch
uses every core competes with the others and each slows many times over. The engine says the share
(:meth:`Backend.task_threads`); :func:`task_threads` applies it around the task.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

_lock = threading.Lock()
# Tasks of this process inside task_threads now, and torch's thread count before the first of them entered.
_running = 0
_outer = 0


@contextmanager
def task_threads(share: Callable[[int], int]) -> Iterator[int]:
    """Run the block with ``share(outer)`` torch threads, ``outer`` being the process's count outside any task.

    Tasks that run at once in one process (a Dask worker's threads) all see the same ``outer``: the count before the
    first of them entered, not what another task has set meanwhile. Each puts ``outer`` back when it ends, also when
    it raises.
    """
    global _running, _outer
    with _lock:
        if _running == 0:
            _outer = torch.get_num_threads()
        _running += 1
        outer = _outer
    threads = max(1, int(share(outer)))
    try:
        # Torch takes a thread's count on its first use there (at::lazy_init_num_threads: the count some thread set
        # last), also after a set_num_threads in that thread: a fresh thread entering while another task runs would
        # lose its share at its first operator to whatever count another thread had set meanwhile. Reading the count
        # first makes that first use now.
        torch.get_num_threads()
        torch.set_num_threads(threads)
        yield threads
    finally:
        # Torch's count is per thread under OpenMP (every thread that ran a task gets ``outer`` back) and
        # process-wide under MKL, where tasks still running see ``outer`` from here on. Put back before the task
        # leaves, under the lock: a thread that first uses torch takes the count some thread set last, so a task
        # entering once this one has left must find ``outer`` there, not this task's share.
        with _lock:
            torch.set_num_threads(outer)
            _running -= 1

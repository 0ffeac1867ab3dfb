"""glibc's allocator inside a distributed task: large blocks from the heap while skig's tasks run, as glibc's default.

glibc raises its mmap threshold as a process frees large blocks (its dynamic threshold), so a loop that allocates and
frees the same large tensors soon serves them from the heap. Setting any of its ``MALLOC_*_`` variables (or the
matching ``GLIBC_TUNABLES``) fixes the thresholds instead; Dask's nanny starts every worker with
``MALLOC_TRIM_THRESHOLD_=65536`` (``distributed.nanny.pre-spawn-environ``), and there every block of 128 KiB or more
is mapped and unmapped again, paying fresh page faults on every pass: the credit example's partitions took 1.7-2.4x
the CPU time they take without the variable. :func:`task_allocator` gives a task the thresholds glibc's dynamic rule
would reach (blocks up to 32 MiB from the heap, 64 MiB of free heap kept) while any skig task runs in the process,
then puts back the thresholds the environment set and hands free memory back to the system (``malloc_trim``), which
is what the variable is there for. Elsewhere (no such variable, not glibc) it does nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

#: ``mallopt`` parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: glibc's defaults for both thresholds (``DEFAULT_MMAP_THRESHOLD_MIN``, ``DEFAULT_TRIM_THRESHOLD``).
GLIBC_DEFAULT = 128 * 1024
#: During skig's tasks: the largest mmap threshold glibc accepts on 64-bit (``DEFAULT_MMAP_THRESHOLD_MAX``), the
#: highest its dynamic rule goes, and twice that as trim threshold, as that rule sets it.
TASK_MMAP_THRESHOLD = 32 * 1024 * 1024
TASK_TRIM_THRESHOLD = 2 * TASK_MMAP_THRESHOLD

# Environment variables (and their GLIBC_TUNABLES names) that fix glibc's thresholds when the process starts.
_VARIABLES = {
    "MALLOC_TRIM_THRESHOLD_": "glibc.malloc.trim_threshold",
    "MALLOC_MMAP_THRESHOLD_": "glibc.malloc.mmap_threshold",
    "MALLOC_TOP_PAD_": "glibc.malloc.top_pad",
    "MALLOC_MMAP_MAX_": "glibc.malloc.mmap_max",
}

_lock = threading.Lock()
# skig tasks of this process inside task_allocator now, and the thresholds to put back (None: nothing to change).
_running = 0
_restore: tuple[int, int] | None = None


def fixed_thresholds(environ: Mapping[str, str]) -> tuple[int, int] | None:
    """The ``(mmap, trim)`` thresholds an environment fixed glibc's allocator at, or None.

    None when it fixed nothing (glibc's dynamic threshold is on: nothing to do), when a value does not parse, or when
    the mmap threshold is already at least :data:`TASK_MMAP_THRESHOLD`. A value in ``GLIBC_TUNABLES`` counts as its
    ``MALLOC_*_`` variable does.
    """
    tunables = {}
    for item in environ.get("GLIBC_TUNABLES", "").split(":"):
        name, _, value = item.partition("=")
        tunables[name.strip()] = value
    values = {}
    for variable, tunable in _VARIABLES.items():
        value = tunables.get(tunable, environ.get(variable))
        if value is None:
            continue
        try:
            values[variable] = int(value, 0)
        except ValueError:
            return None
        if values[variable] < 0:
            return None
    if not values:
        return None
    mmap = values.get("MALLOC_MMAP_THRESHOLD_", GLIBC_DEFAULT)
    if mmap >= TASK_MMAP_THRESHOLD:
        return None
    return mmap, values.get("MALLOC_TRIM_THRESHOLD_", GLIBC_DEFAULT)


def _libc():
    """glibc's shared library, or None on another C library or system."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.malloc_trim.argtypes = (ctypes.c_size_t,)
    except (OSError, AttributeError):
        return None
    return libc


def _set(libc, mmap: int, trim: int) -> None:
    libc.mallopt(M_MMAP_THRESHOLD, mmap)
    libc.mallopt(M_TRIM_THRESHOLD, trim)


@contextmanager
def task_allocator() -> Iterator[None]:
    """Run the block with glibc's large-block thresholds raised, where the environment fixed them low.

    While any task of the process is inside (a Dask worker's threads), blocks up to 32 MiB come from the heap and
    64 MiB of free heap is kept; the first task in raises them, the last one out puts back what the environment set
    (:func:`fixed_thresholds`) and calls ``malloc_trim(0)``, also when it raises. Other tasks running in the process
    meanwhile get the same thresholds (``mallopt`` is process-wide). A threshold set by other code with ``mallopt``
    after the process started cannot be read back: skig puts back the environment's. Does nothing without such an
    environment, or off glibc.
    """
    global _running, _restore
    with _lock:
        if _running == 0:
            _restore = fixed_thresholds(os.environ)
            libc = None if _restore is None else _libc()
            if libc is None:
                _restore = None
            else:
                _set(libc, TASK_MMAP_THRESHOLD, max(TASK_TRIM_THRESHOLD, _restore[1]))
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0 and _restore is not None:
                libc = _libc()
                _set(libc, *_restore)
                libc.malloc_trim(0)
                _restore = None

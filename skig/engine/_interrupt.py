"""Stopping long work on Ctrl-C: the interrupt is noted when it arrives and acted on between passes.

Python raises KeyboardInterrupt in the main thread at whatever bytecode runs when SIGINT arrives. Inside a finaliser
or a weakref callback it is printed and lost (the run goes on to the end), and raised while a compiled loop returns
it surfaces as a SystemError. While an explanation runs, SIGINT only sets a flag (a second one interrupts at once, as
usual); every pass loop of the engine, and every worker thread between its chunks, checks the flag and raises
KeyboardInterrupt there, so the run stops within one pass and the threads with it. The previous handler is
restored afterwards, and a flag set after the last check is raised when the work ends.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps

# The flag of the interruptible run in progress (one at a time: only the main thread installs handlers).
_flag: threading.Event | None = None


@contextmanager
def interruptible() -> Iterator[None]:
    """Within the block, SIGINT sets a flag that :func:`check_interrupt` raises as KeyboardInterrupt.

    Only where Python's default handler is installed and in the main thread (a handler the user set is left alone);
    nested blocks share the outer one's flag.
    """
    global _flag
    if (
        _flag is not None
        or threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    flag = threading.Event()

    def noted(signum, frame):
        if flag.is_set():  # a second Ctrl-C: the user insists
            raise KeyboardInterrupt
        flag.set()

    signal.signal(signal.SIGINT, noted)
    _flag = flag
    try:
        yield
    finally:
        _flag = None
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if flag.is_set():
        raise KeyboardInterrupt


def check_interrupt() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed during the current interruptible run."""
    flag = _flag
    if flag is not None and flag.is_set():
        raise KeyboardInterrupt


def interrupted() -> bool:
    """Whether Ctrl-C was pressed during the current interruptible run (for worker threads, which stop quietly)."""
    flag = _flag
    return flag is not None and flag.is_set()


def interruptible_call(function: Callable) -> Callable:
    """``function`` run inside :func:`interruptible`."""

    @wraps(function)
    def run(*args, **kwargs):
        with interruptible():
            return function(*args, **kwargs)

    return run

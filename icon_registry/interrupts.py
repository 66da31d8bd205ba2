"""Steps that a Ctrl-C or SIGTERM must not cut in half, and the children they start."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

_DEFERRED = (signal.SIGINT, signal.SIGTERM)
_MASKABLE = hasattr(signal, "pthread_sigmask")


@contextlib.contextmanager
def signals_deferred():
    """SIGINT and SIGTERM that arrive inside the block reach the handlers that were in place as
    soon as it ends. Starting a worker process is such a step: cut between its launch and the
    hand-over of its start-up data, the child outlives the parent's clean-up or prints a
    traceback of its own. A process started inside the block begins with SIGINT blocked (a
    terminal's Ctrl-C reaches the whole process group), until ``ignore_interrupts`` in its
    set-up. Only the main thread receives Python's signals; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    previous = {}
    for signum in _DEFERRED:
        if signal.getsignal(signum) is not None:  # None: a handler Python did not install, left alone
            previous[signum] = signal.signal(signum, lambda signum, frame: arrived.append(signum))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if _MASKABLE else None
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for signum in dict.fromkeys(arrived):
            signal.raise_signal(signum)


@contextlib.contextmanager
def signals_end_workers():
    """While a process pool works: SIGINT and SIGTERM end its workers at once (the pool breaks, and
    its futures fail with BrokenProcessPool) and reach the handlers that were in place when the
    block ends, after the pool has shut down. Raised where it lands instead, an interrupt can leave
    one of the pool's locks held: ``as_completed`` takes every future's lock in a loop, and the
    pool's manager thread then waits on it forever. A second signal goes to those handlers at once.
    Yields the list of signals that arrived (empty until one does)."""
    arrived: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield arrived
        return
    previous = {}

    def end_workers(signum, frame):
        if signum in arrived:
            signal.signal(signum, previous[signum])
            signal.raise_signal(signum)
            return
        arrived.append(signum)
        end_child_processes()

    for signum in _DEFERRED:
        if signal.getsignal(signum) is not None:
            previous[signum] = signal.signal(signum, end_workers)
    try:
        yield arrived
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(arrived):
            signal.raise_signal(signum)


def end_child_processes() -> None:
    """SIGTERM to every process that multiprocessing started (a pool's workers), if it was imported."""
    active_children = getattr(sys.modules.get("multiprocessing"), "active_children", None)
    if active_children is None:  # not imported, or being imported right now
        return
    for child in active_children():
        try:
            child.terminate()
        except (OSError, AttributeError):  # pragma: no cover - already gone
            pass


def ignore_interrupts() -> None:
    """In a worker process: Ctrl-C is its parent's to handle (it reports once and ends its
    workers); an interrupt that arrived while the worker started is dropped with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _MASKABLE:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

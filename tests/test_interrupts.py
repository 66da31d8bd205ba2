"""signals_deferred: a signal inside the block reaches the handler in place once the block
ends, and a process started inside it begins with SIGINT blocked. signals_end_workers: a signal
inside the block ends the child processes at once and reaches the handler when the block ends;
a second one reaches it at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import multiprocessing
import time

from icon_registry.interrupts import signals_deferred, signals_end_workers


class _Caught(Exception):
    pass


def _raise_caught(signum, frame):
    raise _Caught(signum)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_inside_the_block_reaches_the_handler_when_the_block_ends(signum):
    previous = signal.signal(signum, _raise_caught)
    steps = []
    try:
        with pytest.raises(_Caught):
            with signals_deferred():
                # to this (the main) thread: sent to the process, a SIGINT the main thread blocks goes to
                # any other thread (torch's pool), whose handler may run after the block has ended
                signal.pthread_kill(threading.get_ident(), signum)
                steps.append("the block went on")
            steps.append("after the block")
        assert steps == ["the block went on"]
        assert signal.getsignal(signum) is _raise_caught
    finally:
        signal.signal(signum, previous)


def test_without_a_signal_the_handlers_are_restored_and_nothing_is_raised():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with signals_deferred():
        pass
    assert {s: signal.getsignal(s) for s in before} == before


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="no signal masks on this platform")
def test_a_signal_mask_the_caller_set_is_kept():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        with signals_deferred():
            pass
        assert signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, set())
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _blocked_signals(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigBlk:"):
            return int(line.split()[1], 16)
    raise AssertionError("no SigBlk line")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads signal masks from /proc (Linux)")
def test_a_child_started_inside_the_block_has_sigint_blocked_until_it_ignores_it():
    child_code = ("import sys; from icon_registry.interrupts import ignore_interrupts; sys.stdin.readline(); "
                  "ignore_interrupts(); print(1, flush=True); sys.stdin.readline()")
    with signals_deferred():
        child = subprocess.Popen([sys.executable, "-c", child_code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True)
    try:
        sigint = 1 << (signal.SIGINT - 1)
        assert _blocked_signals(child.pid) & sigint
        assert not _blocked_signals(os.getpid()) & sigint
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline() == "1\n"
        assert not _blocked_signals(child.pid) & sigint
        child.send_signal(signal.SIGINT)  # ignored now: the child goes on and ends normally
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.wait(timeout=30) == 0
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_workers_run_ends_them_and_reaches_the_handler_when_the_block_ends(signum):
    previous = signal.signal(signum, _raise_caught)
    worker = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(60,))
    steps = []
    try:
        with pytest.raises(_Caught):
            with signals_end_workers() as arrived:
                worker.start()
                signal.pthread_kill(threading.get_ident(), signum)
                worker.join(timeout=30)
                steps.append((arrived[:], worker.exitcode))
        assert steps == [([signum], -signal.SIGTERM)]
        assert signal.getsignal(signum) is _raise_caught
    finally:
        signal.signal(signum, previous)
        if worker.is_alive():
            worker.kill()


def test_a_second_signal_while_workers_run_reaches_the_handler_at_once():
    previous = signal.signal(signal.SIGINT, _raise_caught)
    steps = []
    try:
        with pytest.raises(_Caught):
            with signals_end_workers():
                signal.pthread_kill(threading.get_ident(), signal.SIGINT)
                steps.append("first")
                signal.pthread_kill(threading.get_ident(), signal.SIGINT)
                steps.append("second")
        assert steps == ["first"]
    finally:
        signal.signal(signal.SIGINT, previous)

"""Ctrl-C and SIGTERM on the real console script: exit 130 / 143 with one line at any moment
(imports included, and inside the process pool's own lock handling), and no pool worker of
`icon verify --all --jobs 2` left running."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import _base as futures_base
from pathlib import Path

import pytest

from icon_registry import cli

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).parent / "icon"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "icon_registry"]


def _start(tmp_path, *argv):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ICON_CATALOG", None)
    return subprocess.Popen([*COMMAND, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=tmp_path)


def _verify_all(tmp_path):
    return _start(tmp_path, "verify", "--all", "--jobs", "2", "--no-cache", "--cache-dir", str(tmp_path / "cache"))


def _before_our_code(process, err) -> bool:
    """The signal landed while the interpreter itself was starting (its site module) or while the
    console script imported icon_registry.cli, before ``run()`` installs the handler: ~30-60 ms
    that no code of ours can cover."""
    return process.returncode == -signal.SIGINT and not err or "init_import_site" in err or (
        "from icon_registry.cli import run" in err)


# Through the imports (pydantic, torch: the first ~0.6 s) into the work. A delay that lands
# before our first line runs (a loaded machine starts Python slowly) is retried a little later.
@pytest.mark.parametrize("delay", [0.05, 0.1, 0.2, 0.35, 0.6, 1.0, 2.0])
def test_ctrl_c_at_any_moment_exits_130_with_one_line(tmp_path, delay):
    for attempt in range(20):
        process = _verify_all(tmp_path)
        time.sleep(delay + 0.02 * attempt)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
        if not _before_our_code(process, err):
            break
    assert (process.returncode, err) == (130, "icon: interrupted\n"), err


def test_an_error_in_the_clean_up_an_interrupt_cut_short_still_ends_as_interrupted(monkeypatch, capsys):
    # A Ctrl-C inside ProcessPoolExecutor.submit, between creating its manager thread and starting
    # it, makes the pool's __exit__ raise "cannot join thread before it is started".
    def command(args):
        try:
            cli._unwind(signal.SIGINT, sys._getframe())
        finally:
            raise RuntimeError("cannot join thread before it is started")

    parser = argparse.ArgumentParser(prog="icon verify")
    parser.set_defaults(func=command, command_name="icon verify")
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    assert cli.main([]) == 130
    assert capsys.readouterr().err == "icon: interrupted\n"


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = task / "children"
        if children.exists():
            found |= {int(c) for c in children.read_text().split()}
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc (Linux)")
@pytest.mark.parametrize("signum, code, line", [(signal.SIGTERM, 143, "icon: terminated\n"),
                                                (signal.SIGINT, 130, "icon: interrupted\n")], ids=["SIGTERM", "SIGINT"])
def test_killing_verify_jobs_2_leaves_no_workers(tmp_path, signum, code, line):
    process = _verify_all(tmp_path)
    deadline = time.monotonic() + 60
    workers = set()
    while len(workers) < 2 and time.monotonic() < deadline and process.poll() is None:
        workers = _children(process.pid)
        time.sleep(0.05)
    assert len(workers) >= 2, "the pool never started"
    process.send_signal(signum)  # the parent only, as `kill PID` does
    out, err = process.communicate(timeout=60)
    assert (process.returncode, err) == (code, line), err
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [w for w in workers if _alive(w)]


_SIGNAL_INSIDE_AS_COMPLETED = """
import signal, sys
from concurrent.futures import _base

def acquire_then_signal(self):  # as_completed takes every future's lock in a loop: the signal lands midway
    futures = list(self.futures)
    for k, future in enumerate(futures):
        future._condition.acquire()
        if k == len(futures) // 2 and not acquire_then_signal.sent:
            acquire_then_signal.sent = True
            signal.raise_signal({signum})

acquire_then_signal.sent = False
_base._AcquireFutures.__enter__ = acquire_then_signal
from icon_registry import cli
sys.argv = ["icon", "verify", "--all", "--jobs", "2", "--no-cache", "--cache-dir", {cache!r}]
cli.run()
"""


@pytest.mark.skipif(not hasattr(futures_base, "_AcquireFutures"), reason="this Python's as_completed takes its locks another way")
@pytest.mark.parametrize("signum, code, line", [(signal.SIGTERM, 143, "icon: terminated\n"),
                                                (signal.SIGINT, 130, "icon: interrupted\n")], ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_as_completed_holds_the_futures_locks_still_ends_the_run(tmp_path, signum, code, line):
    # Raised where it landed, the interrupt left half the futures' locks held; the pool's manager
    # thread then waited on one of them forever, and so did the shut-down (a hang seen in CI).
    script = _SIGNAL_INSIDE_AS_COMPLETED.format(signum=int(signum), cache=str(tmp_path / "cache"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ICON_CATALOG", None)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120)
    assert (done.returncode, done.stderr) == (code, line), done.stderr

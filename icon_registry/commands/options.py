"""Option types for the ``icon`` commands: every value is checked while the command line is
parsed, before any work starts (``type=integer(1)``, ``type=device``, ``type=output_folder``).

A bad value is a usage error: ``icon fit: error: argument --batch: expected an integer >= 2,
got '0'`` on one line, exit code 2. Checks that need more than one option or the data (a
cluster count above the number of points, ``--set`` against the entry's parameters) raise
``UsageError`` from the command, which the CLI reports the same way.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

from icon_registry.errors import quote, quote_path
from icon_registry.files import nearest_folder

#: Largest seed numpy's and torch's generators both accept.
SEED_MAX = 2**32 - 1


def _bounds(low, high, low_open=False, high_open=False) -> str:
    def shown(bound):
        return str(bound) if isinstance(bound, int) else f"{bound:g}"

    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {shown(low)}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {shown(high)}")
    return " and ".join(parts)


def integer(low=None, high=None):
    """An int in [low, high] (either bound may be None)."""
    expected = "an integer" + (f" {_bounds(low, high)}" if low is not None or high is not None else "")

    def parse(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {quote(text)}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {quote(text)}")
        return value

    return parse


def real(low=None, high=None, *, low_open=False, high_open=False):
    """A finite float in the range (nan and inf are refused)."""
    expected = "a finite number" + (f" {_bounds(low, high, low_open, high_open)}" if low is not None or high is not None else "")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {quote(text)}") from None
        below = low is not None and (value <= low if low_open else value < low)
        above = high is not None and (value >= high if high_open else value > high)
        if not math.isfinite(value) or below or above:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {quote(text)}")
        return value

    return parse


seed = integer(0, SEED_MAX)
threads = integer(1, 4096)
#: A TCP port; 0 lets the system pick a free one.
port = integer(0, 65535)


def host(text: str) -> str:
    """An interface to listen on, by name or address; whether it is one of this machine's is
    found when the server binds. An empty one would mean every interface."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a host name or address, got {quote(text)}")
    return text


def device(text: str) -> str:
    """A torch device that exists here: 'cpu', 'cuda' / 'cuda:N' when CUDA is available, 'mps', ..."""
    import torch

    try:
        parsed = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise argparse.ArgumentTypeError(
            f"unknown device {quote(text)} (expected cpu, cuda, cuda:N, mps or another torch device type)"
        ) from None
    kind = parsed.type
    if kind == "cpu":
        return text
    if kind == "meta":
        raise argparse.ArgumentTypeError("device 'meta' holds no data; use cpu or an accelerator")
    backend = getattr(torch, kind, None) if kind != "mps" else getattr(torch.backends, "mps", None)
    available = getattr(backend, "is_available", None)
    if available is None or not available():
        raise argparse.ArgumentTypeError(f"device {quote(text)}: {kind} is not available on this machine")
    count = getattr(backend, "device_count", None)
    if parsed.index is not None and count is not None and parsed.index >= count():
        raise argparse.ArgumentTypeError(f"device {quote(text)}: this machine has {count()} {kind} device(s)")
    return text


def _probe(folder: Path) -> None:
    """Create and remove a file in ``folder``: the only test that holds for root, read-only
    mounts and /proc alike (os.access says yes to root everywhere)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".icon-write-test-", dir=folder)
    except OSError as err:
        raise argparse.ArgumentTypeError(f"cannot write in {quote_path(folder)} ({err.strerror or err})") from None
    os.close(fd)
    os.unlink(name)


def _nearest_folder(path: Path) -> Path:
    try:
        return nearest_folder(path)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def catalog_folder(text: str) -> str:
    """--catalog: a folder of entries, a catalog root or one YAML file; whether it exists and holds
    entries is the catalog loader's to say (a problem found, with every file named). An empty name
    would load the current folder."""
    if not text:
        raise argparse.ArgumentTypeError("expected a folder or YAML file name, got ''")
    return text


def results_folder(text: str) -> str:
    """--results: a folder's name (a missing folder is a build warning: its pages say 'Not yet run')."""
    if not text:
        raise argparse.ArgumentTypeError("expected a folder name, got ''")
    if Path(text).exists() and not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{quote_path(text)} is not a folder")
    return text


def output_file(text: str) -> str:
    """A file the command may create or replace: not a folder, in a folder it can write to."""
    if not text:
        raise argparse.ArgumentTypeError("expected a file name, got ''")
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{quote_path(text)} is a folder; give a file name")
    _probe(path.parent if path.exists() else _nearest_folder(path))  # an existing file is replaced
    return text


def output_folder(text: str) -> str:
    """A folder the command writes its files into: existing and writable, or creatable."""
    if not text:
        raise argparse.ArgumentTypeError("expected a folder name, got ''")
    _probe(_nearest_folder(Path(text)))
    return text

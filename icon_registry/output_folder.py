"""The output folder a command owns (`icon site build --out DIR`, `icon fit --out DIR`, `icon
cluster --out DIR`): never written into until the command has succeeded.

The output is written in a temporary folder beside DIR (``.<name>-tmp-<DIR's name>-XXXX``, on
the same file system) and swapped in with one rename: an atomic exchange where Linux offers one
(``renameat2(RENAME_EXCHANGE)``), else two renames in a row. A failed or interrupted run
leaves DIR as it was, and no file or symlink already in DIR is ever written through (mkdocs,
which empties its ``site_dir`` first, only ever sees the temporary folder).

DIR must be new, empty, or an earlier output of the same command: every run writes
``.<name>.json`` listing the files it wrote, and a folder holding anything else (no marker,
or files the marker does not list, symlinks included) is refused, never emptied. Anyone can
write a marker: it is trusted only for names the command writes (``owns``), so that one
listing a user's file (thesis.docx) never gets that file replaced.

Ctrl-C (SIGINT), SIGTERM and SIGHUP remove the temporary folder before the process ends.
SIGKILL cannot be caught: it leaves the temporary folder behind, and the next run beside the
same DIR removes it (it carries a marker naming the process that made it; a folder whose
process still runs is left alone).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import shutil
import signal
import socket
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterator, Optional

from icon_registry.errors import IconError, UsageError, one_line, quote_path


class BuildTerminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP while the output is written (raised by our handler so the temporary folder goes)."""

    def __init__(self, signum: int):
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


def _usage(message: str) -> UsageError:
    """Found before any work: bad usage (exit 2), like argparse's own errors."""
    return UsageError(message, argument="--out")


def _files_under(folder: Path) -> list[str]:
    """Every file, symlink and folder under ``folder`` (relative POSIX paths), not following links."""
    found = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        found += [(rel / name).as_posix() for name in dirs + files]
    return sorted(found)


class OutputFolder:
    """The checked target of a command's output; ``staging()`` yields the temporary folder to write
    in, ``publish()`` swaps it in. ``name`` names the marker (``.<name>.json``) and the temporary
    folders; ``written_by`` is the command, as the marker records it and messages name it; ``owns(path)``
    says whether the command writes that file or folder (a relative POSIX path)."""

    def __init__(self, out, *, name: str, written_by: str, owns: Callable[[str], bool]):
        self.written_by = written_by
        self.owns = owns
        self.marker, self.temp_prefix, self.temp_marker = f".{name}.json", f".{name}-tmp-", f".{name}-tmp.json"
        self.shown = quote_path(out)
        raw = Path(os.path.expanduser(str(out)))
        try:
            self.target = raw.resolve()
        except (OSError, RuntimeError) as err:  # a symlink loop
            raise _usage(f"--out {self.shown}: {one_line(err)}") from None
        if self.target.exists() and not self.target.is_dir():
            raise _usage(f"--out {self.shown} is a file, not a folder")
        try:
            cwd = Path.cwd().resolve()
        except OSError:  # the working folder was deleted: nothing to protect there
            cwd = None
        if cwd is not None and (self.target == cwd or self.target in cwd.parents):
            raise _usage(f"--out {self.shown} is the current folder or contains it; choose a subfolder such as ./public")
        if self.target.parent == self.target:
            raise _usage(f"--out {self.shown} is the root of the file system")
        existing = next(p for p in [self.target, *self.target.parents] if p.exists())
        if not existing.is_dir():
            raise _usage(f"--out {self.shown}: {quote_path(existing)} is a file, not a folder")
        try:
            self._check_ours()
        except OSError as err:  # e.g. a folder we may not read
            raise _usage(f"--out {self.shown}: {err.strerror or err}") from None

    def _marker_files(self) -> Optional[set]:
        """The files an earlier run listed in its marker, of those the command writes (a forged marker
        lists others: they stay the user's); None if the target has no valid marker."""
        marker = self.target / self.marker
        try:
            if not marker.is_file() or marker.is_symlink():
                return None
            data = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if (not isinstance(data, dict) or data.get("written_by") != self.written_by
                or not isinstance(data.get("files"), list)):
            return None
        return {name for name in data["files"] if isinstance(name, str) and self.owns(name)}

    def _check_ours(self) -> None:
        """IconError unless the target is missing, empty, or holds only what an earlier run wrote."""
        if not self.target.exists() or not any(self.target.iterdir()):
            return
        listed = self._marker_files()
        if listed is None:
            raise _usage(
                f"--out {self.shown} is a folder that {self.written_by} did not write (no {self.marker} in it); its "
                "files are not touched: choose a new or empty folder (an output from before the marker: remove it "
                "yourself once)"
            )
        foreign = [name for name in _files_under(self.target) if name != self.marker and name not in listed]
        if foreign:
            more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
            raise _usage(
                f"--out {self.shown} holds files an earlier {self.written_by} did not write "
                f"({', '.join(map(one_line, foreign[:3]))}{more}); move them away or choose another folder"
            )

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh temporary folder beside the target, removed on success, failure or interruption."""
        created = self._make_parents()
        try:
            work = Path(tempfile.mkdtemp(prefix=f"{self.temp_prefix}{self.target.name}-", dir=self.target.parent))
        except OSError as err:
            self._remove_empty(created)
            raise _usage(f"--out {self.shown}: cannot create a folder in {quote_path(self.target.parent)} ({err.strerror or err})") from None
        handlers = _raise_on_termination()
        failed, terminated_by = False, None
        try:
            (work / self.temp_marker).write_text(json.dumps({"written_by": self.written_by, "pid": os.getpid(),
                                                             "host": socket.gethostname()}))
            self._remove_stale_temps(keep=work)
            yield work
        except BaseException as err:
            failed = True
            terminated_by = err.signum if isinstance(err, BuildTerminated) else None
            raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
            _restore(handlers)
            if failed:
                self._remove_empty(created)
            if terminated_by is not None:  # cleaned up: now end the way the signal would have
                os.kill(os.getpid(), terminated_by)

    def publish(self, site: Path, work: Path) -> list[str]:
        """Write the marker into ``site`` (the complete output, inside ``work`` from ``staging()``) and
        swap it in for the target. Returns the files written, the marker left out."""
        written = _files_under(site)
        (site / self.marker).write_text(
            json.dumps({"written_by": self.written_by, "files": written}, indent=0), encoding="utf-8"
        )
        self._check_ours()  # again: the folder may have changed while the command ran
        try:
            if not self.target.exists():
                os.rename(site, self.target)
            elif not _exchange(site, self.target):
                previous = work / "previous"
                os.rename(self.target, previous)
                try:
                    os.rename(site, self.target)
                except OSError:
                    os.rename(previous, self.target)  # put the previous site back before the folder goes
                    raise
        except OSError as err:
            raise IconError(f"could not move the new output into {quote_path(self.target)}: {err.strerror or err}") from None
        return written

    def _make_parents(self) -> list[Path]:
        missing = [p for p in self.target.parents if not p.exists()]
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            self._remove_empty(missing)
            raise _usage(f"--out {self.shown}: cannot create {quote_path(self.target.parent)} ({err.strerror or err})") from None
        return missing

    @staticmethod
    def _remove_empty(folders: list[Path]) -> None:
        for folder in folders:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()

    def _remove_stale_temps(self, keep: Path) -> None:
        """Remove temporary folders of runs that were killed (their process is gone)."""
        for folder in self.target.parent.glob(self.temp_prefix + "*"):
            if folder == keep or folder.is_symlink() or not folder.is_dir():
                continue
            try:
                info = json.loads((folder / self.temp_marker).read_text())
            except (OSError, ValueError):
                continue  # not ours (or not readable): leave it
            if not isinstance(info, dict) or info.get("written_by") != self.written_by:
                continue
            if info.get("host") == socket.gethostname() and not _alive(info.get("pid")):
                shutil.rmtree(folder, ignore_errors=True)


def _raise_on_termination() -> dict:
    """Make SIGTERM and SIGHUP raise BuildTerminated (so the temporary folder is removed), where
    Python lets us: in the main thread, for a signal still on its default action. Returns the
    handlers to restore."""
    installed = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):
            signum = getattr(signal, name, None)
            if signum is not None and signal.getsignal(signum) == signal.SIG_DFL:
                installed[signum] = signal.signal(signum, _raise_terminated)
    return installed


def _restore(handlers: dict) -> None:
    for signum, previous in handlers.items():
        signal.signal(signum, previous)
    handlers.clear()


def _raise_terminated(signum, _frame):
    raise BuildTerminated(signum)


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0 or os.name != "posix":
        return True  # unknown: keep the folder
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (38, 22, 95):  # ENOSYS, EINVAL, EOPNOTSUPP: this kernel or file system cannot
        return False
    raise OSError(errno, os.strerror(errno))


def _renameat2():
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function

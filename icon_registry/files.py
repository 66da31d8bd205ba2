"""Writing a user's files safely: a temporary file in the same folder, then renamed (or linked)
into place, so a reader never sees half a file and a failed write leaves the old one intact.
And the cache folder, whose files are read without following a link and only up to a size."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional, Union

from icon_registry.errors import IconError, UsageError, one_line, quote_path


def write_file(path: Union[str, Path], data: Union[str, bytes], *, replace: bool) -> Path:
    """Write ``data`` to ``path``. ``replace=False``: never over an existing file (the temporary
    file is hard-linked to the name, which fails if the name exists, even if it appeared a moment
    ago); ``replace=True``: atomically replace it. The file gets ordinary permissions (the umask)."""
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    if not replace and path.exists():
        raise IconError(f"{path} exists already; it is never overwritten", file=str(path))
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data.encode("utf-8") if isinstance(data, str) else data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # an ordinary file, not mkstemp's private one
        if replace:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise IconError(f"{path} exists already; it is never overwritten", file=str(path)) from None
            except OSError:  # a file system without hard links: the check above is the guard
                os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def nearest_folder(path: Union[str, Path]) -> Path:
    """``path`` if it is a folder, else the nearest of its parents that exists (where a command
    would create the rest); ValueError naming the file in the way."""
    path = Path(path)
    if path.is_dir():
        return path
    if path.exists():
        raise ValueError(f"{quote_path(path)} exists and is not a folder")
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{quote_path(parent)} is not a folder")
            return parent
    raise ValueError(f"no folder of {quote_path(path)} exists")  # pragma: no cover - '/' exists


def default_cache_dir() -> Path:
    """$ICON_CACHE_DIR, or ~/.cache/icon-registry. A file in the variable's way is a UsageError
    naming it, as ``--cache-dir FILE`` is: every cache write would fail without a word. (A folder
    that cannot be written is not: a read-only cache only costs speed.)"""
    root = os.environ.get("ICON_CACHE_DIR")
    if not root:
        return Path.home() / ".cache" / "icon-registry"
    try:
        nearest_folder(root)
    except ValueError as err:
        raise UsageError(f"$ICON_CACHE_DIR: {err}", argument="ICON_CACHE_DIR") from None
    return Path(root)


def source_digest(names) -> str:
    """SHA-256 of the package's sources named in ``names`` (modules or folders of them, relative
    to icon_registry/): a cache key that changes whenever that code changes."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in names:
        path = package / name
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            if file.exists():
                digest.update(str(file.relative_to(package)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()


def read_cache_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of a file in a cache folder that may be shared or planted on: never through a
    symlink (OSError), never more than ``max_bytes`` (ValueError); FileNotFoundError if absent."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ValueError(f"larger than {max_bytes} bytes")
    return raw


def earlier_output(path: Union[str, Path], what: str, check: Callable[[Any], Optional[str]], *,
                   option: str = "--out", parse: Callable[[str], Any] = json.loads) -> Any:
    """The document an earlier run of a command wrote at ``path`` (its ``option``), to merge into
    or replace; None when there is no file. Anything else there is a UsageError naming ``option``,
    and the file is never replaced: a link, a folder, text that ``parse`` (JSON unless told)
    refuses with a ValueError, or a document for which ``check(data)`` gives a reason (None: the
    document is ``what`` the command writes)."""
    if not os.path.lexists(path):
        return None
    if os.path.islink(path) or not os.path.isfile(path):
        why = "not a regular file"
    else:
        try:
            data = parse(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            why = one_line(str(err))
        else:
            why = check(data)
            if why is None:
                return data
    raise UsageError(f"argument {option}: {path} exists and is not {what} ({why}); it is never replaced: choose "
                     f"another {option}", argument=option)

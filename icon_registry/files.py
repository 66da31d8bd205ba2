"""Writing a user's files safely: a temporary file in the same folder, then renamed (or linked)
into place, so a reader never sees half a file and a failed write leaves the old one intact.
And the cache folder, whose files are read without following a link and only up to a size."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Union

from icon_registry.errors import IconError


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


def default_cache_dir() -> Path:
    root = os.environ.get("ICON_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "icon-registry"


def read_cache_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of a file in a cache folder that may be shared or planted on: never through a
    symlink (OSError), never more than ``max_bytes`` (ValueError); FileNotFoundError if absent."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ValueError(f"larger than {max_bytes} bytes")
    return raw

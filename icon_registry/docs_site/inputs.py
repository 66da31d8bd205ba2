"""What the site reads from the user's folders (catalog folders, results/): only regular files
that really lie inside them. A symlink out of the folder (``results/leak.png -> /etc/passwd``)
is never read or published; the build says so in a warning."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional


def outside_reason(path: Path, root: Path) -> Optional[str]:
    """None if ``path`` is a regular file whose real path lies inside ``root``'s real path;
    otherwise why it is left out (for a warning)."""
    real, real_root = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    if real != real_root and real_root not in real.parents:
        return f"{path} links outside {root} (to {real})"
    if not real.is_file():
        return f"{path} is not a regular file"
    return None


def readable(path: Path, root: Path) -> bool:
    """An existing regular file inside ``root`` (absent files are not an error: callers say "not yet run")."""
    return (path.exists() or path.is_symlink()) and outside_reason(path, root) is None


def warnings_for(paths, root: Path) -> list[str]:
    """A warning for each of ``paths`` (present ones) that the site does not read."""
    return [f"{reason}: not published" for path in paths if (path.exists() or path.is_symlink()) and (reason := outside_reason(path, root))]

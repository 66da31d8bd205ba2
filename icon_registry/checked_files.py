"""Entry files that already passed the formula checks, so that ``icon list``, ``show``,
``table`` and ``validate`` on an unchanged catalog skip re-parsing every formula.

A file is known by the SHA-256 of its data (the YAML's plain values as canonical JSON); the
record is kept per fingerprint of the code the checks run (``static_check``, the formula
language, the schema, kernels, distributions, claims) and the package version, so a change to
any of them starts a new record. Only passes are recorded: a file that failed is checked, and
reported, on every load. The record lives in the cache folder (``$ICON_CACHE_DIR`` or
``~/.cache/icon-registry``, ``checked/<fingerprint>.json``), written through a temporary file
and read without following a link; a record that is not a list of digests is ignored. What a
planted record can do is limited: it only skips the static check, and every formula is still
parsed by the whitelisting parser before anything evaluates it. ``ICON_CHECK_FORMULAS=always``
checks every file every time (any other value too, with a warning).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from functools import lru_cache

from icon_registry.errors import one_line
from icon_registry.files import default_cache_dir, read_cache_file, source_digest, write_file

_SOURCES = ("static_check.py", "schema.py", "claims.py", "pairs.py", "validation_messages.py", "formula", "kernels",
            "distributions")
_MAX_BYTES = 4 << 20
_DIGEST = re.compile(r"[0-9a-f]{64}")


@lru_cache(maxsize=1)
def _fingerprint() -> str:
    from icon_registry import __version__

    return hashlib.sha256(f"{__version__} {source_digest(_SOURCES)}".encode()).hexdigest()[:32]


def data_digest(data) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


class CheckedFiles:
    """``known(digest)``: did a file with this data pass before; ``add(digest)`` after a pass;
    ``save()`` writes the record when something was added (a read-only cache only costs speed)."""

    def __init__(self):
        setting = os.environ.get("ICON_CHECK_FORMULAS", "")
        if setting not in ("", "always"):  # a value we do not know: the safe reading
            print(one_line(f"icon: warning: ICON_CHECK_FORMULAS={setting!r} is not 'always' (or unset); checking "
                           "every file"), file=sys.stderr)
        self.enabled = setting == ""
        self.path = default_cache_dir() / "checked" / f"{_fingerprint()}.json" if self.enabled else None
        self.digests = self._read() if self.enabled else set()
        self.added: set[str] = set()

    def _read(self) -> set:
        try:
            data = json.loads(read_cache_file(self.path, _MAX_BYTES))
        except (OSError, ValueError, RecursionError):  # absent, a link, too large, not JSON
            return set()
        if not isinstance(data, list):
            return set()
        return {item for item in data if isinstance(item, str) and _DIGEST.fullmatch(item)}

    def known(self, digest: str) -> bool:
        return digest in self.digests

    def add(self, digest: str) -> None:
        if self.enabled and digest not in self.digests:
            self.added.add(digest)

    def save(self) -> None:
        if not self.added:
            return
        try:
            write_file(self.path, json.dumps(sorted(self.digests | self.added)), replace=True)
        except OSError:  # a read-only cache folder only costs speed
            return
        self.digests |= self.added
        self.added = set()

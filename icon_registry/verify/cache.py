"""Result cache: key = hash(entry's canonical JSON) + hash(the sources the verdict depends on).

Stored as one JSON file per entry under ``$ICON_CACHE_DIR`` or ``~/.cache/icon-registry``
(``verify/<key>.json``). Any change to a kernel, distribution, the objective, a backend, the
formula module or the verifier changes every key, so stale verdicts are never reused.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Optional

from icon_registry.verify.results import ClaimResult

_PACKAGE = Path(__file__).resolve().parent.parent
_SOURCES = ("kernels", "distributions", "backends", "formula", "verify", "prover", "objective.py", "pairs.py", "claims.py",
            "schema.py", "compiler")


def default_cache_dir() -> Path:
    root = os.environ.get("ICON_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "icon-registry"


@lru_cache(maxsize=1)
def source_hash() -> str:
    digest = hashlib.sha256()
    for name in _SOURCES:
        path = _PACKAGE / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            if file.exists():
                digest.update(str(file.relative_to(_PACKAGE)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()


def entry_hash(entry) -> str:
    canonical = json.dumps(entry.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class ResultCache:
    def __init__(self, directory: Optional[os.PathLike] = None):
        self.directory = Path(directory) if directory else default_cache_dir()

    def key(self, entry) -> str:
        return hashlib.sha256((entry_hash(entry) + source_hash()).encode()).hexdigest()[:40]

    def _path(self, entry) -> Path:
        return self.directory / "verify" / f"{entry.id}-{self.key(entry)}.json"

    def get(self, entry) -> Optional[list[ClaimResult]]:
        path = self._path(entry)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        try:
            results = [ClaimResult.from_json(item) for item in data]
        except TypeError:
            return None
        for r in results:
            r.cached = True
        return results

    def put(self, entry, results) -> None:
        path = self._path(entry)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            for stale in path.parent.glob(f"{entry.id}-*.json"):
                stale.unlink(missing_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps([dict(r.to_json(), cached=False) for r in results], default=str))
            tmp.replace(path)
        except OSError:
            pass  # a read-only cache dir only costs speed

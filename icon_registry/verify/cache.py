"""Result cache: key = hash(entry's canonical JSON) + hash(the sources the verdict depends on)
+ the versions of Python, SymPy, torch and icon-registry.

Stored as one JSON file per entry under ``$ICON_CACHE_DIR`` or ``~/.cache/icon-registry``
(``verify/<id>-<key>.json``). Any change to a kernel, distribution, the objective, a backend,
the formula module or the verifier, or a new SymPy / torch / Python, changes every key, so
stale verdicts are never reused.

The folder may be shared or planted on: a file is written to a unique temporary file in the
same folder (``mkstemp``) and renamed over the entry's name, so no symlink there is followed
(the link itself is replaced, its target never written); a file is read without following a
symlink; what is read is checked field by field (ids, claim labels, statuses, seconds) and a
file that fails is ignored with a one-line warning on stderr, and recomputed.

Only files the cache wrote are ever removed or replaced: a name ``<id>-<40 hex digits>.json``
AND a JSON object carrying ``"format": "icon-verify-cache"`` (``FORMAT``). Anything else in the
folder, symlinks included, is left as it is (a file planted at an entry's own name then keeps
that entry's verdicts from being cached).
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import os
import platform
import re
import sys
from dataclasses import fields
from functools import lru_cache
from pathlib import Path
from typing import Optional, get_args

from icon_registry.errors import one_line
from icon_registry.files import default_cache_dir, read_cache_file, source_digest, write_file
from icon_registry.verify.results import ClaimResult, Status

_SOURCES = ("kernels", "distributions", "backends", "formula", "verify", "prover", "objective.py", "pairs.py", "claims.py",
            "schema.py", "compiler")
#: Largest cache file read (a verdict list is a few kB; anything far bigger is not ours).
_MAX_BYTES = 8 << 20
#: The marker every cache file carries (with its results under "results").
FORMAT = {"format": "icon-verify-cache", "version": 1}
_KEY_LENGTH = 40


@lru_cache(maxsize=1)
def source_hash() -> str:
    return source_digest(_SOURCES)


@lru_cache(maxsize=1)
def versions() -> str:
    """The versions a verdict depends on besides our sources: SymPy's simplifier, torch's
    numerics, Python's, and icon-registry's own (a release may change what is not hashed)."""
    import sympy
    import torch

    from icon_registry import __version__

    return f"python {platform.python_version()}; sympy {sympy.__version__}; torch {torch.__version__}; " \
           f"icon-registry {__version__}"


def entry_hash(entry) -> str:
    canonical = json.dumps(entry.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class MalformedCacheFile(ValueError):
    """A cache file that is not a verdict list for its entry (why is the message)."""


#: JSON types of ClaimResult's fields, by their annotation (the file holds ``to_json()``: "id" for "entry").
_JSON_TYPES = {"str": str, "Status": str, "float": (int, float), "bool": bool, "list[str]": list,
               "Optional[str]": (str, type(None)), "Optional[dict]": (dict, type(None))}
_FIELDS = {("id" if f.name == "entry" else f.name): _JSON_TYPES.get(str(f.type), object) for f in fields(ClaimResult)}
_STATUSES = set(get_args(Status))


def _marked(data) -> bool:
    return isinstance(data, dict) and all(data.get(name) == value for name, value in FORMAT.items())


def parse_results(data, entry) -> list[ClaimResult]:
    """The cached verdicts of ``entry`` from a file's JSON, checked field by field."""
    from icon_registry.verify.runner import claim_labels

    if not _marked(data):
        raise MalformedCacheFile(f"not a file of this cache (no {json.dumps(FORMAT)[1:-1]})")
    data = data.get("results")
    labels = claim_labels(entry)
    if not isinstance(data, list) or len(data) != len(labels):
        raise MalformedCacheFile(f"expected a list of {len(labels)} claim results")
    for item, label in zip(data, labels):
        if not isinstance(item, dict) or set(item) != set(_FIELDS):
            raise MalformedCacheFile(f"expected objects with the fields {', '.join(_FIELDS)}")
        for name, kind in _FIELDS.items():
            if not isinstance(item[name], kind) or (kind == (int, float) and isinstance(item[name], bool)):
                raise MalformedCacheFile(f"field '{name}' has the wrong type")
        if item["id"] != entry.id or item["claim"] != label:
            raise MalformedCacheFile(f"a result for {item['id']!r} {item['claim']!r}, expected {entry.id!r} {label!r}")
        if item["status"] not in _STATUSES:
            raise MalformedCacheFile(f"unknown status {item['status']!r}")
        if not (math.isfinite(item["seconds"]) and item["seconds"] >= 0):
            raise MalformedCacheFile(f"seconds = {item['seconds']!r} is not a duration")
        if not all(isinstance(step, str) for step in item["steps"]):
            raise MalformedCacheFile("steps must be strings")
    return [ClaimResult.from_json(dict(item, cached=True)) for item in data]


class ResultCache:
    """``get(entry)`` / ``put(entry, results)``. ``reuse=False`` (``icon verify --no-cache``)
    never returns a cached verdict (it drops the entry's file, so that parallel workers do not
    read it either) but still stores fresh ones, for ``icon site build`` to show."""

    def __init__(self, directory: Optional[os.PathLike] = None, *, reuse: bool = True):
        self.directory = Path(directory) if directory else default_cache_dir()
        self.reuse = reuse

    def key(self, entry) -> str:
        return hashlib.sha256((entry_hash(entry) + source_hash() + versions()).encode()).hexdigest()[:_KEY_LENGTH]

    def _path(self, entry) -> Path:
        return self.directory / "verify" / f"{entry.id}-{self.key(entry)}.json"

    def get(self, entry) -> Optional[list[ClaimResult]]:
        path = self._path(entry)
        if not self.reuse:
            _drop_ours(path, entry)
            return None
        try:
            raw = read_cache_file(path, _MAX_BYTES)
        except FileNotFoundError:
            return None
        except OSError as err:  # a symlink (ELOOP), unreadable, ...
            return _ignored(path, err.strerror or str(err), entry)
        except ValueError as err:  # too large to be ours
            return _ignored(path, str(err), entry)
        try:
            return parse_results(json.loads(raw), entry)
        except (OSError, ValueError, RecursionError) as err:  # MalformedCacheFile, JSON and UTF-8 errors
            return _ignored(path, str(err), entry)

    def put(self, entry, results) -> None:
        path = self._path(entry)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if os.path.lexists(path) and not _ours(path, entry):
                return  # not written by us: never replaced
            for stale in path.parent.glob(f"{glob.escape(entry.id)}-*.json"):
                if stale != path:
                    _drop_ours(stale, entry)
            document = dict(FORMAT, results=[dict(r.to_json(), cached=False) for r in results])
            write_file(path, json.dumps(document, default=str), replace=True)  # a rename: no link written through
        except OSError:
            pass  # a read-only cache dir only costs speed


def _ours(path: Path, entry) -> bool:
    """Whether the cache wrote ``path``: its name and its marker (read without following a link)."""
    if not re.fullmatch(re.escape(entry.id) + f"-[0-9a-f]{{{_KEY_LENGTH}}}\\.json", path.name):
        return False
    try:
        return _marked(json.loads(read_cache_file(path, _MAX_BYTES)))
    except (OSError, ValueError, RecursionError):
        return False


def _drop_ours(path: Path, entry) -> None:
    if _ours(path, entry):
        try:
            path.unlink()
        except OSError:
            pass


def _ignored(path: Path, why: str, entry) -> None:
    print(one_line(f"icon: warning: ignoring the verifier cache file {path} ({why}); checking the claims again"),
          file=sys.stderr)
    _drop_ours(path, entry)
    return None

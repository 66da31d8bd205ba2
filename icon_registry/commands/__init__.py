"""``icon`` sub-commands: one module per command, each exposing ``register(subparsers)``.

A command's ``register`` adds its parser with ``subparsers.add_parser(name, help=...)`` and
sets ``func`` via ``parser.set_defaults(func=run)``; ``run(args) -> int`` returns the exit
code and raises ``IconError`` for anything the user can fix. ``cli.py`` adds the global
``--catalog DIR`` option to every command; ``catalog_from_args(args)`` loads the catalog
with those folders.
"""

from __future__ import annotations

import builtins
import json
import math
import os
import shutil
import sys
from typing import Any


def catalog_from_args(args, *paths, include_builtin: bool = True):
    """The catalog: built-in entries, ``--catalog`` folders, $ICON_CATALOG, and ``paths``."""
    from icon_registry.catalog import load_catalog

    return load_catalog(*paths, *getattr(args, "catalog", []), include_builtin=include_builtin)


def path_like(name: str) -> bool:
    """An ID argument that names a file: no id ends in .yaml, and no id or alias holds a separator."""
    return name.endswith((".yaml", ".yml")) or any(sep and sep in name for sep in (os.sep, os.altsep))


def entries_from_args(args, names, *, include_builtin: bool = True, single: bool = False) -> tuple:
    """(catalog, ids) for ID arguments, each an id or alias, or an entry file (``path/to/id.yaml``,
    loaded with the catalog: its table and relations are checked); repeated ones once. ``single``:
    the command takes one (its errors say so)."""
    from pathlib import Path

    from icon_registry.errors import IconError

    give = "give an entry file or id" if single else "give entry files or ids"
    for name in names:
        if path_like(name) and not Path(name).is_file():  # not an id: "unknown entry" would mislead
            what = "not a file" if Path(name).exists() else "no such file"
            raise IconError(f"{name}: {what} ({give})", file=name, argument="ID")
    files = [Path(name) for name in names if path_like(name)]
    catalog = catalog_from_args(args, *files, include_builtin=include_builtin)
    by_file = {catalog.path_of(entry_id).resolve(): entry_id for entry_id in catalog.ids} if files else {}
    ids = []
    for name in names:
        if path_like(name):
            if Path(name).resolve() not in by_file:
                raise IconError(f"{name}: not a catalog entry (a table.yaml?); {give}", argument="ID")
            resolved = by_file[Path(name).resolve()]
        else:
            resolved = catalog.resolve(name)  # IconError with a suggestion for an unknown one
        if resolved not in ids:
            ids.append(resolved)
    return catalog, ids


def reuse_freed_memory() -> bool:
    """Keep memory this process frees for its next allocations (glibc: no mmap for large blocks,
    no trimming of the heap); True if set.

    Training and benchmarks allocate and free the same n x n tensors every step. By default glibc
    maps each block over 32 MB afresh and unmaps it when freed, so every step faults all its pages
    in again: a t-SNE step at n = 5,000 took 278 ms by default (over half of it in the kernel) and
    119-129 ms with this. Commands that train or time call it for their own process; a library never does.
    Left alone off glibc, and where the user chose (a MALLOC_* variable, an LD_PRELOADed allocator)."""
    if not sys.platform.startswith("linux") or os.environ.get("LD_PRELOAD") or any(
            name.startswith("MALLOC_") for name in os.environ):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    m_trim_threshold, m_mmap_max = -1, -4
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, 2**31 - 1))


def terminal_safe(text: str) -> str:
    """``text`` with every control or format character except the newline written as a JSON
    escape (``\\u001b``): catalog strings never reach the terminal raw (ESC sequences, BEL,
    bidi overrides), and JSON text stays valid JSON (those characters only occur in strings)."""
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char.isprintable() or char == "\n":
            out.append(char)
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:  # a UTF-16 surrogate pair, as JSON spells characters outside the BMP
            code = ord(char) - 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
    return "".join(out)


def print_json(data: Any) -> None:
    sys.stdout.write(terminal_safe(json_text(data, ensure_ascii=False)) + "\n")


def json_text(data: Any, **options) -> str:
    """``data`` as indented JSON that every parser reads (``json_safe``): for stdout and results files."""
    return json.dumps(json_safe(data), indent=2, allow_nan=False, **options)


def json_safe(value: Any) -> Any:
    """``value`` with every infinite or NaN float as the string 'inf', '-inf' or 'nan': JSON has no
    such numbers (json.dumps would write Infinity, which strict parsers reject), and a
    counterexample's loss may be one."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (builtins.list, tuple)):  # builtins: this package's `list` is the list command
        return [json_safe(item) for item in value]
    return value


def terminal_width(default: int = 100) -> int:
    """Columns of the terminal ($COLUMNS wins; ``default`` when not a terminal)."""
    return max(40, shutil.get_terminal_size((default, 24)).columns)


def year_of(entry) -> str:
    paper = getattr(entry, "paper", None)
    return str(paper.year) if paper is not None else "-"

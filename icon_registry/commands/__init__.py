"""``icon`` sub-commands: one module per command, each exposing ``register(subparsers)``.

A command's ``register`` adds its parser with ``subparsers.add_parser(name, help=...)`` and
sets ``func`` via ``parser.set_defaults(func=run)``; ``run(args) -> int`` returns the exit
code and raises ``IconError`` for anything the user can fix. ``cli.py`` adds the global
``--catalog DIR`` option to every command; ``catalog_from_args(args)`` loads the catalog
with those folders.
"""

from __future__ import annotations

import json
import shutil
import sys
from typing import Any


def catalog_from_args(args, *paths, include_builtin: bool = True):
    """The catalog: built-in entries, ``--catalog`` folders, $ICON_CATALOG, and ``paths``."""
    from icon_registry.catalog import load_catalog

    return load_catalog(*paths, *getattr(args, "catalog", []), include_builtin=include_builtin)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def terminal_width(default: int = 100) -> int:
    """Columns of the terminal ($COLUMNS wins; ``default`` when not a terminal)."""
    return max(40, shutil.get_terminal_size((default, 24)).columns)


def year_of(entry) -> str:
    paper = getattr(entry, "paper", None)
    return str(paper.year) if paper is not None else "-"

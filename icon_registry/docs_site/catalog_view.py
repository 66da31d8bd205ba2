"""The catalog as the site sees it: entries in table order, the table axes, where they came from.

Loads through ``icon_registry.catalog.load_catalog`` (built-in catalog plus the user's folders).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from icon_registry.docs_site.inputs import outside_reason
from icon_registry.errors import IconError
from icon_registry.schema import Entry, TableSpec


@dataclass
class SiteCatalog:
    entries: list[Entry]
    table: TableSpec
    sources: dict[str, str] = field(default_factory=dict)  # entry id -> YAML path, where known
    user_dirs: dict[str, str] = field(default_factory=dict)  # entry id -> the user's --catalog folder
    warnings: list[str] = field(default_factory=list)  # what was left out, and why

    def __post_init__(self):
        self.by_id = {e.id: e for e in self.entries}
        self.rows = {r.id: r for r in self.table.rows}
        self.columns = {c.id: c for c in self.table.columns}

    def get(self, entry_id: str) -> Optional[Entry]:
        return self.by_id.get(entry_id)

    def in_cell(self, row: str, column: str) -> list[Entry]:
        found = [e for e in self.entries if e.cell.row == row and e.cell.column == column]
        return sorted(found, key=lambda e: (e.paper.year if e.paper else 9999, e.name.lower()))

    def is_builtin(self, entry_id: str) -> bool:
        """Whether the entry is the built-in catalog's (its YAML file lies in that folder): the
        entries whose "Use it" snippets the test suite runs."""
        from icon_registry.catalog import builtin_catalog_dir

        source = self.sources.get(entry_id)
        if not source:
            return False
        try:
            root = builtin_catalog_dir().resolve()
            path = Path(source).resolve()
        except (OSError, RuntimeError):
            return False
        return root in path.parents

    def off_table(self) -> list[Entry]:
        return [e for e in self.entries if e.cell.row not in self.rows or e.cell.column not in self.columns]


def _entries_of(catalog) -> list[Entry]:
    for attr in ("entries", "all"):
        value = getattr(catalog, attr, None)
        if callable(value):
            value = value()
        if isinstance(value, dict):
            value = list(value.values())
        if value is not None:
            return list(value)
    ids = catalog.list("*")
    return [e if isinstance(e, Entry) else catalog.get(e) for e in ids]


def _source_of(catalog, entry_id: str) -> Optional[str]:
    for attr in ("source", "path_of", "source_of"):
        fn = getattr(catalog, attr, None)
        if callable(fn):
            try:
                found = fn(entry_id)
            except Exception:  # noqa: BLE001 - optional metadata
                continue
            if found:
                return str(found)
    sources = getattr(catalog, "sources", None)
    if isinstance(sources, dict) and entry_id in sources:
        return str(sources[entry_id])
    return None


def _derived_table(entries) -> TableSpec:
    """Rows and columns in order of first appearance, when the catalog has no table.yaml."""
    rows, cols = [], []
    for e in entries:
        if e.cell.row not in rows:
            rows.append(e.cell.row)
        if e.cell.column not in cols:
            cols.append(e.cell.column)
    axis = lambda name: {"id": name, "label": name.replace("_", " "), "description": "(no table.yaml: derived from the entries)"}
    return TableSpec.model_validate({"rows": [axis(r) for r in rows] or [axis("none")], "columns": [axis(c) for c in cols] or [axis("none")]})


def load_site_catalog(dirs: Sequence[str | Path] = (), *, builtin: bool = True) -> SiteCatalog:
    """The catalog for the site: the built-in one (unless ``builtin`` is False), $ICON_CATALOG and ``dirs``.

    Entries whose file links out of its catalog folder are left out (with a warning), and a
    ``table.yaml`` that does is refused: the site publishes only what lies in the folders."""
    from icon_registry.catalog import ENV_VAR, builtin_catalog_dir, load_catalog

    dirs = [Path(d) for d in dirs]
    roots = ([builtin_catalog_dir()] if builtin else []) + dirs
    roots += [Path(d) for d in os.environ.get(ENV_VAR, "").split(os.pathsep) if d.strip()]
    roots = [Path(os.path.abspath(os.path.expanduser(str(root)))) for root in roots]
    for root in roots:
        table = root / "table.yaml"
        reason = outside_reason(table, root) if table.is_symlink() else None
        if reason:
            raise IconError(f"{reason}: the site does not follow links out of catalog folders")
    catalog = load_catalog(*dirs, include_builtin=builtin)
    entries, warnings = [], []
    for entry in sorted(_entries_of(catalog), key=lambda e: e.id):
        source = _source_of(catalog, entry.id)
        reason = _link_out(Path(os.path.abspath(source)), roots) if source else None
        if reason:
            warnings.append(f"entry '{entry.id}' left out: {reason}")
        else:
            entries.append(entry)
    table = getattr(catalog, "table", None)
    if callable(table):
        table = table()
    if table is None:
        table = _derived_table(entries)
    sources = {e.id: s for e in entries if (s := _source_of(catalog, e.id))}
    user_dirs = {}
    for entry_id, source in sources.items():
        path = Path(source).resolve()
        for d in dirs:
            root = d.resolve()
            if path == root or root in path.parents:
                user_dirs[entry_id] = str(d)
                break
    return SiteCatalog(entries, table, sources, user_dirs, warnings)


def _link_out(path: Path, roots: list[Path]) -> Optional[str]:
    """Why the entry file ``path`` (as the loader found it) is not published, if it links out
    of the catalog folder it was found in; a YAML file named on its own is its own folder."""
    for root in roots:
        if root in path.parents:
            return outside_reason(path, root)
    return None


def load_fixture_catalog(folder: str | Path) -> SiteCatalog:
    """A catalog read straight from a folder (table.yaml + methods/*.yaml), for tests."""
    import yaml

    folder = Path(folder)
    table = TableSpec.model_validate(yaml.safe_load((folder / "table.yaml").read_text()))
    entries, sources = [], {}
    for path in sorted((folder / "methods").glob("*.yaml")):
        entry = Entry.model_validate(yaml.safe_load(path.read_text()))
        entries.append(entry)
        sources[entry.id] = str(path)
    return SiteCatalog(entries, table, sources)

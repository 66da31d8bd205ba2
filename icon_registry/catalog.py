"""The catalog registry: load entries from the built-in catalog and your own folders.

::

    catalog = load_catalog()                   # built-in + $ICON_CATALOG folders
    catalog = load_catalog("my_losses/")       # ... + your folder (entries or a catalog root)
    catalog.list("*sne*")                       # ids whose id or alias matches the glob
    entry = catalog.get("simclr")               # Entry; unknown ids suggest the nearest ones
    catalog.table                               # TableSpec from catalog/table.yaml

A folder is either a catalog root (``methods/*.yaml`` and optionally ``table.yaml``) or a
plain folder of entry files (``*.yaml``/``*.yml``; a ``table.yaml`` there is the table). Any
other .yaml file under the folder (in a subfolder, at any depth) is a problem, never skipped in
silence; an empty folder (one just made for your entries) is an empty catalog.
Every problem in every file is collected first, then the cross-entry checks run (ids
match file names, no duplicate ids or aliases, no collision with a built-in id,
relations point to known entries, cells name known rows and columns) and everything
found is raised together as one ``IconError``, one line per problem::

    catalog/methods/simclr.yaml:12: q.kernel.kind: unknown kernel kind 'gausian'; did you mean 'gaussian'?
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence, Union

from icon_registry.errors import IconError, close_matches, format_problem, quote, suggest
from icon_registry.validation_messages import format_loc, validate_model
from icon_registry.yaml_io import Document, load_yaml

__all__ = [
    "Catalog",
    "ENV_VAR",
    "builtin_catalog_dir",
    "load_catalog",
    "resolve_name",
]

ENV_VAR = "ICON_CATALOG"
_YAML_SUFFIXES = (".yaml", ".yml")
_TABLE_NAMES = ("table.yaml", "table.yml")


# ---------------------------------------------------------------------------------------
# where the built-in catalog lives
# ---------------------------------------------------------------------------------------


def builtin_catalog_dir() -> Path:
    """The built-in catalog folder (holding ``methods/`` and ``table.yaml``).

    In an installed wheel it is package data at ``icon_registry/_catalog``; in a source
    checkout (or an editable install) it is the checkout's top-level ``catalog/``.
    """
    try:
        packaged = resources.files("icon_registry") / "_catalog"
        if packaged.is_dir():
            return Path(str(packaged))
    except (ModuleNotFoundError, TypeError, NotADirectoryError):  # pragma: no cover - exotic loaders
        pass
    return Path(__file__).resolve().parent.parent / "catalog"


# ---------------------------------------------------------------------------------------
# the catalog
# ---------------------------------------------------------------------------------------


@dataclass
class _Source:
    entry: Any  # schema.Entry
    path: Path
    display: str
    document: Document
    builtin: bool


class Catalog:
    """Validated entries by id, with glob listing, alias lookup and the periodic table."""

    def __init__(self, sources: dict, table=None, table_path: Optional[Path] = None, aliases: Optional[dict] = None):
        self._sources: dict[str, _Source] = dict(sorted(sources.items()))
        self._aliases: dict[str, str] = dict(aliases or {})
        self.table = table
        self.table_path = table_path

    # container protocol
    def __iter__(self) -> Iterator:
        return (source.entry for source in self._sources.values())

    def __len__(self) -> int:
        return len(self._sources)

    def __contains__(self, name) -> bool:
        return isinstance(name, str) and resolve_name(name, self._sources, self._aliases) is not None

    def __getitem__(self, name):
        return self.get(name)

    def __repr__(self) -> str:
        return f"<Catalog: {len(self)} entries>"

    @property
    def ids(self) -> list[str]:
        """Every entry id."""
        return list(self._sources)

    def resolve(self, name: str) -> str:
        """The entry id for an id or alias, in any case (IconError with suggestions if unknown)."""
        if not isinstance(name, str):
            raise IconError(f"entry ids are strings, got {type(name).__name__}", argument="id")
        found = resolve_name(name, self._sources, self._aliases)
        if found is not None:
            return found
        hint = self.near(name) or ("; the catalog is empty" if not self._sources else "; see `icon list`")
        raise IconError(f"unknown entry {quote(name)}{hint}", entry=name, argument="id")

    def near(self, *names: str) -> str:
        """``"; did you mean 'x', 'y'?"`` naming the ids whose id or alias is closest to any of
        ``names`` (each id once), or ``""`` if none is close."""
        return _suggest_id(names, list(self._sources), self._aliases)

    def get(self, name: str):
        """The Entry for an id or alias."""
        return self._sources[self.resolve(name)].entry

    def list(self, pattern: Union[str, Sequence[str]] = "*") -> list[str]:
        """Sorted ids whose id or any alias matches the glob(s) (case-insensitive, like timm.list_models)."""
        patterns = [pattern] if isinstance(pattern, str) else list(pattern) if isinstance(pattern, (list, tuple)) else None
        if patterns is None or not all(isinstance(p, str) for p in patterns):
            raise IconError(f"list() takes a glob or a list of globs (str), got {type(pattern).__name__}",
                            argument="pattern")
        patterns = [p.casefold() for p in patterns] or ["*"]
        found = []
        for entry_id, source in self._sources.items():
            names = [entry_id, *getattr(source.entry, "aliases", [])]
            if any(fnmatch.fnmatchcase(n.casefold(), p) for n in names for p in patterns):
                found.append(entry_id)
        return found

    def path_of(self, name: str) -> Path:
        """The YAML file that defines the entry."""
        return self._sources[self.resolve(name)].path

    def document(self, name: str) -> Document:
        """The parsed YAML (plain data + line map) of the entry."""
        return self._sources[self.resolve(name)].document

    def line_of(self, name: str, loc: Sequence) -> Optional[int]:
        """The line of a field path in the entry's file (e.g. for the verifier's messages)."""
        return self.document(name).line_of(loc)

    def is_builtin(self, name: str) -> bool:
        """Whether the entry comes from the built-in catalog (not from one of your folders)."""
        return self._sources[self.resolve(name)].builtin

    def entries(self) -> list:
        """Every Entry, in id order."""
        return list(self)


def resolve_name(name: str, ids, aliases: dict) -> Optional[str]:
    """The id of the entry that ``name`` names among ``ids`` (a container) and ``aliases`` (alias
    -> id), or None. An exact id or alias wins; otherwise the one entry whose id or alias matches
    ignoring case, as `icon list` matches (so `icon show T-SNE` finds the tsne that `icon list
    T-SNE` lists). The catalog and the relation graph both resolve names through it."""
    if name in ids:
        return name
    if name in aliases:
        return aliases[name]
    folded = name.casefold()
    found = {aliases.get(other, other) for other in (*ids, *aliases) if other.casefold() == folded}
    return found.pop() if len(found) == 1 else None


def _suggest_id(names: Sequence[str], ids: list, aliases: dict) -> str:
    """'; did you mean ...?' over ids and aliases for any of ``names``, reported as ids, each once."""
    found = []
    for match in (m for name in names for m in close_matches(name, list(ids) + list(aliases))):
        entry_id = aliases.get(match, match)
        if entry_id not in found:
            found.append(entry_id)
    return "; did you mean " + ", ".join(quote(i) for i in found) + "?" if found else ""


def _display(path: Path) -> str:
    """A short name for messages: relative to the working directory when below it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # other drive on Windows
        return str(path)
    return str(path) if relative.startswith("..") else relative


def _yaml_under(folder: Path) -> list[Path]:
    """Every .yaml/.yml file under ``folder`` (.YAML too), at any depth, sorted. Hidden files and folders are
    left out: a catalog kept in a repository sits beside .git/ and .github/workflows/*.yml. A folder
    that cannot be listed raises its OSError: os.walk would skip it, and its entries would be
    missing from the catalog without a word."""

    def unreadable(err: OSError):
        raise err

    found = []
    for root, dirs, files in os.walk(folder, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / name for name in sorted(files)
                  if not name.startswith(".") and Path(name).suffix.lower() in _YAML_SUFFIXES]
    return found


def _entry_files(folder: Path) -> tuple[list[Path], Optional[Path], list[str]]:
    """(entry files, table file, layout problems) of a catalog root or a plain folder of entries.

    No .yaml file under the folder is skipped in silence: each one that is not loaded (beside a
    root's methods/, in a subfolder at any depth, a second table) is a problem that names it and
    says where it belongs."""
    methods = folder / "methods"
    home = methods if methods.is_dir() else folder
    found = _yaml_under(folder)
    # an entry file's name is its id, which is lowercase: my_method.YAML is said, not skipped
    problems = [format_problem("not loaded: the name of an entry file ends in .yaml or .yml, in lowercase",
                               file=_display(p)) for p in found if p.suffix not in _YAML_SUFFIXES]
    found = [p for p in found if p.suffix in _YAML_SUFFIXES]
    tables = [p for p in found if p.parent == folder and p.name in _TABLE_NAMES]  # table.yaml sorts first
    table = tables[0] if tables else None
    files = [p for p in found if p.parent == home and (home == methods or p.name not in _TABLE_NAMES)]
    taken = {*tables, *files}
    unloaded: dict[Path, list[Path]] = {}
    for path in found:
        if path not in taken:
            unloaded.setdefault(path.parent, []).append(path)
    problems += [format_problem(f"{spare.name} is not loaded: {table.name} is the table of this folder (keep one of "
                                "the two)", file=_display(folder)) for spare in tables[1:]]
    if home == methods:
        for where, paths in unloaded.items():
            if where == folder:
                problems.append(format_problem(
                    f"{_names(paths)} beside methods/ {_are(paths)} not loaded: a catalog root keeps its entries in "
                    "methods/ (move them there, or pass a folder of entries alone)", file=_display(folder)))
            else:
                problems.append(format_problem(
                    f"{_names(paths)} {_are(paths)} not loaded: a catalog root keeps its entries in methods/ itself "
                    f"(move {_them(paths)} to {_display(methods)})", file=_display(where)))
        return files, table, problems
    one_deeper = {where: paths for where, paths in unloaded.items() if where.parent == folder} if not files else {}
    if one_deeper:
        listed = ", ".join(f"{where.name}/ ({len(paths)} .yaml file{'s' if len(paths) != 1 else ''})"
                           for where, paths in one_deeper.items())
        problems.append(format_problem(
            f"no entries here, but {listed} one level deeper: pass the folder that holds the entries "
            f"(--catalog {_display(next(iter(one_deeper)))}), or name it methods/ to make {_display(folder)} a "
            "catalog root", file=_display(folder)))
    for where, paths in unloaded.items():
        if where not in one_deeper:
            problems.append(format_problem(
                f"{_names(paths)} {_are(paths)} not loaded: a folder of entries keeps them at its top level (move "
                f"{_them(paths)} to {_display(folder)}, or pass --catalog {_display(where)} as well)",
                file=_display(where)))
    return files, table, problems


def _references(data) -> tuple[list[tuple[int, str]], dict[str, str]]:
    """The relation targets ``[(index, id)]`` and the cell ``{axis: id}`` of an entry's YAML data,
    those written as well-formed ids: read from the data, not the validated entry, so that an
    entry refused for another field has them checked in the same run (a malformed one is a
    field problem already)."""
    from icon_registry.schema import ID_MAX_LENGTH, ID_PATTERN

    def well_formed(value) -> bool:
        return isinstance(value, str) and len(value) <= ID_MAX_LENGTH and re.fullmatch(ID_PATTERN, value) is not None

    if not isinstance(data, dict):
        return [], {}
    relations = data.get("relations") if isinstance(data.get("relations"), list) else []
    cell = data.get("cell") if isinstance(data.get("cell"), dict) else {}
    targets = [(index, relation["target"]) for index, relation in enumerate(relations)
               if isinstance(relation, dict) and well_formed(relation.get("target"))]
    return targets, {axis: cell[axis] for axis in ("row", "column") if well_formed(cell.get(axis))}


def _case_note(name: str, written: str) -> str:
    """Why ``name`` clashes with ``written`` when the two differ only in case."""
    return "" if name == written else f" (as {quote(written)}; names that differ only in case name the same entry)"


def _names(paths: list) -> str:
    shown = ", ".join(p.name for p in paths[:3])
    return shown + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def _are(paths: list) -> str:
    return "is" if len(paths) == 1 else "are"


def _them(paths: list) -> str:
    return "it" if len(paths) == 1 else "them"


def _env_dirs() -> list[str]:
    value = os.environ.get(ENV_VAR, "")
    return [part for part in value.split(os.pathsep) if part.strip()]


_CACHE: dict = {}


def _signature(roots: list) -> tuple:
    """Every catalog file under the roots with its size and mtime: a cheap change detector."""
    found = []
    for root in roots:
        root = Path(root)
        try:
            candidates = _yaml_under(root) if root.is_dir() else [root]
            for path in candidates:
                try:
                    info = path.stat()
                except OSError:
                    continue
                found.append((str(path), info.st_size, info.st_mtime_ns))
        except OSError:
            found.append((str(root), -1, -1))
    return tuple(sorted(set(found)))


def load_catalog(*extra: Union[str, os.PathLike], include_builtin: bool = True, use_env: bool = True) -> Catalog:
    """Load and validate the catalog: the built-in entries, the folders or files in ``extra``
    and those in ``$ICON_CATALOG`` (``os.pathsep``-separated). Raises one IconError listing
    every problem found. A catalog whose files have not changed is returned from a cache.

    ``include_builtin``: False loads only ``extra`` (and ``$ICON_CATALOG``); ``use_env``: False
    ignores ``$ICON_CATALOG``."""
    for item in extra:
        if not isinstance(item, (str, os.PathLike)):
            raise IconError(f"load_catalog() takes folders or files (str or os.PathLike), got {type(item).__name__}",
                            argument="extra")
    roots = ([builtin_catalog_dir()] if include_builtin else []) + [Path(os.path.expanduser(str(p))) for p in extra]
    if use_env:
        roots += [Path(os.path.expanduser(p)) for p in _env_dirs()]
    key = (tuple(str(r) for r in roots), include_builtin, os.getcwd())
    signature = _signature(roots)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == signature:
        return cached[1]
    catalog = _load_catalog(*extra, include_builtin=include_builtin, use_env=use_env)
    if len(_CACHE) > 16:
        _CACHE.clear()
    _CACHE[key] = (signature, catalog)
    return catalog


def _load_catalog(*extra, include_builtin: bool = True, use_env: bool = True) -> Catalog:
    from icon_registry.checked_files import CheckedFiles, data_digest
    from icon_registry.schema import Entry, TableAddition, TableSpec

    checked_files = CheckedFiles()

    problems: list[str] = []
    sources: dict[str, _Source] = {}
    builtin_ids: dict[str, str] = {}
    tables: list[tuple[Any, Path, Document]] = []
    refused_axes: dict[str, set] = {"row": set(), "column": set()}  # ids in tables refused below
    loaded: list[_Source] = []

    roots: list[tuple[Path, bool, str]] = []
    if include_builtin:
        roots.append((builtin_catalog_dir(), True, "the built-in catalog"))
    requested = [(item, "argument") for item in extra]
    if use_env:
        requested += [(item, f"${ENV_VAR}") for item in _env_dirs()]
    for item, origin in requested:
        roots.append((Path(os.path.expanduser(str(item))), False, origin))

    seen_roots = set()
    seen_files = set()
    attempted: set[str] = set()  # ids of every entry file, valid or not (no cascading errors)
    refused: list[tuple[str, str, Document]] = []  # (id, display, document) of the entries refused below
    for root, builtin, origin in roots:
        key = root.resolve() if root.exists() else root
        if key in seen_roots:
            continue
        seen_roots.add(key)
        if not root.exists():
            if builtin:
                continue  # a checkout without catalog/ yet: an empty built-in catalog
            problems.append(format_problem(f"no such file or folder (from {origin})", file=root))
            continue
        if root.is_dir():
            try:
                files, table_file, layout = _entry_files(root)
            except OSError as err:
                where = _display(Path(err.filename)) if err.filename else _display(root)
                problems.append(format_problem(f"cannot read: {err.strerror or err}", file=where))
                continue
            problems.extend(layout)
        elif root.suffix in _YAML_SUFFIXES:
            files, table_file = ([], root) if root.name in _TABLE_NAMES else ([root], None)
        else:
            problems.append(format_problem(f"not a folder or a .yaml file (from {origin})", file=root))
            continue
        if table_file is not None:
            document = None
            try:
                document = load_yaml(table_file, display=_display(table_file))
                # the first table is the catalog's own; a later one only adds to it
                table = validate_model(TableAddition if tables else TableSpec, document.data, document.lines,
                                       document.file)
                tables.append((table, table_file, document))
            except IconError as err:
                problems.extend(err.problems)
                # a cell naming a row of a refused table is no second problem (no cascading errors)
                data = document.data if document is not None and isinstance(document.data, dict) else {}
                for axis in refused_axes:
                    items = data.get(axis + "s") if isinstance(data.get(axis + "s"), list) else []
                    refused_axes[axis] |= {item["id"] for item in items if isinstance(item, dict)
                                           and isinstance(item.get("id"), str)}
        for path in files:
            resolved = path.resolve()
            if resolved in seen_files:
                continue  # the same file reached twice (e.g. `icon validate catalog/methods/x.yaml`)
            seen_files.add(resolved)
            display = _display(path)
            attempted.add(path.stem)
            try:
                document = load_yaml(path, display=display)
            except IconError as err:
                problems.extend(err.problems)
                continue
            data = document.data
            if isinstance(data, dict) and isinstance(data.get("id"), str):
                attempted.add(data["id"])
            stem_problem = None
            if isinstance(data, dict) and isinstance(data.get("id"), str) and data["id"] != path.stem:
                stem_problem = format_problem(
                    f"id {quote(data['id'])} does not match the file name {quote(path.name)} (expected {quote(path.stem)})",
                    file=display,
                    line=document.line_of(("id",)),
                    field="id",
                )
            digest = data_digest(data)
            checked = checked_files.known(digest)
            try:
                entry = validate_model(Entry, data, document.lines, display, context={"formulas_checked": checked})
            except IconError as err:
                if stem_problem:
                    problems.append(stem_problem)
                problems.extend(err.problems)
                refused.append((data.get("id") if isinstance(data, dict) and isinstance(data.get("id"), str)
                                    else path.stem, display, document))
                continue
            if stem_problem:
                problems.append(stem_problem)
                refused.append((data["id"], display, document))
                continue
            checked_files.add(digest)
            loaded.append(_Source(entry, path, display, document, builtin))

    # the table: built-in first; other folders may add rows/columns with new ids
    table, table_path = None, None
    for spec, path, document in tables:
        if table is None:
            table, table_path = spec, path
            continue
        merged = {"rows": list(table.rows), "columns": list(table.columns)}
        for axis in ("rows", "columns"):
            known = {a.id: a for a in merged[axis]}
            for index, item in enumerate(getattr(spec, axis)):
                if item.id in known and known[item.id] != item:
                    problems.append(format_problem(
                        f"{axis[:-1]} '{item.id}' differs from the one in {_display(table_path)}",
                        file=document.file, line=document.line_of((axis, index)), field=f"{axis}[{index}]",
                    ))
                elif item.id not in known:
                    merged[axis].append(item)
        table = type(table)(**merged)

    # cross-entry checks
    aliases: dict[str, str] = {}
    # every id and alias taken so far, ignoring case as lookups do (-> as written, its entry): names
    # that differ only in case would make `icon show NAME` depend on the order entries load in
    names: dict[str, tuple[str, _Source]] = {}
    for source in loaded:
        entry, doc = source.entry, source.document
        if entry.id.casefold() in names:
            written, other = names[entry.id.casefold()]
            if written != other.entry.id:
                message = (f"id '{entry.id}' is already an alias of '{other.entry.id}' ({other.display})"
                           f"{_case_note(entry.id, written)}")
            elif other.builtin and not source.builtin:
                message = f"id '{entry.id}' is already a built-in entry ({other.display}); choose another id"
            else:
                message = f"duplicate id '{entry.id}' (also in {other.display})"
            problems.append(format_problem(message, file=source.display, line=doc.line_of(("id",)), field="id"))
            refused.append((entry.id, source.display, doc))
            continue
        clash = False
        for index, alias in enumerate(entry.aliases):
            written, other = names.get(alias.casefold(), (entry.id, source))
            # an alias may differ in case from its own id or its other aliases ('SimCLR' of simclr):
            # all name the same entry
            if other is not source or alias == entry.id:
                what = "its own id" if other is source else f"{'an id' if other.entry.id == written else 'an alias'} in {other.display}"
                problems.append(format_problem(
                    f"alias {quote(alias)} is already {what}{_case_note(alias, written)}", file=source.display,
                    line=doc.line_of(("aliases", index)), field=f"aliases[{index}]",
                ))
                clash = True
        if clash:
            refused.append((entry.id, source.display, doc))
            continue
        for name in (entry.id, *entry.aliases):
            names.setdefault(name.casefold(), (name, source))
        for alias in entry.aliases:
            aliases[alias] = entry.id
        sources[entry.id] = source
        if source.builtin:
            builtin_ids[entry.id] = source.display

    known_ids = list(sources)
    # an entry refused above has its relations and cell checked too: every problem shows in one run
    for entry_id, display, doc in [(s.entry.id, s.display, s.document) for s in sources.values()] + refused:
        targets, cell = _references(doc.data)
        for index, name in targets:
            target = resolve_name(name, sources, aliases)
            loc = ("relations", index, "target")
            if target is None and name not in attempted:
                problems.append(format_problem(
                    f"unknown entry '{name}'{_suggest_id([name], known_ids, aliases)}",
                    file=display, line=doc.line_of(loc), field=format_loc(loc),
                ))
            elif target == entry_id:
                problems.append(format_problem("an entry cannot relate to itself", file=display,
                                               line=doc.line_of(loc), field=format_loc(loc)))
        if table is not None:
            for axis, ids in (("row", [r.id for r in table.rows]), ("column", [c.id for c in table.columns])):
                value = cell.get(axis)
                if value is not None and value not in ids and value not in refused_axes[axis]:
                    loc = ("cell", axis)
                    problems.append(format_problem(
                        f"unknown {axis} '{value}'{suggest(value, ids) or '; expected one of ' + ', '.join(repr(i) for i in ids)}",
                        file=display, line=doc.line_of(loc), field=format_loc(loc),
                    ))

    checked_files.save()
    if problems:
        count = len(problems)
        raise IconError(f"{count} problem{'s' if count != 1 else ''} in the catalog", problems=problems)
    return Catalog(sources, table, table_path, aliases)

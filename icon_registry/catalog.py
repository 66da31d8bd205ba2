"""The catalog registry: load entries from the built-in catalog and your own folders.

::

    catalog = load_catalog()                   # built-in + $ICON_CATALOG folders
    catalog = load_catalog("my_losses/")       # ... + your folder (entries or a catalog root)
    catalog.list("*sne*")                       # ids whose id or alias matches the glob
    entry = catalog.get("simclr")               # Entry; unknown ids suggest the nearest ones
    catalog.table                               # TableSpec from catalog/table.yaml

A folder is either a catalog root (``methods/*.yaml`` and optionally ``table.yaml``) or a
plain folder of entry files (``*.yaml``/``*.yml``; a ``table.yaml`` there is the table).
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
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence, Union

from pydantic import BaseModel, ValidationError

from icon_registry.errors import IconError, close_matches, format_problem, quote, suggest
from icon_registry.yaml_io import Document, line_of, load_yaml

__all__ = [
    "Catalog",
    "ENV_VAR",
    "builtin_catalog_dir",
    "format_loc",
    "load_catalog",
    "validate_model",
    "validation_problems",
]

ENV_VAR = "ICON_CATALOG"
_YAML_SUFFIXES = (".yaml", ".yml")


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
# pydantic errors -> one line each
# ---------------------------------------------------------------------------------------


def format_loc(loc: Sequence) -> str:
    """('q', 'kernel', 'kind') -> 'q.kernel.kind'; ('claims', 0, 'kind') -> 'claims[0].kind'."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def _unwrap(annotation):
    """Strip Annotated/Optional/ForwardRef wrappers; return (annotation, discriminator or None)."""
    discriminator = None
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            for meta in annotation.__metadata__:
                disc = getattr(meta, "discriminator", None)
                if isinstance(disc, str):
                    discriminator = disc
            annotation = typing.get_args(annotation)[0]
            continue
        if origin is Union or (origin is not None and getattr(origin, "__name__", "") == "UnionType"):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation, discriminator


def _union_members(annotation) -> list:
    origin = typing.get_origin(annotation)
    if origin is Union or (origin is not None and getattr(origin, "__name__", "") == "UnionType"):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    import types as _types

    if isinstance(annotation, _types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return []


def _tag_of(model, discriminator: str):
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    info = model.model_fields.get(discriminator)
    if info is None:
        return None
    args = typing.get_args(info.annotation)
    return args[0] if len(args) == 1 else None


def _tagged(annotation, discriminator: Optional[str]) -> dict:
    """{tag: model} for a discriminated union annotation, else {}."""
    members = _union_members(annotation)
    if not members:
        return {}
    discriminator = discriminator or "kind"
    mapping = {}
    for member in members:
        member, _ = _unwrap(member)
        tag = _tag_of(member, discriminator)
        if tag is not None:
            mapping[tag] = member
    return mapping


@dataclass
class _Walk:
    clean: tuple  # loc without the union tags pydantic inserts
    node: Any  # annotation (or model class) at the end of loc, None if lost
    discriminator: Optional[str]
    branch: bool = False  # the error is about one member of a plain (smart) union


def _walk(model_cls, loc: Sequence) -> _Walk:
    """Follow a pydantic error loc through the model's annotations."""
    node: Any = model_cls
    discriminator = None
    clean = []
    branch = False
    for part in loc:
        if node is None:
            clean.append(part)
            continue
        node, disc = _unwrap(node)
        discriminator = disc or discriminator
        tags = _tagged(node, discriminator)
        if tags and isinstance(part, str) and part in tags:
            node, discriminator = tags[part], None  # a tag pydantic put into loc
            continue
        members = _union_members(node)
        if len(members) > 1 and not tags and isinstance(part, str):
            # a plain union (e.g. float | str): pydantic names the member it tried
            named = [m for m in members if getattr(_unwrap(m)[0], "__name__", None) == part]
            node, discriminator = (named[0] if named else None), None
            branch = True
            continue
        clean.append(part)
        origin = typing.get_origin(node)
        if isinstance(node, type) and issubclass(node, BaseModel):
            info = node.model_fields.get(part) if isinstance(part, str) else None
            if info is None:
                node = None
                continue
            node = info.annotation
            discriminator = info.discriminator if isinstance(info.discriminator, str) else None
            continue
        if origin in (list, tuple, set, frozenset, typing.List, Sequence) or origin is list:
            args = typing.get_args(node)
            node, discriminator = (args[0] if args else None), None
            continue
        if origin is dict:
            args = typing.get_args(node)
            node, discriminator = (args[1] if len(args) == 2 else None), None
            continue
        node = None
    if node is not None:
        node, disc = _unwrap(node)
        discriminator = disc or discriminator
    return _Walk(tuple(clean), node, discriminator, branch)


def _union_noun(tags: Iterable[str]) -> str:
    """'kernel', 'distribution' or 'claim' for the project's known unions."""
    tags = set(tags)
    try:
        from icon_registry.kernels import KERNELS

        if tags and tags <= set(KERNELS):
            return "kernel "
        from icon_registry.distributions import DISTRIBUTIONS

        if tags and tags <= set(DISTRIBUTIONS):
            return "distribution "
        from icon_registry.claims import CLAIM_CLASSES

        claim_kinds = {_tag_of(c, "kind") for c in CLAIM_CLASSES}
        if tags and tags <= claim_kinds:
            return "claim "
    except Exception:  # pragma: no cover - partial tree
        pass
    return ""


def _quoted_list(text: str) -> list[str]:
    return re.findall(r"'((?:[^'\\]|\\.)*)'", text or "")


def _describe(value) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return quote(value, 40)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def _join_choices(choices: Sequence[str]) -> str:
    return ", ".join(f"'{c}'" for c in choices)


_TYPE_WORDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping of fields",
    "model_attributes_type": "a mapping of fields",
    "none_required": "nothing (null)",
}

_BOUNDS = {
    "greater_than": (">", "gt"),
    "greater_than_equal": (">=", "ge"),
    "less_than": ("<", "lt"),
    "less_than_equal": ("<=", "le"),
}

_ID_PATTERNS = {r"^[a-z][a-z0-9_]*$"}


def _value_path(data, message: str) -> Optional[tuple]:
    """For a validator's message naming a value ('tauu'), the path of that value inside ``data``,
    so that the error points at the line that holds it (breadth-first, small budget)."""
    names = set(_quoted_list(message))
    if not names or not isinstance(data, (dict, list)):
        return None
    queue = [((), data)]
    budget = 10_000
    while queue and budget > 0:
        path, node = queue.pop(0)
        budget -= 1
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            if isinstance(value, str) and value in names:
                return path + (key,)
            if isinstance(value, (dict, list)):
                queue.append((path + (key,), value))
    return None


def _message(model_cls, error: dict) -> tuple:
    """(clean loc, one-line message[, loc for the line]) for one pydantic error dict."""
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    raw_input = error.get("input")
    walk = _walk(model_cls, error.get("loc", ()))
    loc = walk.clean
    if kind == "union_tag_invalid":
        tags = _quoted_list(ctx.get("expected_tags", ""))
        if not tags:
            tags = sorted(_tagged(walk.node, walk.discriminator))
        disc = (_quoted_list(ctx.get("discriminator", "")) or [walk.discriminator or "kind"])[0]
        tag = ctx.get("tag", "")
        noun = _union_noun(tags)
        hint = suggest(tag, tags) or f"; expected one of {_join_choices(tags)}"
        return loc + (disc,), f"unknown {noun}{disc} {quote(tag)}{hint}"
    if kind == "union_tag_not_found":
        disc = (_quoted_list(ctx.get("discriminator", "")) or [walk.discriminator or "kind"])[0]
        tags = list(_tagged(walk.node, walk.discriminator))
        noun = _union_noun(tags)
        if not isinstance(raw_input, dict):
            return loc, f"expected a mapping with '{disc}', got {_describe(raw_input)}"
        choices = f" (the {noun}kind: one of {_join_choices(tags)})" if tags else ""
        return loc, f"missing field '{disc}'{choices}"
    if kind == "extra_forbidden":
        name = loc[-1] if loc else "?"
        parent = _walk(model_cls, error.get("loc", ())[:-1]).node
        fields = list(parent.model_fields) if isinstance(parent, type) and issubclass(parent, BaseModel) else []
        return loc[:-1], f"unknown field {quote(name)}{suggest(str(name), fields)}", loc
    if kind == "missing":
        name = loc[-1] if loc else "?"
        return loc[:-1], f"missing field '{name}'"
    if kind in ("literal_error", "enum"):
        choices = _quoted_list(ctx.get("expected", ""))
        value = raw_input
        hint = suggest(str(value), choices) if isinstance(value, str) else ""
        return loc, f"{_describe(value)} is not one of {_join_choices(choices)}{hint}"
    if kind == "value_error" or kind == "assertion_error":
        msg = str(ctx.get("error") or error.get("msg", ""))
        for prefix in ("Value error, ", "Assertion failed, "):
            if msg.startswith(prefix):
                msg = msg[len(prefix):]
        found = _value_path(error.get("input"), msg)
        if found is not None:
            return loc + found, msg
        return loc, msg
    if kind in _TYPE_WORDS:
        return loc, f"expected {_TYPE_WORDS[kind]}, got {_describe(raw_input)}"
    if kind in _BOUNDS:
        op, key = _BOUNDS[kind]
        return loc, f"must be {op} {ctx.get(key)}, got {_describe(raw_input)}"
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern", "")
        if pattern in _ID_PATTERNS:
            return loc, f"{_describe(raw_input)} is not a valid id (lowercase letters, digits and '_', starting with a letter)"
        return loc, f"{_describe(raw_input)} does not match the pattern {pattern}"
    if kind in ("too_short", "string_too_short"):
        minimum = ctx.get("min_length", 1)
        if minimum == 1:
            return loc, "must not be empty"
        return loc, f"needs at least {minimum} items, got {ctx.get('actual_length')}"
    if kind in ("too_long", "string_too_long"):
        return loc, f"at most {ctx.get('max_length')} allowed, got {ctx.get('actual_length', 'more')}"
    if kind == "finite_number":
        return loc, f"must be a finite number, got {_describe(raw_input)}"
    msg = error.get("msg", kind)
    if msg.startswith("Input should be "):
        msg = "should be " + msg[len("Input should be "):] + f", got {_describe(raw_input)}"
    return loc, msg


def validation_problems(model_cls, err: ValidationError, lines: Optional[dict] = None, file=None) -> list[str]:
    """One ``file:line: field.path: message`` line per pydantic error, in file order."""
    rows = []
    seen = set()
    branches: dict[tuple, list[str]] = {}  # clean loc -> messages of a plain union's members
    for error in err.errors(include_url=False):
        loc, message, *rest = _message(model_cls, error)
        line_loc = rest[0] if rest else loc
        if _walk(model_cls, error.get("loc", ())).branch:
            if loc in branches:
                branches[loc].append(message)
                continue
            branches[loc] = [message]
        rows.append([line_loc, loc, message])
    for row in rows:
        messages = branches.get(row[1])
        if messages and len(messages) > 1:
            row[2] = _merge_branches(messages)
    out = []
    for line_loc, loc, message in rows:
        line = line_of(lines or {}, line_loc) if lines is not None else None
        text = format_problem(message, file=file, line=line, field=format_loc(loc) or None)
        if text not in seen:
            seen.add(text)
            out.append((line or 0, len(out), text))
    return [text for _, _, text in sorted(out)]


def _merge_branches(messages: list[str]) -> str:
    """'expected a number, got x' + 'expected a string, got x' -> 'expected a number or a string, got x'."""
    expected, got = [], None
    for message in messages:
        match = re.match(r"^expected (.*), got (.*)$", message)
        if not match:
            return messages[0]
        if match.group(1) not in expected:
            expected.append(match.group(1))
        got = match.group(2)
    return f"expected {' or '.join(expected)}, got {got}"


def validate_model(model_cls, data, lines: Optional[dict] = None, file=None, *, entry: Optional[str] = None):
    """``model_cls.model_validate(data)`` whose failures are one IconError with one line per problem.

    ``lines`` maps field paths to line numbers (``yaml_io.Document.lines``); ``file`` names the
    file in messages. Any other exception from a validator becomes an IconError too (and
    names itself as a bug), so loading a catalog only ever raises IconError.
    """
    file = None if file is None else str(file)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else _describe(data)
        raise IconError.at(f"expected a mapping of fields, got {got}", file=file, line=1, entry=entry)
    try:
        return model_cls.model_validate(data)
    except ValidationError as err:
        problems = validation_problems(model_cls, err, lines, file)
        raise IconError(problems[0] if len(problems) == 1 else f"{len(problems)} problems in {file or 'input'}",
                        problems=problems, file=file, entry=entry) from None
    except IconError:
        raise
    except RecursionError:
        raise IconError.at("nested too deeply", file=file, line=1, entry=entry) from None
    except Exception as err:  # a validator that raised something else: still one clear line
        raise IconError.at(
            f"cannot validate: {type(err).__name__}: {err} (a bug in icon-registry; please report it)",
            file=file,
            line=1,
            entry=entry,
        ) from None


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
        return name in self._sources or name in self._aliases

    def __getitem__(self, name):
        return self.get(name)

    def __repr__(self) -> str:
        return f"<Catalog: {len(self)} entries>"

    @property
    def ids(self) -> list[str]:
        return list(self._sources)

    def resolve(self, name: str) -> str:
        """The entry id for an id or alias (IconError with suggestions if unknown)."""
        if not isinstance(name, str):
            raise IconError(f"entry ids are strings, got {type(name).__name__}", argument="id")
        if name in self._sources:
            return name
        if name in self._aliases:
            return self._aliases[name]
        hint = _suggest_id(name, list(self._sources), self._aliases)
        hint = hint or ("; the catalog is empty" if not self._sources else "; see `icon list`")
        raise IconError(f"unknown entry {quote(name)}{hint}", entry=name, argument="id")

    def get(self, name: str):
        """The Entry for an id or alias."""
        return self._sources[self.resolve(name)].entry

    def list(self, pattern: Union[str, Sequence[str]] = "*") -> list[str]:
        """Sorted ids whose id or any alias matches the glob(s) (case-insensitive, like timm.list_models)."""
        patterns = [pattern] if isinstance(pattern, str) else list(pattern)
        patterns = [p.lower() for p in patterns] or ["*"]
        found = []
        for entry_id, source in self._sources.items():
            names = [entry_id, *getattr(source.entry, "aliases", [])]
            if any(fnmatch.fnmatchcase(n.lower(), p) for n in names for p in patterns):
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
        return self._sources[self.resolve(name)].builtin

    def entries(self) -> list:
        return list(self)


def _suggest_id(name: str, ids: list, aliases: dict) -> str:
    """'; did you mean ...?' over ids and aliases, reported as ids, each once."""
    found = []
    for match in close_matches(name, list(ids) + list(aliases)):
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


def _entry_files(folder: Path) -> tuple[list[Path], Optional[Path], list[str]]:
    """(entry files, table file, layout problems) of a catalog root or a plain folder of entries.

    Entries one level too deep are never skipped in silence: a folder with no entries of its
    own whose subfolders hold .yaml files, and entry files beside a root's methods/, are
    problems that say where the entries should be."""
    methods = folder / "methods"
    table = folder / "table.yaml"
    top = sorted(p for p in folder.iterdir() if p.suffix in _YAML_SUFFIXES and not p.name.startswith(".")
                 and p.name not in ("table.yaml", "table.yml"))
    problems = []
    if methods.is_dir():
        files = sorted(p for p in methods.iterdir() if p.suffix in _YAML_SUFFIXES and not p.name.startswith("."))
        if top:
            problems.append(format_problem(
                f"{_names(top)} beside methods/ {'is' if len(top) == 1 else 'are'} not loaded: a catalog root "
                "keeps its entries in methods/ (move them there, or pass a folder of entries alone)", file=_display(folder)))
        return files, (table if table.is_file() else None), problems
    if not top:
        deeper = {sub: n for sub in sorted(folder.iterdir()) if sub.is_dir() and not sub.name.startswith(".")
                  and (n := sum(1 for p in sub.iterdir() if p.suffix in _YAML_SUFFIXES))}
        if deeper:
            where = ", ".join(f"{sub.name}/ ({n} .yaml file{'s' if n != 1 else ''})" for sub, n in deeper.items())
            first = next(iter(deeper))
            problems.append(format_problem(
                f"no entries here, but {where} one level deeper: pass the folder that holds the entries "
                f"(--catalog {_display(first)}), or name it methods/ to make {_display(folder)} a catalog root",
                file=_display(folder)))
    return top, (table if table.is_file() else None), problems


def _names(paths: list) -> str:
    shown = ", ".join(p.name for p in paths[:3])
    return shown + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


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
            if root.is_dir():
                candidates = [root / "table.yaml", *(root / "methods").glob("*.y*ml"), *root.glob("*.y*ml")]
            else:
                candidates = [root]
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
    every problem found. A catalog whose files have not changed is returned from a cache."""
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
    from icon_registry.schema import Entry, TableSpec

    problems: list[str] = []
    sources: dict[str, _Source] = {}
    builtin_ids: dict[str, str] = {}
    tables: list[tuple[Any, Path, Document]] = []
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
            files, table_file, layout = _entry_files(root)
            problems.extend(layout)
        elif root.suffix in _YAML_SUFFIXES:
            files, table_file = ([], root) if root.name in ("table.yaml", "table.yml") else ([root], None)
        else:
            problems.append(format_problem(f"not a folder or a .yaml file (from {origin})", file=root))
            continue
        if table_file is not None:
            try:
                document = load_yaml(table_file, display=_display(table_file))
                table = validate_model(TableSpec, document.data, document.lines, document.file)
                tables.append((table, table_file, document))
            except IconError as err:
                problems.extend(err.problems)
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
            try:
                entry = validate_model(Entry, data, document.lines, display)
            except IconError as err:
                if stem_problem:
                    problems.append(stem_problem)
                problems.extend(err.problems)
                continue
            if stem_problem:
                problems.append(stem_problem)
                continue
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
    names: dict[str, _Source] = {}
    for source in loaded:
        entry, doc = source.entry, source.document
        if entry.id in names:
            other = names[entry.id]
            if other.entry.id != entry.id:
                message = f"id '{entry.id}' is already an alias of '{other.entry.id}' ({other.display})"
            elif other.builtin and not source.builtin:
                message = f"id '{entry.id}' is already a built-in entry ({other.display}); choose another id"
            else:
                message = f"duplicate id '{entry.id}' (also in {other.display})"
            problems.append(format_problem(message, file=source.display, line=doc.line_of(("id",)), field="id"))
            continue
        clash = False
        for index, alias in enumerate(entry.aliases):
            if alias in names or alias == entry.id:
                other = names.get(alias, source)
                what = "its own id" if other is source else f"{'an id' if other.entry.id == alias else 'an alias'} in {other.display}"
                problems.append(format_problem(
                    f"alias {quote(alias)} is already {what}", file=source.display,
                    line=doc.line_of(("aliases", index)), field=f"aliases[{index}]",
                ))
                clash = True
        if clash:
            continue
        names[entry.id] = source
        for alias in entry.aliases:
            names[alias] = source
            aliases[alias] = entry.id
        sources[entry.id] = source
        if source.builtin:
            builtin_ids[entry.id] = source.display

    known_ids = list(sources)
    for source in sources.values():
        entry, doc = source.entry, source.document
        for index, relation in enumerate(entry.relations):
            target = relation.target
            if target in aliases:
                target = aliases[target]
            if target not in sources and target not in attempted:
                loc = ("relations", index, "target")
                problems.append(format_problem(
                    f"unknown entry '{relation.target}'{_suggest_id(relation.target, known_ids, aliases)}",
                    file=source.display, line=doc.line_of(loc), field=format_loc(loc),
                ))
            elif target == entry.id:
                loc = ("relations", index, "target")
                problems.append(format_problem("an entry cannot relate to itself", file=source.display,
                                               line=doc.line_of(loc), field=format_loc(loc)))
        if table is not None:
            for axis, ids in (("row", [r.id for r in table.rows]), ("column", [c.id for c in table.columns])):
                value = getattr(entry.cell, axis)
                if value not in ids:
                    loc = ("cell", axis)
                    problems.append(format_problem(
                        f"unknown {axis} '{value}'{suggest(value, ids) or '; expected one of ' + ', '.join(repr(i) for i in ids)}",
                        file=source.display, line=doc.line_of(loc), field=format_loc(loc),
                    ))

    if problems:
        count = len(problems)
        raise IconError(f"{count} problem{'s' if count != 1 else ''} in the catalog", problems=problems)
    return Catalog(sources, table, table_path, aliases)

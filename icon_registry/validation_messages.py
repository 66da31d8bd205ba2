"""Pydantic validation errors as one line each: ``file:line: field.path: message``.

``validate_model(model_cls, data, lines, file)`` validates a mapping read from YAML and turns
every pydantic error into a line that names the file, the line, the field path and what was
expected, in the catalog's own words (discriminated unions name the kinds they accept and
suggest the nearest one; bounds, types and id patterns read as sentences)::

    catalog/methods/simclr.yaml:12: q.kernel.kind: unknown kernel kind 'gausian'; did you mean 'gaussian'?

The catalog registry (``icon_registry.catalog``) validates every entry and table through it.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence, Union

from pydantic import BaseModel, ValidationError

from icon_registry.errors import IconError, format_problem, quote, shorten, suggest
from icon_registry.yaml_io import line_of

__all__ = ["data_loc", "format_loc", "validate_model", "validation_problems", "value_problem"]


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
        return shorten(repr(value), 40)
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


def data_loc(model_cls, loc: Sequence) -> tuple:
    """A pydantic error loc as a path into the data: without the tags pydantic puts in for a union
    (('q', 'normalize', 'kernel', 'gaussian', 'scale') -> ('q', 'kernel', 'scale'))."""
    return _walk(model_cls, loc).clean


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
    if kind == "string_too_long":
        return loc, f"at most {ctx.get('max_length')} characters, got {len(raw_input)}"
    if kind == "too_long":
        return loc, f"at most {ctx.get('max_length')} allowed, got {ctx.get('actual_length', 'more')}"
    if kind == "finite_number":
        return loc, f"must be a finite number, got {_describe(raw_input)}"
    msg = error.get("msg", kind)
    if msg.startswith("Input should be "):
        msg = "should be " + msg[len("Input should be "):] + f", got {_describe(raw_input)}"
    return loc, msg


def value_problem(annotation, value) -> Optional[str]:
    """What is wrong with ``value`` as an ``annotation`` (e.g. ``schema.Id``), in the words
    ``icon validate`` uses for a field of that type; None when it is fine."""
    from pydantic import TypeAdapter

    try:
        TypeAdapter(annotation).validate_python(value)
    except ValidationError as err:
        return _message(BaseModel, err.errors(include_url=False)[0])[1]
    return None


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


def validate_model(model_cls, data, lines: Optional[dict] = None, file=None, *, entry: Optional[str] = None,
                   context: Optional[dict] = None, options: Optional[dict] = None):
    """``model_cls.model_validate(data)`` whose failures are one IconError with one line per problem.

    ``lines`` maps field paths to line numbers (``yaml_io.Document.lines``); ``file`` names the
    file in messages; without either (data not read from a file) the lines are ``field: message``.
    ``options`` go to pydantic (strict, from_attributes). Any other exception from a validator
    becomes an IconError too (and names itself as a bug), so loading a catalog only ever raises
    IconError.
    """
    file = None if file is None else str(file)
    from_text = lines is not None or file is not None
    start = 1 if from_text else None  # a whole-document problem is at its first line
    if not isinstance(data, dict):
        got = "an empty file" if data is None and from_text else _describe(data)
        raise IconError.at(f"expected a mapping of fields, got {got}", file=file, line=start, entry=entry)
    try:
        # pydantic's own validator: a model's model_validate may itself come through here (schema.Entry)
        return model_cls.__pydantic_validator__.validate_python(data, context=context, **(options or {}))
    except ValidationError as err:
        problems = validation_problems(model_cls, err, lines, file)
        raise IconError(problems[0] if len(problems) == 1 else f"{len(problems)} problems in {file or 'input'}",
                        problems=problems, file=file, entry=entry) from None
    except IconError:
        raise
    except RecursionError:
        raise IconError.at("nested too deeply", file=file, line=start, entry=entry) from None
    except Exception as err:  # a validator that raised something else: still one clear line
        raise IconError.at(
            f"cannot validate: {type(err).__name__}: {err} (a bug in icon-registry; please report it)",
            file=file,
            line=start,
            entry=entry,
        ) from None

"""Safe YAML loading with line numbers and limits for hostile input.

``load_yaml(path)`` / ``load_yaml_text(text)`` return a ``Document``: the plain data
(dicts, lists, str, int, float, bool, None) and ``lines``, a map from field path
(a tuple such as ``("q", "kernel", "kind")``, list items as ints) to the 1-based line
where that field's key (or list item) starts. ``line_of(loc)`` finds the line for a
pydantic error ``loc`` (the longest known prefix).

The data is built from the YAML event stream by a small iterative builder, so that
nothing is ever constructed from a tag and nothing recurses on the input's nesting:

- only the standard scalar, mapping and sequence tags are accepted (``!!python/object``,
  ``!!binary``, ``!!set``, application tags ... are rejected with the tag named);
- nesting deeper than ``MAX_DEPTH`` (64) is rejected while parsing, before any deeper
  level is read;
- aliases are allowed, but their expanded size is budgeted (``MAX_ALIAS_NODES``), so an
  alias bomb ("billion laughs") is rejected after a few thousand nodes;
- keys are the text written (``1:`` is the key '1', not the int); duplicate keys and
  non-scalar keys are errors; ``<<`` merge keys work;
- files over ``MAX_BYTES`` (1 MiB) are rejected from their size, before reading; only
  regular files are opened (a FIFO or device never blocks the loader);
- bytes that are not UTF-8 are reported with their byte offset and line;
- one document per file;
- plain scalars like ``1e-4`` are floats (YAML 1.2), not strings as in YAML 1.1.

Every failure is an ``IconError`` naming the file and line.
"""

from __future__ import annotations

import bisect
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import yaml

from icon_registry.errors import IconError, quote

__all__ = [
    "Document",
    "MAX_ALIAS_NODES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "dump_yaml",
    "line_of",
    "load_yaml",
    "load_yaml_text",
]

MAX_BYTES = 1 << 20  # 1 MiB per file
MAX_DEPTH = 64  # nested mappings/sequences
MAX_ALIAS_NODES = 10_000  # nodes reachable through aliases, counted per use
MAX_NODES = 500_000  # nodes in one document (aliases excluded)

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_YAML_TAG + t for t in ("str", "int", "float", "bool", "null")}
_MAP_TAG = _YAML_TAG + "map"
_SEQ_TAG = _YAML_TAG + "seq"

_FLOAT_12 = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$")
Path_ = tuple  # a field path: str keys and int list indices


@dataclass
class Document:
    """Plain data from one YAML file plus the line of every field path."""

    data: Any
    lines: dict = field(default_factory=dict)
    file: Optional[str] = None

    def line_of(self, loc: Sequence) -> Optional[int]:
        return line_of(self.lines, loc)


def line_of(lines: dict, loc: Sequence) -> Optional[int]:
    """The line of the longest prefix of ``loc`` that the line map knows (``None`` if none)."""
    loc = tuple(loc)
    for end in range(len(loc), -1, -1):
        line = lines.get(loc[:end])
        if line is not None:
            return line
    return None


def _show_tag(tag: str) -> str:
    return "!!" + tag[len(_YAML_TAG):] if tag.startswith(_YAML_TAG) else tag


def _mark_lines(text: str):
    """``line(mark)``: the 1-based line of a PyYAML mark, counting the line breaks that editors,
    grep and git count (\\n, \\r\\n, \\r). PyYAML also breaks lines at NEL, LS and PS (U+0085,
    U+2028, U+2029): one of those in a value would shift the line of every problem after it."""
    if not any(char in text for char in "\x85\u2028\u2029"):
        return lambda mark: mark.line + 1
    starts = [match.end() for match in re.finditer(r"\r\n|\r|\n", text)]
    return lambda mark: bisect.bisect_right(starts, mark.index) + 1


class _Frame:
    __slots__ = ("kind", "obj", "path", "line", "key", "key_line", "has_key", "size", "anchor", "first_line", "merges")

    def __init__(self, kind, path, line, anchor):
        self.kind = kind
        self.obj = {} if kind == "map" else []
        self.path = path
        self.line = line
        self.anchor = anchor
        self.has_key = False
        self.key = None
        self.key_line = None
        self.size = 1
        self.first_line = {}
        self.merges = []


class _Builder:
    """Turns the event stream of one YAML document into plain data, iteratively."""

    def __init__(self, loader, file, text):
        self.loader = loader
        self.file = file
        self.line = _mark_lines(text)
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.lines: dict = {(): 1}
        self.alias_nodes = 0
        self.nodes = 0
        self.root = None
        self.done = False

    # -- errors ---------------------------------------------------------------------
    def fail(self, message: str, mark=None, line=None) -> IconError:
        if line is None and mark is not None:
            line = self.line(mark)
        return IconError.at(message, file=self.file, line=line)

    # -- structure ------------------------------------------------------------------
    def child_path(self) -> tuple:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if top.kind == "seq":
            return top.path + (len(top.obj),)
        return top.path + (top.key,)

    def expecting_key(self) -> bool:
        return bool(self.stack) and self.stack[-1].kind == "map" and not self.stack[-1].has_key

    def start(self, kind, event):
        if self.expecting_key():
            raise self.fail("mapping keys must be plain scalars, not a " + ("mapping" if kind == "map" else "list"),
                            event.start_mark)
        if len(self.stack) >= MAX_DEPTH:
            raise self.fail(f"nesting deeper than {MAX_DEPTH} levels", event.start_mark)
        self.count(event.start_mark)
        line = self.line(event.start_mark)
        path = self.child_path()
        if self.stack and self.stack[-1].kind == "seq":
            self.lines[path] = line
        self.stack.append(_Frame(kind, path, line, event.anchor))

    def end(self, event):
        frame = self.stack.pop()
        if frame.kind == "map" and frame.merges:
            for merged in frame.merges:  # explicit keys win; earlier merges win over later ones
                for key, value in merged.items():
                    if key not in frame.obj:
                        frame.obj[key] = value
        if frame.anchor is not None:
            self.anchors[frame.anchor] = (frame.obj, frame.size)
        self.add(frame.obj, frame.size, frame.line, event)

    def count(self, mark):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(f"more than {MAX_NODES} YAML nodes in one file", mark)

    def add(self, value, size, line, event, is_merge_key=False):
        """Attach a finished node (scalar, alias or collection) to its parent."""
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        top.size += size
        if top.kind == "seq":
            top.obj.append(value)
            return
        if not top.has_key:
            if isinstance(value, (dict, list)):
                raise self.fail("mapping keys must be plain scalars", line=line)
            key = "<<" if is_merge_key else value
            if not is_merge_key and key in top.first_line:
                raise self.fail(
                    f"duplicate key {quote(key, 40)} (first at line {top.first_line[key]})", line=line
                )
            if not is_merge_key:
                top.first_line[key] = line
                self.lines[top.path + (key,)] = line
            top.key, top.key_line, top.has_key = (_MERGE if is_merge_key else key), line, True
            return
        key = top.key
        top.has_key = False
        top.key = None
        if key is _MERGE:
            merged = value if isinstance(value, list) else [value]
            if not all(isinstance(m, dict) for m in merged):
                raise self.fail("'<<' merges a mapping or a list of mappings", line=top.key_line)
            top.merges.extend(merged)
            return
        top.obj[key] = value

    # -- events ---------------------------------------------------------------------
    def scalar(self, event):
        self.count(event.start_mark)
        tag = event.tag
        if tag in (None, "!"):
            tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        elif tag not in _SCALAR_TAGS:
            raise self.fail(f"YAML tag {quote(_show_tag(tag))} is not allowed (plain data only)", event.start_mark)
        line = self.line(event.start_mark)
        if tag == _YAML_TAG + "merge" and self.expecting_key():
            self.add(None, 1, line, event, is_merge_key=True)
            return
        if self.expecting_key():
            # a key names a field or a parameter: it is the text written, so `1:` and `null:` are
            # unknown fields '1' and 'null' (an int key equals True and sorts against no string)
            value = event.value
        else:
            if tag == _YAML_TAG + "str" and not event.style and event.tag is None and _FLOAT_12.match(event.value):
                tag = _YAML_TAG + "float"  # YAML 1.2 floats: 1e-4 is a number, not the string '1e-4'
            value = self.construct(tag, event)
        if event.anchor is not None:
            self.anchors[event.anchor] = (value, 1)
        if self.stack and self.stack[-1].kind == "seq":
            self.lines[self.child_path()] = line
        self.add(value, 1, line, event)

    def construct(self, tag, event):
        text = event.value
        if tag in (_YAML_TAG + "str", _YAML_TAG + "timestamp", _YAML_TAG + "merge", _YAML_TAG + "value"):
            return text
        node = yaml.ScalarNode(tag, text, event.start_mark, event.end_mark, event.style)
        try:
            if tag == _YAML_TAG + "null":
                return None
            if tag == _YAML_TAG + "bool":
                return self.loader.construct_yaml_bool(node)
            if tag == _YAML_TAG + "int":
                return self.loader.construct_yaml_int(node)
            if tag == _YAML_TAG + "float":
                return self.loader.construct_yaml_float(node)
        except Exception:  # e.g. an int with 100000 digits, '!!int abc'
            pass
        raise self.fail(f"cannot read {quote(text, 40)} as {_show_tag(tag)}", event.start_mark)

    def alias(self, event):
        if event.anchor not in self.anchors:
            raise self.fail(f"unknown alias '*{event.anchor}'", event.start_mark)
        value, size = self.anchors[event.anchor]
        self.alias_nodes += size
        if self.alias_nodes > MAX_ALIAS_NODES:
            raise self.fail(
                f"aliases expand to more than {MAX_ALIAS_NODES} nodes (an alias bomb?); write the data out",
                event.start_mark,
            )
        line = self.line(event.start_mark)
        if self.expecting_key() and not isinstance(value, str):
            raise self.fail(f"mapping keys are names: write the key out instead of the alias '*{event.anchor}'",
                            line=line)
        if self.stack and self.stack[-1].kind == "seq":
            self.lines[self.child_path()] = line
        self.add(value, size, line, event)

    def collection(self, event, kind):
        tag = event.tag
        expected = _MAP_TAG if kind == "map" else _SEQ_TAG
        if tag not in (None, "!", expected):
            raise self.fail(f"YAML tag {quote(_show_tag(tag))} is not allowed (plain data only)", event.start_mark)
        self.start(kind, event)


class _Merge:
    def __repr__(self):
        return "<<"


_MERGE = _Merge()


def _parse(text: str, file: Optional[str]) -> Document:
    loader = _Loader(text)
    builder = _Builder(loader, file, text)
    documents = 0
    try:
        while True:
            event = loader.get_event()
            if event is None:
                break
            kind = type(event)
            if kind is yaml.ScalarEvent:
                builder.scalar(event)
            elif kind is yaml.MappingStartEvent:
                builder.collection(event, "map")
            elif kind is yaml.SequenceStartEvent:
                builder.collection(event, "seq")
            elif kind in (yaml.MappingEndEvent, yaml.SequenceEndEvent):
                builder.end(event)
            elif kind is yaml.AliasEvent:
                builder.alias(event)
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise builder.fail("more than one YAML document ('---') in one file", event.start_mark)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = err.problem or err.context or "invalid YAML"
        if err.context and err.problem:
            problem = f"{err.context}, {err.problem}" if "while" not in err.context else f"{err.problem} ({err.context})"
        line = builder.line(mark) if mark else None
        raise IconError.at(f"invalid YAML: {problem}", file=file, line=line) from None
    except yaml.reader.ReaderError as err:
        position = err.position if isinstance(err.position, int) else 0
        line = text.count("\n", 0, position) + 1
        code = err.character if isinstance(err.character, int) else ord(str(err.character)[:1] or "?")
        raise IconError.at(
            f"invalid YAML: control character U+{code:04X} at character offset {position} is not allowed",
            file=file,
            line=line,
        ) from None
    except yaml.YAMLError as err:
        message = " ".join(str(err).split())
        raise IconError.at(f"invalid YAML: {message}", file=file) from None
    except RecursionError:  # pragma: no cover - the builder does not recurse
        raise IconError.at(f"nesting deeper than {MAX_DEPTH} levels", file=file) from None
    finally:
        dispose = getattr(loader, "dispose", None)
        if dispose is not None:
            dispose()
    return Document(builder.root, builder.lines, file)


def _decode(raw: bytes, file: Optional[str]) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        byte = raw[err.start : err.start + 1].hex()
        raise IconError.at(
            f"not UTF-8: invalid byte 0x{byte} at byte offset {err.start}", file=file, line=line
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        offset = raw.index(b"\x00")
        raise IconError.at(
            f"NUL byte at byte offset {offset}: not a text file", file=file, line=raw.count(b"\n", 0, offset) + 1
        )
    return text


def load_yaml_text(text: Union[str, bytes], *, file=None, max_bytes: int = MAX_BYTES) -> Document:
    """Parse YAML given as text (or bytes) with all the limits of ``load_yaml``."""
    file = None if file is None else str(file)
    if not isinstance(text, (str, bytes, bytearray)):
        raise IconError.at(f"expected YAML text (str or bytes), got {type(text).__name__}", file=file)
    if isinstance(text, (bytes, bytearray)):
        raw = bytes(text)
        if len(raw) > max_bytes:
            raise _too_big(len(raw), max_bytes, file)
        text = _decode(raw, file)
    else:
        if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
            raise _too_big(len(text.encode("utf-8", "surrogatepass")), max_bytes, file)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            raise IconError.at(f"not valid Unicode text at character {err.start}", file=file) from None
    return _parse(text, file)


def _too_big(size: int, limit: int, file) -> IconError:
    return IconError.at(f"file is {size} bytes; the limit is {limit} bytes ({limit / 2**20:g} MiB)", file=file)


def load_yaml(path, *, display=None, max_bytes: int = MAX_BYTES) -> Document:
    """Read and parse one YAML file. ``display`` is the name used in messages (default: path)."""
    path = Path(path)
    name = str(display if display is not None else path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise IconError.at("no such file", file=name) from None
    except OSError as err:
        raise IconError.at(f"cannot read: {err.strerror or err}", file=name) from None
    if stat.S_ISDIR(info.st_mode):
        raise IconError.at("is a directory, expected a YAML file", file=name)
    if not stat.S_ISREG(info.st_mode):
        raise IconError.at("not a regular file", file=name)
    if info.st_size > max_bytes:
        raise _too_big(info.st_size, max_bytes, name)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as err:
        raise IconError.at(f"cannot read: {err.strerror or err}", file=name) from None
    if len(raw) > max_bytes:
        raise _too_big(len(raw), max_bytes, name)
    return _parse(_decode(raw, name), name)


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
    pass


def _str_presenter(dumper, value):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_presenter)


def dump_yaml(data) -> str:
    """Plain data as readable block YAML (key order kept, multi-line strings as blocks)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)

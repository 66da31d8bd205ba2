"""The reference pages, generated at build time: the Python API from the docstrings of the public
names, and the command line from the argparse parser (``icon_registry.cli.build_parser``), so a
new function or command appears without anyone editing a page.

Each generator returns (Markdown, problems): a problem is something the reference cannot say
(a public name without a docstring, a parameter its docstring never mentions, an option without
help), reported as a build warning (``icon site build --strict`` makes it an error).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import textwrap
import types
import typing
from dataclasses import dataclass, field
from typing import Callable, Optional

from icon_registry.docs_site.escape import code, fence, inline

# ----------------------------------------------------------------- docstrings

_RST_CODE = re.compile(r"``(.+?)``")
_PARAMETER_LINE = re.compile(r"``\w+``( and ``\w+``)?:")


def docstring_markdown(doc: str) -> str:
    """A docstring as Markdown: paragraphs (``code`` and `code` kept as code), lists of "- "
    items, and indented blocks (examples) as Python code. The text is escaped like catalog
    text: a docstring never becomes markup."""
    doc = inspect.cleandoc(doc or "")
    blocks, current = [], []
    for line in doc.split("\n") + [""]:
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    out = []
    for block in blocks:
        if all(line.startswith("    ") for line in block):
            out.append(fence("\n".join(line[4:] for line in block), "python"))
            continue
        text_lines = block
        code_start = next((k for k, line in enumerate(block) if line.startswith("    ") and k > 0
                           and block[k - 1].rstrip().endswith("::")), None)
        if code_start is not None:  # "Example::" then an indented block in the same paragraph
            text_lines = block[:code_start]
            text_lines[-1] = text_lines[-1].rstrip()[:-1]
        if all(line.lstrip().startswith("- ") or line.startswith("  ") for line in text_lines) and text_lines[0].startswith("- "):
            items: list[str] = []
            for line in text_lines:
                if line.lstrip().startswith("- ") and not line.startswith("   "):
                    items.append(line.lstrip()[2:])
                else:
                    items[-1] += " " + line.strip()
            out.append("\n".join(f"- {_inline_code(item)}" for item in items) + "\n")
        elif sum(bool(_PARAMETER_LINE.match(line)) for line in text_lines) > 1 and _PARAMETER_LINE.match(text_lines[0]):
            items = []  # "``name``: meaning" lines: one list item each
            for line in text_lines:
                if _PARAMETER_LINE.match(line):
                    items.append(line.strip())
                else:
                    items[-1] += " " + line.strip()
            out.append("\n".join(f"- {_inline_code(item)}" for item in items) + "\n")
        else:
            paragraph = " ".join(line.strip() for line in text_lines)
            paragraph = paragraph[:-1] if paragraph.endswith("::") else paragraph  # reST's "Example::"
            out.append(_inline_code(paragraph) + "\n")
        if code_start is not None:
            out.append(fence("\n".join(line[4:] for line in block[code_start:]), "python"))
    return "\n".join(out)


def _inline_code(text: str) -> str:
    """Escaped text with ``code`` and `code` spans as <code>."""
    text = _RST_CODE.sub(lambda m: "`" + m.group(1) + "`", text)
    pieces = re.split(r"`([^`]+)`", text)
    return "".join(code(piece) if k % 2 else inline(piece) for k, piece in enumerate(pieces))


def own_doc(obj) -> str:
    """The object's own docstring (not one inherited from pydantic's BaseModel or torch's Module)."""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


# ----------------------------------------------------------------- the Python API


@dataclass
class ApiSection:
    """One module's public names. ``strict``: every public method needs a docstring and every
    parameter of a function must be named in its docstring (a build warning otherwise); else
    methods without a docstring are left out."""

    module: str
    intro: str
    extra: dict[str, str] = field(default_factory=dict)  # name -> "module:attribute" of what a public name returns
    strict: bool = True


#: what the API reference documents: each module's __all__, and the classes its functions return
API = [
    ApiSection("icon_registry", "The package's public names (``icon_registry.__all__``)."),
    ApiSection("icon_registry.formula", "The formula language of ``loss.formula`` and the claims: parse, "
               "inspect, evaluate and typeset (``icon_registry.formula.__all__``).", strict=False),
]


def _resolve(module_name: str, name: str, extra: dict[str, str]):
    if name in extra:
        where, attribute = extra[name].split(":")
        return getattr(importlib.import_module(where), attribute)
    obj = getattr(importlib.import_module(module_name), name)
    if inspect.ismodule(obj) and callable(obj):  # a callable package (icon_registry.verify): the function it calls
        return getattr(obj, name)
    return obj


class _Shown:
    """An annotation shown as written (``from __future__ import annotations`` keeps them as strings)."""

    def __init__(self, annotation):
        text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
        self.text = text.strip("'\"")

    def __repr__(self) -> str:
        return self.text


def _signature(name: str, obj) -> str:
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return name
    empty = inspect.Parameter.empty
    params, star_said = [], False
    for p in signature.parameters.values():
        if p.name in ("self", "cls") and not params:
            continue
        if p.kind is p.KEYWORD_ONLY and not star_said:
            params.append("*")
        star_said = star_said or p.kind in (p.KEYWORD_ONLY, p.VAR_POSITIONAL)
        params.append(str(p if p.annotation is empty else p.replace(annotation=_Shown(p.annotation))))
    ret = "" if signature.return_annotation is empty else f" -> {_Shown(signature.return_annotation)!r}"
    one = f"{name}({', '.join(params)}){ret}"
    if len(one) <= 88:
        return one
    return f"{name}(\n" + "".join(f"    {p},\n" for p in params) + f"){ret}"


def _undocumented_parameters(obj, doc: str) -> list[str]:
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return []
    named = set(re.findall(r"`+(\w+)", doc))  # ``name`` or `name`: a parameter is named as code
    return [p.name for p in params if p.name not in ("self", "cls") and p.name not in named]


def _is_own(member, cls) -> bool:
    """A public member written in icon_registry (not inherited from torch, pydantic or object)."""
    target = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
    module = getattr(target, "__module__", "") or ""
    return module.startswith("icon_registry") and (callable(target) or isinstance(member, property))


#: methods of a framework base class that our classes override for the framework (torch's Module
#: printing, say): not part of our API, except the ones a user calls
FRAMEWORK_CALLED = {"forward"}


def _members(cls) -> list[tuple[str, object]]:
    """Public methods and properties written in icon_registry, own class first."""
    external = {name for klass in cls.__mro__ if not klass.__module__.startswith("icon_registry") for name in vars(klass)}
    seen, out = set(), []
    for klass in cls.__mro__:
        if not klass.__module__.startswith("icon_registry"):
            continue
        for name, member in vars(klass).items():
            if name.startswith("_") or name in seen or (name in external and name not in FRAMEWORK_CALLED):
                continue
            if _is_own(member, cls):
                seen.add(name)
                out.append((name, member))
    return out


def _function_block(title: str, name: str, obj, level: int, problems: list[str], where: str,
                    check_parameters: bool) -> list[str]:
    doc = own_doc(obj)
    L = [f"{'#' * level} `{title}` {{#{_anchor(where)}}}", "", fence(_signature(name, obj), "python")]
    if not doc:
        problems.append(f"API reference: {where} has no docstring")
        L += ["*Not documented yet.*", ""]
    else:
        L += [docstring_markdown(doc)]
        missing = _undocumented_parameters(obj, doc) if check_parameters else []
        if missing:
            problems.append(f"API reference: {where}: the docstring does not mention the parameter(s) {', '.join(missing)}")
    return L


def type_text(annotation) -> str:
    """A field's type as one writes its value: the values of a Literal, the members of a union
    joined by |, containers with what they hold, classes by name (``Literal``, ``Union`` or
    ``Optional`` alone say nothing of what YAML may hold there)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "None"
    if origin is typing.Annotated:  # pydantic's constraints and validators: not part of the type
        return type_text(args[0])
    if origin is typing.Literal:
        return " | ".join(repr(value) for value in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_text(member) for member in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', origin)}[{', '.join(type_text(arg) for arg in args)}]"
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def model_fields_table(cls, leave_out: tuple[str, ...] = ()) -> list[str]:
    """A pydantic model's fields (the keys its YAML takes) as a Markdown table, or [] for a class
    without fields."""
    fields = {name: info for name, info in (getattr(cls, "model_fields", None) or {}).items() if name not in leave_out}
    if not fields:
        return []
    lines = ["| Field | Type | Default | Description |", "|---|---|---|---|"]
    for name, info in fields.items():
        default = "required" if info.is_required() else repr(info.get_default(call_default_factory=True))
        lines.append(f"| `{name}` | {code(type_text(info.annotation))} | {code(default)} | {_inline_code(info.description or '')} |")
    return lines + [""]


#: classes one gets from a function rather than by calling the class
MADE_BY = {"CompiledLoss": "compile_loss", "Catalog": "load_catalog"}


def _class_block(title: str, cls, problems: list[str], where: str, strict: bool) -> list[str]:
    doc = own_doc(cls)
    L = [f"### `{title}` {{#{_anchor(where)}}}", ""]
    if title in MADE_BY:
        L += [f"*class*, returned by [`{MADE_BY[title]}`](#{_anchor(where.rpartition('.')[0] + '.' + MADE_BY[title])})", ""]
    elif not getattr(cls, "model_fields", None) and not issubclass(cls, BaseException):
        L.append(fence(_signature(title, cls), "python"))
    if doc:
        L.append(docstring_markdown(doc))
    else:
        problems.append(f"API reference: {where} has no docstring")
        L += ["*Not documented yet.*", ""]
    fields = model_fields_table(cls)
    if fields:
        L += ["Fields (validated by pydantic; an entry's YAML file has the same keys):", ""] + fields
    for name, member in _members(cls):
        target = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
        if not own_doc(target) and not strict:
            continue
        if isinstance(member, property):
            L += [f"#### `{title}.{name}` {{#{_anchor(where + '.' + name)}}}", "", "*property*", ""]
            L += [docstring_markdown(own_doc(target))] if own_doc(target) else ["*Not documented yet.*", ""]
            if not own_doc(target):
                problems.append(f"API reference: {where}.{name} has no docstring")
        else:
            L += _function_block(f"{title}.{name}", name, target, 4, problems, f"{where}.{name}", check_parameters=False)
    return L


def _anchor(where: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", where.lower()).strip("-")


def api_reference() -> tuple[str, list[str]]:
    """The Python API page: every name of each section's module ``__all__`` (and the classes they
    return), with signature, docstring, fields and public methods."""
    problems: list[str] = []
    L = ["# Python API", "",
         "Generated from the docstrings of the public names at every build; the examples on the "
         "[method pages](../table.md) and in [Add your own method](../add-your-own.md) show them at work.", ""]
    for section in API:
        module = importlib.import_module(section.module)
        public = sorted(getattr(module, "__all__", [])) + sorted(section.extra)
        # functions first, then classes: what one calls, then what it returns
        names = sorted(public, key=lambda n: inspect.isclass(_resolve(section.module, n, section.extra)))
        L += [f"## `{section.module}`", "", _inline_code(section.intro), ""]
        L += [", ".join(f"[`{name}`](#{_anchor(section.module + '.' + name)})" for name in names), ""]
        for name in names:
            obj = _resolve(section.module, name, section.extra)
            where = f"{section.module}.{name}"
            if inspect.isclass(obj):
                L += _class_block(name, obj, problems, where, section.strict)
            elif callable(obj):
                L += _function_block(name, name, obj, 3, problems, where, check_parameters=section.strict)
            else:
                L += [f"### `{name}` {{#{_anchor(where)}}}", "", docstring_markdown(own_doc(obj) or ""), ""]
    return "\n".join(L) + "\n", problems


# ----------------------------------------------------------------- the command line


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser, str]]:
    """(name, parser, one-line help) of the parser's sub-commands, in the order they were added."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                out.append((name, sub, helps.get(name) or ""))
    return out


def _option_rows(parser: argparse.ArgumentParser, problems: list[str]) -> list[str]:
    rows = []
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) or action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            metavar = ""
            if action.nargs != 0:
                metavar = " " + formatter._format_args(action, formatter._get_default_metavar_for_optional(action))
            names = ", ".join(f"{code(option + metavar)}" for option in action.option_strings)
        else:
            names = code(formatter._format_args(action, formatter._get_default_metavar_for_positional(action)))
        help_text = formatter._expand_help(action) if action.help else ""
        if not help_text:
            problems.append(f"CLI reference: {parser.prog} {'/'.join(action.option_strings) or action.dest} has no help text")
        if action.choices and not isinstance(action.choices, dict):
            help_text += f" (one of: {', '.join(str(c) for c in action.choices)})"
        rows.append(f"| {names} | {_inline_code(help_text)} |")
    if not rows:
        return []
    return ["| Option | Meaning |", "|---|---|"] + rows + [""]


#: the usage lines' width: fixed, so that the page does not depend on the terminal of whoever builds it
USAGE_WIDTH = 88


def _usage(parser: argparse.ArgumentParser) -> str:
    """The usage as ``--help`` prints it, without "usage: " (continuation lines aligned without it)."""
    formatter = parser.formatter_class(prog=parser.prog, width=USAGE_WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    return formatter.format_help().strip("\n")


def _help_text(parser: argparse.ArgumentParser, text: str) -> str:
    """A description or epilog as Markdown. argparse reflows it, except under
    RawDescriptionHelpFormatter, which prints it as written: there its indented lines (examples,
    lists) stay lines, in a text block, and only the rest is reflowed."""
    if parser.formatter_class is not argparse.RawDescriptionHelpFormatter:
        return _inline_code(" ".join(text.split())) + "\n"
    out, run = [], []
    lines = textwrap.dedent(text).strip("\n").split("\n") + [""]
    for line in lines:
        kind = "blank" if not line.strip() else "indented" if line[:1].isspace() else "text"
        if run and (kind != run[0][0] or kind == "blank"):
            body = [written for _, written in run]
            out.append(fence(textwrap.dedent("\n".join(body)), "text") if run[0][0] == "indented"
                       else _inline_code(" ".join(written.strip() for written in body)) + "\n")
            run = []
        if kind != "blank":
            run.append((kind, line))
    return "\n".join(out)


def _command_block(parser: argparse.ArgumentParser, help_line: str, level: int, problems: list[str]) -> list[str]:
    L = [f"{'#' * level} `{parser.prog}` {{#{_anchor(parser.prog)}}}", ""]
    if help_line:
        L += [inline(help_line[:1].upper() + help_line[1:]) + ".", ""]
    L.append(fence(_usage(parser), "text"))
    description = parser.description or ""
    if description and description.strip() != help_line.strip():
        L += [_help_text(parser, description)]
    L += _option_rows(parser, problems)
    if parser.epilog:
        L += [_help_text(parser, parser.epilog)]
    for name, sub, help_line in _subcommands(parser):
        L += _command_block(sub, help_line, min(level + 1, 6), problems)
    return L


def cli_reference(build_parser: Optional[Callable[[], argparse.ArgumentParser]] = None) -> tuple[str, list[str]]:
    """The command-line page: every command and sub-command of ``icon``, with usage, description,
    and every option with its help (from ``icon_registry.cli.build_parser``)."""
    if build_parser is None:
        from icon_registry.cli import build_parser
    parser = build_parser()
    problems: list[str] = []
    commands = _subcommands(parser)
    L = ["# Command line", "",
         "Generated from the `icon` command's own parser at every build: the same text as `icon <command> --help`.", ""]
    L += ["| Command | What it does |", "|---|---|"]
    L += [f"| [`icon {name}`](#{_anchor(sub.prog)}) | {inline(help_line)} |" for name, sub, help_line in commands]
    L += ["", "## `icon` {#icon}", "", inline(parser.description or ""), "", fence(_usage(parser), "text")]
    L += _option_rows(parser, problems)
    for name, sub, help_line in commands:
        L += _command_block(sub, help_line, 2, problems)
    return "\n".join(L) + "\n", problems


def api_and_cli_pages(write: Callable[[str, str], None], warn: Callable[[str], None]) -> list:
    """Write the API and CLI reference pages; return their nav."""
    for path, (text, problems) in (("reference/api.md", api_reference()), ("reference/cli.md", cli_reference())):
        write(path, text)
        for problem in problems:
            warn(problem)
    return [{"Python API reference": "reference/api.md"}, {"Command line": "reference/cli.md"}]

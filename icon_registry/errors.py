"""The project's one error type, ``IconError``, and the helpers around it.

Every user-facing failure (a broken catalog entry, a bad command-line argument, a
wrong tensor passed to a compiled loss) is an ``IconError``. One error can carry many
one-line problems, so that ``icon validate`` reports every mistake in a catalog in a
single run::

    catalog/methods/simclr.yaml:12: q.kernel.kind: unknown kernel kind 'gausian'; did you mean 'gaussian'?
    catalog/methods/simclr.yaml:3: unknown field 'nmae'; did you mean 'name'?

``str(err)`` is those lines joined by newlines; ``err.problems`` is the list. The
message given to the constructor is printed verbatim: callers write the context they
know into it (``f"{entry_id}: ..."``); the keyword fields (file, line, field, entry,
argument) are kept as attributes for programs. ``IconError.at`` builds the standard
``file:line: field: message`` line for you.
"""

from __future__ import annotations

import contextlib
import difflib
from typing import Iterable, Iterator, Optional, Sequence

__all__ = ["IconError", "IconWarning", "NEVER_RAW", "UsageError", "error_context", "format_problem", "one_line", "quote",
           "shorten", "suggest", "did_you_mean"]

#: Characters that text from YAML or results files never carries raw onto a page or a terminal: the C0
#: and C1 controls (ESC starts terminal sequences; Python-Markdown uses STX and ETX as placeholders) and
#: the Unicode bidi controls (embeddings, overrides, isolates, marks), which reorder the text after them:
#: an override in a name reverses the fields that follow it. ``docs_site.escape`` replaces them on pages;
#: ``one_line`` and ``quote`` here escape them (with every other unprintable character) in messages.
#: How line breaks and tabs show is each escaper's own choice.
NEVER_RAW = frozenset(map(chr, [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F),
                                *range(0x2066, 0x206A)]))

_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def _escape(char: str) -> str:
    code = ord(char)
    if char == "\n":
        return "\\n"
    if char == "\r":
        return "\\r"
    if char == "\t":
        return "\\t"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped, so it stays one line."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else _escape(c) for c in text)


def shorten(text, limit: int = 60) -> str:
    """``text`` for a message: one line, control characters escaped, cut to ``limit`` characters
    (ending in '...') so that a huge value cannot flood the terminal."""
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def quote(name, limit: int = 60) -> str:
    """``'name'`` for a user-supplied name in a message: ``shorten``ed and quoted."""
    return f"'{shorten(name, limit)}'"


def quote_path(path) -> str:
    """A path in a message: quoted, control characters escaped (a name may hold ESC), never shortened."""
    return quote(str(path), limit=4096)


def format_problem(
    message: str, *, file=None, line: Optional[int] = None, field: Optional[str] = None
) -> str:
    """``file:line: field: message`` with the parts that are known (the compiler-style line)."""
    head = ""
    if file is not None:
        head = f"{file}:{line}: " if line is not None else f"{file}: "
    elif line is not None:
        head = f"line {line}: "
    if field:
        head += f"{one_line(field)}: "
    return one_line(head + message)


class IconWarning(UserWarning):
    """What icon-registry warns about (e.g. a compiled objective that is not the published loss)."""


class IconError(Exception):
    """The one error type of icon-registry.

    ``IconError(message, *, file=None, line=None, field=None, entry=None, argument=None,
    problems=None)``. With ``problems`` (a list of one-line strings or IconErrors) the error
    stands for all of them and ``message`` is a summary; ``str(err)`` lists the problems.
    """

    def __init__(
        self,
        message: str = "",
        *,
        file=None,
        line: Optional[int] = None,
        field: Optional[str] = None,
        entry: Optional[str] = None,
        argument: Optional[str] = None,
        problems: Optional[Iterable] = None,
    ):
        flat: list[str] = []
        for problem in problems or ():
            if isinstance(problem, IconError):
                flat.extend(problem.problems)
            else:
                flat.extend(str(problem).splitlines() or [""])
        message = str(message)
        if not flat:
            flat = message.splitlines() or [message]
        if not message:
            message = flat[0] if len(flat) == 1 else f"{len(flat)} problems"
        self.message = message
        self.problems: list[str] = flat
        self.file = None if file is None else str(file)
        self.line = line
        self.field = field
        self.entry = entry
        self.argument = argument
        super().__init__(message)

    def __str__(self) -> str:
        return "\n".join(self.problems)

    def __repr__(self) -> str:
        return f"IconError({str(self)!r})"

    def __reduce__(self):  # picklable (multiprocessing, pytest-xdist)
        return (
            _rebuild,
            (self.message, self.problems, self.file, self.line, self.field, self.entry, self.argument),
        )

    @classmethod
    def at(cls, message: str, *, file=None, line=None, field=None, entry=None, argument=None) -> "IconError":
        """An error whose text is ``file:line: field: message``."""
        return cls(
            format_problem(message, file=file, line=line, field=field),
            file=file,
            line=line,
            field=field,
            entry=entry,
            argument=argument,
        )

    @classmethod
    def collect(cls, problems: Sequence, summary: str = "") -> "IconError":
        """One error for many problems (strings or IconErrors)."""
        return cls(summary, problems=problems)

    def with_context(self, prefix: str = "", **fields) -> "IconError":
        """A copy with ``prefix`` put before every problem line (unless it already starts with
        it) and the missing context fields filled in. Use with ``raise ... from err``."""
        lines = [p if not prefix or p.startswith(prefix) else f"{prefix}{p}" for p in self.problems]
        kwargs = {
            name: getattr(self, name) if getattr(self, name) is not None else fields.get(name)
            for name in ("file", "line", "field", "entry", "argument")
        }
        message = self.message if len(self.problems) > 1 else lines[0]
        return type(self)(message, problems=lines, **kwargs)


def _rebuild(message, problems, file, line, field, entry, argument, kind=None):
    return (kind or IconError)(message, problems=problems, file=file, line=line, field=field, entry=entry,
                               argument=argument)


class UsageError(IconError):
    """A command-line value the command cannot use (``argument`` names the option, e.g. '--dim'):
    the ``icon`` CLI prints it like argparse's own usage errors and exits 2, not 1."""

    def __reduce__(self):
        return (_rebuild, (self.message, self.problems, self.file, self.line, self.field, self.entry, self.argument,
                           UsageError))


@contextlib.contextmanager
def error_context(prefix: str = "", **fields) -> Iterator[None]:
    """Re-raise any IconError from the block with added context (einops style)::

        with error_context("simclr: ", entry="simclr"):
            compile_entry(...)      # IconError("argument 'z' ...") -> "simclr: argument 'z' ..."
    """
    try:
        yield
    except IconError as err:
        raise err.with_context(prefix, **fields) from err


def close_matches(name: str, choices: Iterable[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """The choices closest to ``name``, best first: difflib similarity, case-insensitive, keeping
    only those nearly as close as the best one (so 'gausian' gives 'gaussian', not also
    'gaussian_dot'); a choice that starts with ``name`` counts too ('sim' -> 'simclr')."""
    name = str(name)
    choices = sorted({str(c) for c in choices})
    key = name.lower()
    scored = []
    for choice in choices:
        matcher = difflib.SequenceMatcher(None, key, choice.lower())
        if matcher.real_quick_ratio() < cutoff or matcher.quick_ratio() < cutoff:
            ratio = 0.0
        else:
            ratio = matcher.ratio()
        if ratio >= cutoff:
            scored.append((ratio, choice))
    if scored:
        scored.sort(key=lambda item: (-item[0], item[1]))
        best = scored[0][0]
        return [choice for ratio, choice in scored if ratio >= best - 0.1][:n]
    if key:
        return [c for c in choices if c.lower().startswith(key)][:n]
    return []


def suggest(name: str, choices: Iterable[str], n: int = 3) -> str:
    """``"; did you mean 'x', 'y'?"`` for the choices closest to ``name``, or ``""`` if none is
    close; ready to append to a message: ``f"unknown kind '{kind}'{suggest(kind, kinds)}"``."""
    found = close_matches(name, choices, n=n)
    if not found:
        return ""
    return "; did you mean " + ", ".join(quote(c) for c in found) + "?"


#: Alias of ``suggest`` (the formula package's spelling).
did_you_mean = suggest

"""The one error type of the formula language.

``FormulaError`` is an ``icon_registry.errors.IconError`` (and a ``ValueError``). It carries
``.message`` (the full text, with the position), ``.reason`` (the text without the position)
and ``.column`` (1-based character column in the formula; newlines count as one column), or
None when no position applies. The caller adds the entry id and YAML field, e.g. with
``IconError.with_context`` / ``error_context``.
"""

from __future__ import annotations

import difflib
from typing import Iterable, Optional

try:  # the project's single error type
    from icon_registry.errors import IconError as _Base
except ImportError:  # pragma: no cover - only while the tree is being assembled
    _Base = ValueError

_BASES = (_Base,) if issubclass(_Base, ValueError) else (_Base, ValueError)


class FormulaError(*_BASES):
    """A formula was rejected (syntax, whitelist, types, limits) or could not be evaluated."""

    def __init__(self, message: str = "", *, column: Optional[int] = None, **context):
        text = _insert_position(message, f"column {column}") if column is not None else message
        if _Base is ValueError:
            super().__init__(text)
        else:
            super().__init__(text, **context)  # IconError's file/line/field/entry/argument/problems
        self.message = text
        self.reason = message
        self.column = column
        self.definition: Optional[str] = None  # the key of the definition (loss.where) it is in

    def with_context(self, prefix: str = "", **fields):
        """IconError.with_context, keeping the formula position."""
        copy = super().with_context(prefix, **fields)
        copy.reason, copy.column, copy.definition = self.reason, self.column, self.definition
        return copy

    def in_definition(self, key: str) -> "FormulaError":
        """This error, marked as being in the definition ``key`` (the innermost one wins)."""
        if self.definition is None:
            self.definition = key
        return self


def _insert_position(message: str, where: str) -> str:
    """"unknown function 'foo'; did you mean 'log'?" -> "unknown function 'foo' at column 3; did you mean ..."."""
    head, sep, tail = message.partition("; ")
    return f"{head} at {where}{sep}{tail}"


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """"; did you mean 'log'?" or "" (the project's ``suggest`` when available)."""
    try:
        from icon_registry.errors import suggest
    except ImportError:  # pragma: no cover
        matches = difflib.get_close_matches(name, sorted(set(choices)), n=1, cutoff=0.6)
        return f"; did you mean '{matches[0]}'?" if matches else ""
    return suggest(name, choices)

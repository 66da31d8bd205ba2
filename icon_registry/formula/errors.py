"""The one error type of the formula language.

``FormulaError`` carries ``.message`` (no position), ``.column`` (1-based character column
within its line, or None) and ``.formula_line`` (1-based line inside a multi-line formula).
The caller adds the entry id and YAML field. When ``icon_registry.errors.IconError`` exists,
``FormulaError`` is an ``IconError`` (and always a ``ValueError``).
"""

from __future__ import annotations

import difflib
from typing import Iterable, Optional

try:  # the lead's single error type; absent while the tree is being assembled
    from icon_registry.errors import IconError as _Base
except ImportError:  # pragma: no cover - depends on the tree state
    _Base = ValueError

_BASES = (_Base,) if issubclass(_Base, ValueError) else (_Base, ValueError)


class FormulaError(*_BASES):
    """A formula was rejected (parse or type error) or could not be evaluated."""

    def __init__(self, message: str, *, column: Optional[int] = None, formula_line: Optional[int] = None):
        text = message
        if column is not None:
            where = f"column {column}" if formula_line in (None, 1) else f"line {formula_line}, column {column}"
            text = _insert_position(message, where)
        if _Base is ValueError:
            super().__init__(text)
        else:
            super().__init__(text)
        self.message = text
        self.reason = message
        self.column = column
        self.formula_line = formula_line

    def __str__(self) -> str:  # IconError may format context around it; keep ours readable
        base = super().__str__()
        return base or self.message


def _insert_position(message: str, where: str) -> str:
    """'unknown function 'foo'; did you mean 'log'?' -> '... 'foo' at column 3; did you mean ...'."""
    head, sep, tail = message.partition("; ")
    return f"{head} at {where}{sep}{tail}"


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """'; did you mean 'log'?' or '' (difflib close matches)."""
    matches = difflib.get_close_matches(name, sorted(set(choices)), n=1, cutoff=0.6)
    return f"; did you mean '{matches[0]}'?" if matches else ""

"""``icon table``: the I-Con periodic table in the terminal.

Rows are kinds of learned distribution q, columns kinds of supervisory p (from
catalog/table.yaml); each cell lists the entries placed there. Gaps (combinations no one
had published) are shown as ``*name*``, the paper's new methods as ``+name+``, empty
cells as ``·``. Cell text is wrapped to fit the terminal width (``--width`` to override).
"""

from __future__ import annotations

import re
import textwrap

from icon_registry.commands import catalog_from_args, terminal_safe, terminal_width
from icon_registry.commands.options import integer
from icon_registry.errors import IconError

EMPTY = "·"
#: Widths the table is laid out for: below 40 no column fits; above 1000 no screen or page shows
#: a line (and a huge width only builds huge lines of padding).
MIN_WIDTH, MAX_WIDTH = 40, 1000
MARKS = {"gap": ("*", "*"), "new": ("+", "+"), "published": ("", "")}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "table",
        help="print the periodic table (rows: q, columns: p)",
        description="Print the I-Con periodic table: rows are kinds of learned q, columns kinds of "
        "supervisory p. *name* marks a gap (unpublished combination), +name+ a new method, "
        f"{EMPTY} an empty cell.",
    )
    parser.add_argument("--width", type=integer(MIN_WIDTH, MAX_WIDTH), default=None,
                        help=f"total width in characters, {MIN_WIDTH} to {MAX_WIDTH} (default: terminal)")
    parser.add_argument("--ids", action="store_true", help="show entry ids instead of names")
    parser.set_defaults(func=run)


def short_name(entry) -> str:
    """A short label: 'Cross entropy (softmax classifier)' -> 'Cross entropy',
    't-distributed Stochastic Neighbor Embedding (t-SNE)' -> 't-SNE'."""
    name = entry.name.strip()
    match = re.search(r"^(.*?)\s*\(([^()]+)\)\s*$", name)
    if not match:
        return name
    head, inner = match.group(1), match.group(2).strip()
    if " " not in inner and len(inner) <= 10 and len(head) > 12:
        return inner
    return head or name


def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    """Lines of at most ``width`` characters broken at spaces and after hyphens only: ``render``
    makes every column as wide as its longest word (plus ``indent``), so no word is cut."""
    return textwrap.wrap(text, width, subsequent_indent=indent, break_on_hyphens=True, break_long_words=False) or [""]


def _longest_word(texts, indent: int = 0) -> int:
    return max(len(word) + indent for text in texts for word in re.split(r"\s+|(?<=-)", text) if word)


def render(catalog, width: int, use_ids: bool = False) -> str:
    table = catalog.table
    if table is None:
        raise IconError("the catalog has no table.yaml (the built-in catalog defines it)")
    rows, columns = table.rows, table.columns
    cells: dict[tuple[str, str], list[str]] = {}
    for entry in catalog:
        left, right = MARKS.get(entry.status, ("", ""))
        label = entry.id if use_ids else short_name(entry)
        cells.setdefault((entry.cell.row, entry.cell.column), []).append(f"{left}{label}{right}")

    n = len(columns)
    labels = [r.label for r in rows]
    head_width = max(min(max(len(label) for label in labels), 16, max(8, width // 9)), _longest_word(labels))
    # Each column costs its text plus " | " (3); the row header costs head_width + " |". A
    # column is at least as wide as its longest word (a cell's continuation lines are indented
    # by one), so no word is ever cut; what is left is shared out evenly. When even that does
    # not fit, the table is printed as a list.
    available = width - head_width - 2 - 3 * n
    widths = [max(_longest_word([c.label]), _longest_word(
        [item for row in rows for item in cells.get((row.id, c.id), [])] or [EMPTY], indent=1)) for c in columns]
    if sum(widths) > available:
        return _render_list(table, cells, width)
    widths = [w + (available - sum(widths)) // n for w in widths]

    def cell_lines(items: list[str], col_width: int) -> list[str]:
        if not items:
            return [EMPTY]
        lines = []
        for item in items:
            lines.extend(_wrap(item, col_width, " "))
        return lines

    def render_row(head: list[str], columns_text: list[list[str]]) -> list[str]:
        height = max(len(head), *(len(c) for c in columns_text))
        out = []
        for i in range(height):
            parts = [(head[i] if i < len(head) else "").ljust(head_width)]
            for text, col_width in zip(columns_text, widths):
                parts.append((text[i] if i < len(text) else "").ljust(col_width))
            out.append(" | ".join(parts).rstrip())
        return out

    rule = "-+-".join(["-" * head_width] + ["-" * w for w in widths])
    lines = render_row(_wrap("q \\ p", head_width), [_wrap(c.label, w) for c, w in zip(columns, widths)])
    lines.append(rule)
    for index, row in enumerate(rows):
        texts = [cell_lines(cells.get((row.id, c.id), []), w) for c, w in zip(columns, widths)]
        lines.extend(render_row(_wrap(row.label, head_width), texts))
        if index < len(rows) - 1:
            lines.append(rule)
    placed = {(r.id, c.id) for r in rows for c in columns}
    stray = sorted(f"{e.id} ({e.cell.row}, {e.cell.column})" for e in catalog if (e.cell.row, e.cell.column) not in placed)
    lines.append("")
    lines += _wrap(f"*name*: a gap (a combination not published before I-Con); +name+: a new method; {EMPTY}: empty cell.",
                   width)
    if stray:
        lines += _wrap("not in the table: " + ", ".join(stray), width, "  ")
    return "\n".join(lines)


def _render_list(table, cells, width: int) -> str:
    """The table as a list (for narrow terminals): one block per row, one line per cell."""
    lines = []
    for row in table.rows:
        lines.extend(textwrap.wrap(f"q: {row.label}", width, subsequent_indent="  ", break_long_words=False))
        for column in table.columns:
            items = cells.get((row.id, column.id), [])
            text = f"{column.label}: {', '.join(items) if items else EMPTY}"
            lines.extend(textwrap.wrap(text, width, initial_indent="  ", subsequent_indent="      ", break_long_words=False))
    lines.append("")
    lines.extend(textwrap.wrap(
        f"*name*: a gap (a combination not published before I-Con); +name+: a new method; {EMPTY}: empty cell.",
        width, break_long_words=False,
    ))
    return "\n".join(lines)


def run(args) -> int:
    catalog = catalog_from_args(args)
    # $COLUMNS may hold any number
    width = args.width if args.width is not None else min(terminal_width(140), MAX_WIDTH)
    print(terminal_safe(render(catalog, width, use_ids=args.ids)))
    return 0

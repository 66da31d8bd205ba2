"""``icon list [PATTERN] [--json]``: the catalog's entries, one line each."""

from __future__ import annotations

from icon_registry.commands import catalog_from_args, print_json, year_of
from icon_registry.errors import IconError, one_line, quote

_WILDCARDS = "*?["  # what makes a PATTERN a glob (fnmatch)
#: Columns are padded to their longest cell up to this width; a longer cell (a name nobody keeps
#: short) is not padded to, or every line would carry its length in spaces.
_MAX_PAD = 60


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "list",
        help="list catalog entries (id, name, cell, status, year)",
        description="List catalog entries whose id or alias matches PATTERN (a glob such as '*sne*').",
    )
    parser.add_argument("pattern", nargs="*", default=["*"], metavar="PATTERN", help="glob(s) over ids and aliases")
    parser.add_argument("--json", action="store_true", help="print a JSON array of objects")
    parser.set_defaults(func=run)


def entry_summary(catalog, entry) -> dict:
    return {
        "id": entry.id,
        "name": entry.name,
        "aliases": list(entry.aliases),
        "row": entry.cell.row,
        "column": entry.cell.column,
        "status": entry.status,
        "year": entry.paper.year if entry.paper is not None else None,
        "mapper": entry.mapper,
        "summary": entry.summary,
        "path": str(catalog.path_of(entry.id)),
    }


def run(args) -> int:
    catalog = catalog_from_args(args)
    ids = catalog.list(args.pattern)
    if args.json:  # the array even when empty, for programs; the exit status and message as without --json
        print_json([entry_summary(catalog, catalog.get(i)) for i in ids])
    if not ids:
        if len(catalog) == 0:
            raise IconError("the catalog is empty")
        # a pattern without wildcards is an id someone meant: name the nearest ones, as `icon show` does
        names = [p for p in args.pattern if not any(c in p for c in _WILDCARDS)]
        hint = catalog.near(*names) or "; see `icon list`"
        raise IconError(f"no entry matches {' '.join(quote(p) for p in args.pattern)}{hint}")
    if args.json:
        return 0
    rows = []
    for entry_id in ids:
        entry = catalog.get(entry_id)
        cells = (entry.id, entry.name, f"{entry.cell.row} x {entry.cell.column}", entry.status, year_of(entry))
        rows.append(tuple(one_line(cell) for cell in cells))
    widths = [min(max(len(r[i]) for r in rows), _MAX_PAD) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(row)).rstrip())
    return 0

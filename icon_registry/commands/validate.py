"""``icon validate [PATH ...]``: check the catalog, or the given entry files and folders."""

from __future__ import annotations

from pathlib import Path

from icon_registry.commands import catalog_from_args
from icon_registry.errors import IconError, UsageError, format_problem, quote_path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check catalog entries and report every problem",
        description="Validate the catalog (built-in, --catalog folders, $ICON_CATALOG), or the given "
        "YAML files and folders checked against it: every field, and every formula (loss.formula, loss.where, "
        "the claims' formula fields) parsed and type-checked against its entry: its declared parameters, its "
        "definitions and the data its p and q provide, and its table cell against its kernels. Prints 'ok: N "
        "entries' or every problem found, one per line as file:line: field: message; an entry's formulas and "
        "cell are checked once its fields are valid, so fixing a field's problem may show theirs. A file whose "
        "data already passed (with this version of the code) is not parsed again: the record is in $ICON_CACHE_DIR or ~/.cache/icon-registry; ICON_CHECK_FORMULAS=always "
        "checks every file every time. `icon verify` then checks that the claims are true.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="entry files or folders (default: the whole catalog)")
    parser.add_argument("--no-builtin", action="store_true",
                        help="do not load the built-in catalog (checks PATHs on their own)")
    parser.set_defaults(func=run)


def run(args) -> int:
    if "" in args.paths:  # an empty name would check the current folder
        raise UsageError("argument PATH: expected a file or folder name, got ''", argument="PATH")
    catalog = catalog_from_args(args, *args.paths, include_builtin=not args.no_builtin)
    problems = tex_problems(catalog)
    if problems:
        count = len(problems)
        raise IconError(f"{count} problem{'s' if count != 1 else ''} in the catalog", problems=problems)
    if args.paths:
        given = [Path(p).resolve() for p in args.paths]

        def mine(entry_id: str) -> bool:
            path = catalog.path_of(entry_id).resolve()
            return any(path == g or g in path.parents for g in given)

        count = sum(1 for entry_id in catalog.ids if mine(entry_id))
    else:
        count = len(catalog)
    if count == 0:  # "ok: 0 entries" would pass a check that checked nothing (an empty or mistyped folder)
        where = ", ".join(quote_path(p) for p in args.paths)
        raise IconError(f"no entries in {where}: nothing was validated" if args.paths else
                        "the catalog has no entries: nothing was validated")
    print(f"ok: {count} {'entry' if count == 1 else 'entries'}")
    return 0


def tex_problems(catalog) -> list[str]:
    """Inline TeX in the entries' prose that the site would not typeset (``icon site build
    --strict`` refuses it): a link, a style or a definition, or unbalanced braces."""
    from icon_registry.inline_tex import problems, prose_locations
    from icon_registry.validation_messages import format_loc

    found = []
    for entry_id in catalog.ids:
        document = catalog.document(entry_id)
        for loc, text in prose_locations(catalog.get(entry_id)):
            found += [format_problem(problem, file=document.file, line=document.line_of(loc), field=format_loc(loc))
                      for problem in problems(text)]
    return found

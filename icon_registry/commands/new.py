"""``icon new ID [--like EXISTING] [--catalog DIR]``: write a commented entry that validates as written."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "new",
        help="write a new entry (a commented YAML file) to start your own method from",
        description="Write ID.yaml into the --catalog folder (a catalog root's methods/ folder; the current "
        "folder without --catalog): a copy of EXISTING made yours (status new, its paper, peers and errata "
        "left out, a variant_of relation to it unless it is a file that folder's catalog does not load), or a "
        "starter entry, with a comment above every field. It "
        "validates as written. An existing file or id is never overwritten.",
    )
    parser.add_argument("id", metavar="ID", help="the new entry's id (lowercase letters, digits and '_')")
    parser.add_argument("--like", metavar="EXISTING", help="start from this entry (an id, an alias or an entry file)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from icon_registry.authoring import template, write_new_entry
    from icon_registry.commands import catalog_from_args, entries_from_args, path_like
    from icon_registry.errors import IconError, UsageError, quote
    from icon_registry.schema import Entry, Id
    from icon_registry.validation_messages import value_problem

    problem = value_problem(Id, args.id)
    if problem is not None:
        raise UsageError(f"argument ID: {problem}", argument="ID")
    if len(args.catalog) > 1:
        raise UsageError("argument --catalog: icon new writes into one folder: give --catalog once", argument="--catalog")
    folder = Path(args.catalog[0]) if args.catalog else Path(".")
    _check_folder(folder)
    if args.catalog:
        flag = f" --catalog {folder}"
        if not folder.exists():  # a folder of your own, not made yet: the new entry will be its first
            args.catalog = []
        catalog = catalog_from_args(args)
    else:
        # the current folder counts only when it loads as a catalog: it may hold any other YAML
        # (mkdocs.yml, docker-compose.yml), and then only the new file can be checked on its own
        try:
            catalog, flag = catalog_from_args(args, folder), " --catalog ."
        except IconError:
            catalog, flag = catalog_from_args(args), ""
    if args.id in catalog:
        where = catalog.path_of(args.id)
        raise IconError(f"{quote(args.id)} is already an entry ({where}); choose another id", argument="ID")
    like_file = None
    if args.like is not None and path_like(args.like):
        like_catalog, (like_id,) = entries_from_args(args, [args.like], single=True)
        like = like_catalog.get(like_id)
        if like_id not in catalog:
            like_file = args.like
    else:
        like = None if args.like is None else catalog.get(args.like)  # '' too: an unknown entry, never "no --like"
    text = template(args.id, like, like_file)
    Entry.from_yaml(text, file=f"{args.id}.yaml")  # the template validates as written, or this is a bug
    try:
        path = write_new_entry(folder, args.id, text)
    except OSError as err:  # the checks above passed, yet the file system said no (a full disk, a read-only methods/)
        raise IconError(f"cannot write {args.id}.yaml in {quote(folder, 4096)} ({err.strerror or err})",
                        argument="--catalog") from None
    print(f"wrote {path}")
    print(f"next: edit it, then `icon validate {path}{flag}` and `icon verify {path}{flag}`", file=sys.stderr)
    return 0


def _check_folder(folder: Path) -> None:
    """The --catalog folder exists and is writable, or can be created, before any work."""
    from icon_registry.commands.options import output_folder
    from icon_registry.errors import UsageError, quote

    if folder.is_symlink() and not folder.exists():  # mkdir would fail on the link itself
        raise UsageError(f"argument --catalog: {quote(folder, 4096)} is a symbolic link to "
                         f"{quote(os.readlink(folder), 4096)}, which does not exist", argument="--catalog")
    try:
        output_folder(str(folder))
    except argparse.ArgumentTypeError as err:
        raise UsageError(f"argument --catalog: {err}", argument="--catalog") from None

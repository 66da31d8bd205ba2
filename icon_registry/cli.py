"""The ``icon`` command line: ``icon <command> [options]``.

Each command lives in ``icon_registry/commands/<name>.py`` and exposes
``register(subparsers)``, which adds its sub-parser and sets ``func`` (a callable
``func(args) -> int``) as the parser default. The global options (``--catalog DIR``,
repeatable) are added to every command's parser here, so each command accepts them too.

Exit codes: 0 success, 1 something failed (every ``IconError`` is printed to stderr, one
problem per line, without a traceback), 2 bad usage (argparse).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Optional, Sequence

from icon_registry.errors import IconError

#: Command modules under icon_registry.commands, in the order ``icon --help`` lists them.
COMMANDS = ["list", "show", "new", "validate", "formula", "table", "graph", "verify", "site", "bench", "cluster", "fit",
            "reproduce"]


#: Optional dependencies -> the extra that installs them (pyproject's optional-dependencies).
OPTIONAL_EXTRAS = {"sklearn": "repro", "scipy": "repro", "matplotlib": "site", "mkdocs": "site", "material": "site"}


def _add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    dest = "catalog_top" if top else "catalog"
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--catalog",
        metavar="DIR",
        action="append",
        dest=dest,
        default=[],
        help="also load catalog entries from DIR (a folder of .yaml entries or a catalog root); "
        "repeatable; $ICON_CATALOG adds more (separated by '%s')" % os.pathsep,
    )


def build_parser() -> argparse.ArgumentParser:
    from icon_registry import __version__

    parser = argparse.ArgumentParser(
        prog="icon",
        description="icon-registry: the I-Con periodic table of representation-learning losses.",
        epilog="Run 'icon <command> --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"icon-registry {__version__}")
    _add_global_options(parser, top=True)
    subparsers = parser.add_subparsers(dest="command", metavar="<command>")
    for name in COMMANDS:
        module = importlib.import_module(f"icon_registry.commands.{name}")
        before = set(subparsers.choices)
        module.register(subparsers)
        for added in set(subparsers.choices) - before:
            sub = subparsers.choices[added]
            if not any("--catalog" in action.option_strings for action in sub._actions):
                _add_global_options(sub, top=False)
    return parser


def _print_error(err: IconError) -> None:
    lines = err.problems or [str(err)]
    for line in lines:
        print(line, file=sys.stderr)
    if len(lines) > 1:
        print(f"icon: {len(lines)} problems", file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``icon`` command; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:  # --help, --version (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    args.catalog = list(getattr(args, "catalog_top", []) or []) + list(getattr(args, "catalog", []) or [])
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        code = args.func(args)
        sys.stdout.flush()
        return 0 if code is None else int(code)
    except IconError as err:
        _print_error(err)
        return 1
    except ModuleNotFoundError as err:  # an optional dependency this command needs
        package = (err.name or "").split(".")[0]
        if package not in OPTIONAL_EXTRAS:
            raise
        extra = OPTIONAL_EXTRAS[package]
        print(f"icon {args.command}: needs {package}, an optional dependency: pip install "
              f"\"icon-registry[{extra}]\"", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("icon: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `icon list | head`
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):  # pragma: no cover - stdout without a descriptor
            pass
        return 0


def run() -> None:
    """Console-script entry point that exits with ``main``'s code."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()

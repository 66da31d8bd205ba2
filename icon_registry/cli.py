"""The ``icon`` command line: ``icon <command> [options]``.

Each command lives in ``icon_registry/commands/<name>.py`` and exposes
``register(subparsers)``, which adds its sub-parser and sets ``func`` (a callable
``func(args) -> int``) as the parser default. The global options (``--catalog DIR``,
repeatable) are added to every command's parser here, so each command accepts them too.

Exit codes: 0 success; 1 a problem was found (every ``IconError`` is printed to stderr, one
problem per line, without a traceback); 2 bad usage: an unknown command or option, a missing
argument, or a value the command cannot use (argparse and ``UsageError``: one line); 130 on
Ctrl-C and 143 on SIGTERM, at any moment, with the one line ``icon: interrupted`` (child
processes, such as ``icon verify --jobs N``'s workers, are ended first).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
import warnings
from typing import Optional, Sequence

from icon_registry.errors import IconError, IconWarning, UsageError, one_line
from icon_registry.interrupts import end_child_processes

#: Command modules under icon_registry.commands, in the order ``icon --help`` lists them.
COMMANDS = ["list", "show", "new", "validate", "formula", "table", "graph", "verify", "site", "bench", "cluster", "fit",
            "reproduce"]


#: Optional dependencies -> the extra that installs them (pyproject's optional-dependencies).
OPTIONAL_EXTRAS = {"sklearn": "repro", "scipy": "repro", "matplotlib": "site", "mkdocs": "site", "material": "site"}


def _add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    from icon_registry.commands.options import catalog_folder

    dest = "catalog_top" if top else "catalog"
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--catalog",
        metavar="DIR",
        type=catalog_folder,
        action="append",
        dest=dest,
        default=[],
        help="also load catalog entries from DIR (a folder of .yaml entries or a catalog root); "
        "repeatable; $ICON_CATALOG adds more (separated by '%s')" % os.pathsep,
    )


class Parser(argparse.ArgumentParser):
    """argparse, with every usage error on ONE line (scripts read stderr line by line); the
    sub-parsers are of this class too (argparse makes them with the parent's class)."""

    def error(self, message):
        self.exit(2, one_line(f"{self.prog}: error: {message} (see '{self.prog} --help')") + "\n")


def build_parser() -> argparse.ArgumentParser:
    from icon_registry import __version__

    parser = Parser(
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
    _name_commands(parser)
    return parser


def _name_commands(parser: argparse.ArgumentParser) -> None:
    """Each (sub-)command parser records its name ('icon site serve') for its error messages."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(command_name=sub.prog)
                _name_commands(sub)


def _print_error(err: IconError) -> None:
    lines = err.problems or [str(err)]
    for line in lines:
        print(one_line(line), file=sys.stderr)
    if len(lines) > 1:
        print(f"icon: {len(lines)} problems", file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``icon`` command; returns the exit code (the console script exits with it)."""
    with _interrupts_unwind():
        try:
            code = _run_command(argv)
        except KeyboardInterrupt as interrupt:
            return _report_interrupt(getattr(interrupt, "signum", signal.SIGINT))
        if _INTERRUPT.get("raised"):  # a library swallowed the interrupt: the run still ends as interrupted
            return _report_interrupt(_INTERRUPT["raised"])
        return code


@contextlib.contextmanager
def _one_line_warnings(command_name: str):
    """Our own warnings (IconWarning) on one line each, like the errors, without Python's source
    path and line; any other library's warning as Python shows it."""
    with warnings.catch_warnings():
        python_shows = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, IconWarning):
                print(one_line(f"{command_name}: warning: {message}"), file=sys.stderr)
            else:
                python_shows(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


def _report_interrupt(signum: int) -> int:
    print("icon: interrupted" if signum == signal.SIGINT else "icon: terminated", file=sys.stderr)
    _INTERRUPT["reported"] = True
    return 128 + signum


def _run_command(argv) -> int:
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
        try:
            with _marked_stdout(), _one_line_warnings(args.command_name):
                code = args.func(args)
                if sys.stdout is not None:  # None: Python found descriptor 1 closed, and prints nothing
                    sys.stdout.flush()
            return 0 if code is None else int(code)
        except Exception as err:
            if _INTERRUPT["raised"]:  # a clean-up that the interrupt cut short failed (a pool stopped mid-start)
                raise _Interrupted(_INTERRUPT["raised"]) from err
            raise
    except UsageError as err:
        print(one_line(f"{args.command_name}: error: {err} (see '{args.command_name} --help')"), file=sys.stderr)
        return 2
    except IconError as err:
        _print_error(err)
        return 1
    except ModuleNotFoundError as err:  # an optional dependency this command needs
        package = (err.name or "").split(".")[0]
        if package not in OPTIONAL_EXTRAS:
            raise
        print(one_line(f"{args.command_name}: needs {package}, an optional dependency: pip install "
                       f"\"icon-registry[{OPTIONAL_EXTRAS[package]}]\""), file=sys.stderr)
        return 1
    except BrokenPipeError:  # `icon list | head`
        _discard_stdout()
        return 0
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as err:  # a bug: one line, and the traceback only on request
        if getattr(err, "from_stdout", False):  # `icon show ID > /dev/full`, a full disk
            print(one_line(f"{args.command_name}: cannot write the output: {err.strerror or err}"), file=sys.stderr)
            return 1
        if os.environ.get("ICON_DEBUG"):
            raise
        print(one_line(f"{args.command_name}: internal error: {type(err).__name__}: {err} (a bug in icon-registry; "
                       "ICON_DEBUG=1 shows the traceback; please report it)"), file=sys.stderr)
        return 1


class _MarkedStdout:
    """stdout during a command: an OSError writing to it says so (``err.from_stdout``), to be told
    apart from one writing the command's own files, which stays an internal error."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        return self._call(self._stream.write, text)

    def flush(self):
        return self._call(self._stream.flush)

    @staticmethod
    def _call(method, *args):
        try:
            return method(*args)
        except OSError as err:
            err.from_stdout = True
            raise

    def __getattr__(self, name):  # isatty, fileno, encoding, buffer, ...
        return getattr(self._stream, name)


@contextlib.contextmanager
def _marked_stdout():
    stream = sys.stdout
    if stream is None:  # descriptor 1 was closed: print() writes nothing
        yield
        return
    sys.stdout = _MarkedStdout(stream)
    try:
        yield
    finally:
        sys.stdout = stream


def _discard_stdout() -> None:
    """Point stdout's descriptor at /dev/null, so that the interpreter's own flush at exit does
    not fail a second time with a traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - stdout without a descriptor
        pass


# --- Ctrl-C and SIGTERM ------------------------------------------------------------------------
# Outside a command (interpreter start-up, the imports before main, the shutdown after it) a
# signal ends the process at once with one line. During a command it becomes a
# KeyboardInterrupt, so that `finally` blocks and context managers clean up (temporary files,
# process pools), after the child processes were told to end (a pool waits for its workers).

_INTERRUPT = {"reported": False, "raised": 0}  # raised: the signal being unwound


class _Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int):
        super().__init__()
        self.signum = signum


def _exit_now(signum, frame):
    if not _INTERRUPT["reported"]:
        os.write(2, b"icon: interrupted\n" if signum == signal.SIGINT else b"icon: terminated\n")
    os._exit(128 + signum)


def _unwind(signum, frame):
    if _INTERRUPT["raised"]:  # a second signal while the first one unwinds
        _exit_now(signum, frame)
    _INTERRUPT["raised"] = signum
    end_child_processes()
    if _importing(frame):
        # an exception inside an import leaves a half-initialized module behind (numpy without
        # its ufuncs), and some packages' imports swallow it: nothing sound can run after it
        _exit_now(signum, frame)
    raise _Interrupted(signum)


def _importing(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


class _interrupts_unwind:
    """SIGINT and SIGTERM raise KeyboardInterrupt in the command (main thread only; restored after)."""

    def __enter__(self):
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            _INTERRUPT.update(reported=False, raised=0)
            for signum in (signal.SIGINT, signal.SIGTERM):
                self.previous[signum] = signal.signal(signum, _unwind)
        return self

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        return False


def run() -> None:
    """Console-script entry point: exits with ``main``'s code, and with 130 on Ctrl-C at any
    moment, before main's imports or after it returned included."""
    signal.signal(signal.SIGINT, _exit_now)
    signal.signal(signal.SIGTERM, _exit_now)
    code = main()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()

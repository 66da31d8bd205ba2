"""`icon site build [--out DIR]` and `icon site serve`: the docs site, generated from the catalog.

    icon site build                          # -> ./public (mkdocs build --strict, offline)
    icon site build --strict                 # and every warning of ours is an error too
    icon site build --catalog my_methods     # the built-in catalog plus your folder
    icon site serve --port 8000              # build to a temp folder and serve on localhost
"""

from __future__ import annotations

import argparse
import errno
import functools
import sys
import tempfile

from icon_registry.commands.options import catalog_folder, host, port, results_folder


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--catalog", action="append", default=[], metavar="DIR", type=catalog_folder,
        help="a folder (or YAML file) of your own entries, added to the built-in catalog; repeatable",
    )
    parser.add_argument("--results", default=None, metavar="DIR", type=results_folder,
                        help="where bench.json, reproduce.json and verify.json are read from (default: the results/ "
                             "folder of this copy of icon-registry, whatever the working directory)")
    parser.add_argument("--strict", action="store_true",
                        help="treat every warning (a missing results file or plot, a missing optional dependency, an "
                             "entry left out) as an error: nothing is written")
    verify = parser.add_mutually_exclusive_group()
    verify.add_argument("--verify", dest="verify", action="store_const", const="run", default="cache",
                        help="run the claim verifier for entries it has not cached (slower; proof sketches for every claim)")
    verify.add_argument("--no-verify", dest="verify", action="store_const", const="off",
                        help="ignore the verifier's cache (claims show as not verified unless results/verify.json exists)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("site", help="build or serve the docs site (the periodic table, one page per method)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="site_command", metavar="{build,serve}")
    actions.required = True
    build = actions.add_parser("build", help="generate the pages and run mkdocs build --strict")
    build.add_argument("--out", default="public", metavar="DIR",
                       help="output folder (default: ./public): new, empty, or an earlier build (it is replaced only "
                            "when the new build succeeded; other folders are refused)")
    _common(build)
    build.set_defaults(func=run_build)
    serve = actions.add_parser("serve", help="build into a temporary folder and serve it on localhost")
    serve.add_argument("--port", type=port, default=8000, help="port on 127.0.0.1 (default 8000; 0 picks a free one)")
    serve.add_argument("--host", type=host, default="127.0.0.1",
                       help="interface to bind, by name or address (default 127.0.0.1; 0.0.0.0: every interface)")
    _common(serve)
    serve.set_defaults(func=run_serve)
    return parser


def _build(args, out) -> int:
    from icon_registry.docs_site import build_site

    report = build_site(
        args.catalog, out, results_dir=args.results, verify=args.verify, quiet=args.quiet, strict=args.strict
    )
    if not args.quiet:
        from icon_registry.errors import one_line

        print(one_line(f"{report.out}  ({len(report.pages)} generated pages, {report.seconds:.1f}s)"))
    return 0


def run_build(args) -> int:
    from icon_registry.errors import IconError

    try:
        return _build(args, args.out)
    except IconError as err:
        if err.argument != "--out":
            raise
        # a bad --out is found before any work starts: bad usage (2), like argparse's errors
        print(f"icon site build: error: {err}", file=sys.stderr)
        return 2


def run_serve(args) -> int:
    import http.server  # here, not at the top: every other command starts without it

    from icon_registry.errors import UsageError

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
            pass

    with tempfile.TemporaryDirectory(prefix="icon-site-serve-") as out:
        handler = functools.partial(QuietHandler, directory=out)
        try:  # listen first: a port in use or a host not on this machine is said before the build
            server = http.server.ThreadingHTTPServer((args.host, args.port), handler)
        except OSError as err:
            # in use or reserved: the port; anything else (no such name, not an address of this machine): the host
            option = "--port" if err.errno in (errno.EADDRINUSE, errno.EACCES) else "--host"
            raise UsageError(f"argument {option}: cannot listen on {args.host}:{args.port} ({err.strerror or err})",
                             argument=option) from None
        with server:
            _build(args, out)
            address, bound = server.server_address[:2]
            print(f"serving the site on http://{address}:{bound}/  (Ctrl-C to stop)", file=sys.stderr)
            server.serve_forever()
    return 0


def main(argv=None) -> int:
    """`python -m icon_registry.commands.site build ...` (the same as `icon site build ...`)."""
    from icon_registry.errors import IconError

    parser = argparse.ArgumentParser(prog="icon")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["site", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args)
    except IconError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

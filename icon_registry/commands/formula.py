"""``icon formula [EXPR] [--entry ID]``: the formula language reference, or one expression checked."""

from __future__ import annotations

import argparse
import ast


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "formula",
        help="the formula language: its reference, or check one expression (LaTeX, what it reads)",
        description="Without EXPR: print the formula language reference (every function, index set, datum, "
        "operator and limit, with examples). With EXPR: parse and type-check it and print its LaTeX, the "
        "parameters and the data it reads, or the error (exit 1). With --entry ID it is checked as a formula "
        "of that entry: its parameters, its loss.where definitions, the data its p and q provide.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("expr", nargs="?", metavar="EXPR", help="a formula, e.g. 'sum(i, anchors, norm(z[i]))'")
    parser.add_argument("--entry", metavar="ID", help="check EXPR against this entry: an id or alias (--catalog DIR "
                        "for your own), or an entry file (path/to/id.yaml)")
    parser.set_defaults(func=run)


def _undeclared(expr: str) -> set:
    """Plain names in EXPR that the language does not define: parameters, when no entry declares them."""
    from icon_registry.formula import grammar as G

    try:
        tree = ast.parse(expr, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()  # the parser reports it
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    bound = {node.args[0].id for node in ast.walk(tree) if isinstance(node, ast.Call) and node.args
             and isinstance(node.args[0], ast.Name) and len(node.args) == 3}
    subscripted = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Subscript)}
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and id(node) not in called
            and id(node) not in subscripted and node.id not in bound and node.id not in G.reserved_names()
            and node.id.isascii() and node.id.isidentifier()}


def _used(formula) -> list:
    """The definitions EXPR uses, directly or through other definitions, in the entry's order."""
    from icon_registry.formula import nodes as N

    by_name = {d.name: d for d in formula.definitions}
    used, stack = set(), [formula.display]
    while stack:
        for node in N.walk(stack.pop()):
            if isinstance(node, N.DefRef) and node.name not in used:
                used.add(node.name)
                stack.append(by_name[node.name].display)
    return [d for d in formula.definitions if d.name in used]


def run(args) -> int:
    from icon_registry.errors import IconError, UsageError
    from icon_registry.formula import grammar_reference

    if args.expr is None:
        if args.entry is not None:
            raise UsageError("argument --entry: needs an EXPR to check", argument="--entry")
        print(grammar_reference(), end="")
        return 0
    from icon_registry.formula import FormulaError, parse
    from icon_registry.formula.latex import definition_latex

    entry = None
    if args.entry is not None:  # an empty id is unknown like any other, not "no entry"
        from icon_registry.commands import entries_from_args
        from icon_registry.static_check import check_formula, parse_entry_formula

        catalog, (entry_id,) = entries_from_args(args, [args.entry], single=True)
        entry = catalog.get(entry_id)
        problem = check_formula(entry, args.expr)
        if problem is not None:
            raise IconError(f"{entry.id}: {problem}")
        formula = parse_entry_formula(entry, args.expr)
    else:
        try:
            formula = parse(args.expr, _undeclared(args.expr))
        except FormulaError as err:
            raise IconError(err.message) from None
    from icon_registry.static_check import ARGUMENT_OF

    parameters = sorted(formula.free_parameters)
    print(f"ok: {' '.join(args.expr.split())}")
    print(f"latex: {formula.to_latex()}")
    for definition in _used(formula):
        print(f"  where {definition_latex(definition)}")
    print(f"parameters: {', '.join(parameters) or 'none'}" + ("" if entry else " (an entry must declare them)"))
    arguments = sorted({ARGUMENT_OF[field] for field in formula.requirements if field in ARGUMENT_OF})
    call = ", ".join(["z"] + [f"{name}=..." for name in arguments])
    print(f"reads: {', '.join(['z', *sorted(formula.requirements - {'z'})])} (a compiled loss is called as loss({call}))")
    return 0

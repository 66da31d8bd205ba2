"""Small tools over the formula language's AST (``icon_registry.formula.nodes``).

Nodes are frozen dataclasses; a *site* is a path of (field, position) hops from the root,
and a rewrite replaces the node at one site. The traversal reads the dataclass fields, so
node kinds added to the language later are walked without changes here.
"""

from __future__ import annotations

import dataclasses

from icon_registry.formula import nodes as N
from icon_registry.formula import parse, to_source

#: fields that hold an index, not a number: a Num there is an index constant
INDEX_FIELDS = {"index", "row", "col", "arg"}


def is_node(value) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def child_slots(node):
    """(field, position or None, child) for each direct sub-node, in field order."""
    for spec in dataclasses.fields(node):
        value = getattr(node, spec.name)
        if isinstance(value, tuple):
            for position, item in enumerate(value):
                if is_node(item):
                    yield spec.name, position, item
        elif is_node(value):
            yield spec.name, None, value


def direct_children(node) -> list:
    return [child for _, _, child in child_slots(node)] if is_node(node) else []


def replace_child(node, child, new):
    """``node`` with its first direct sub-node equal to ``child`` replaced by ``new``."""
    for name, position, value in child_slots(node):
        if value == child:
            return replace_at(node, ((name, position),), new)
    return node


def sites(root):
    """(path, node, parent) for every node, pre-order; the root's path is () and parent None."""
    stack = [((), root, None)]
    while stack:
        path, node, parent = stack.pop()
        yield path, node, parent
        children = [(path + ((name, position),), child, node) for name, position, child in child_slots(node)]
        stack.extend(reversed(children))


def replace_at(root, path, new):
    if not path:
        return new
    (name, position), rest = path[0], path[1:]
    value = getattr(root, name)
    if position is None:
        return dataclasses.replace(root, **{name: replace_at(value, rest, new)})
    items = list(value)
    items[position] = replace_at(items[position], rest, new)
    return dataclasses.replace(root, **{name: tuple(items)})


def in_index_position(path, parent) -> bool:
    """Whether the node at ``path`` is an index (z[i], others(i), indicator(m == j)), not a number."""
    if not path:
        return False
    if path[-1][0] in INDEX_FIELDS:
        return True
    if isinstance(parent, N.Indicator):
        return any(isinstance(side, (N.Index, N.IndexAt, N.IndexCall)) for side in (parent.left, parent.right))
    return False


def free_indices(node) -> set:
    """Index variables used in ``node`` and not bound inside it."""
    if isinstance(node, N.Index):
        return {node.name}
    found = set()
    for _, _, child in child_slots(node):
        found |= free_indices(child)
    if isinstance(node, N.Reduce):
        found = (free_indices(node.body) - {node.var}) | free_indices(node.set)
    return found


def bound_names(node) -> set:
    return {sub.var for _, sub, _ in sites(node) if isinstance(sub, N.Reduce)}


def transform(node, change):
    """``node`` rebuilt bottom-up with ``change(sub_node)`` applied to every sub-node."""
    updates = {}
    for spec in dataclasses.fields(node):
        value = getattr(node, spec.name)
        if isinstance(value, tuple):
            updates[spec.name] = tuple(transform(v, change) if is_node(v) else v for v in value)
        elif is_node(value):
            updates[spec.name] = transform(value, change)
    return change(dataclasses.replace(node, **updates) if updates else node)


def rename_index(node, old: str, new: str):
    """``node`` with every occurrence of index variable ``old`` (bound or free) named ``new``."""
    def change(sub):
        if isinstance(sub, N.Index) and sub.name == old:
            return N.Index(new)
        if isinstance(sub, N.Reduce) and sub.var == old:
            return dataclasses.replace(sub, var=new)
        return sub

    return transform(node, change)


def rename_param(node, old: str, new: str):
    return transform(node, lambda sub: N.Param(new) if isinstance(sub, N.Param) and sub.name == old else sub)


def fresh_index(root, stem: str) -> str:
    """An index name not used anywhere in ``root`` (``stem`` followed by a digit)."""
    used = {sub.name for _, sub, _ in sites(root) if isinstance(sub, (N.Index, N.Param))} | bound_names(root)
    k = 1
    while f"{stem}{k}" in used:
        k += 1
    return f"{stem}{k}"


def calls(node, *funcs) -> bool:
    return any(isinstance(sub, N.Call) and sub.func in funcs for _, sub, _ in sites(node))


def render(root) -> str:
    return to_source(root)


def reparse(root, parameters):
    """The formula text of ``root`` and its parse (None when the rewrite left the language)."""
    from icon_registry.formula import FormulaError

    text = to_source(root)
    try:
        return text, parse(text, parameters)
    except FormulaError:
        return text, None


def short(text: str, width: int = 72) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def mul(a, b):
    return N.BinOp("*", a, b)


def div(a, b):
    return N.BinOp("/", a, b)

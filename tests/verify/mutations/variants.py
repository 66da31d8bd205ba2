"""What a variant is, and the plumbing shared by both generators: an entry's formula fields,
rewriting one site of one formula, and building the mutated ``Entry`` (invalid ones dropped)."""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field


from icon_registry.formula import FormulaError
from icon_registry.static_check import parse_entry_formula
from icon_registry.formula import nodes as N
from icon_registry.errors import IconError
from icon_registry.schema import Entry

from . import ast_tools as T

#: the formula-valued fields of each claim kind (an omitted optional one is not mutated)
CLAIM_FORMULAS = {
    "identity": (),
    "up_to_constant": ("constant",),
    "decomposition": ("extra",),
    "bound": ("offset",),
    "limit": ("scale", "offset", "equals", "factor"),
    "reverse_kl_entropy": ("cost", "factor"),
    "unproved": (),
}


@dataclass(frozen=True)
class Variant:
    """One changed copy of a catalog entry.

    ``kind``: "wrong" (meant to break a claim; the oracle decides whether it does) or
    "neutral" (equal by construction; every claim must still hold).
    ``where``: the changed part (``loss.formula``, ``claims[1].constant``, ``q.kernel``, ...).
    """

    entry_id: str
    operator: str
    where: str
    description: str
    entry: Entry
    kind: str

    @property
    def key(self) -> str:
        """A stable name: entry, operator and a digest of what changed."""
        digest = hashlib.sha1(f"{self.where}|{self.description}".encode()).hexdigest()[:8]
        return f"{self.entry_id}:{self.operator}:{digest}"

    def line(self) -> str:
        return f"{self.entry_id}  {self.operator}  {self.where}: {self.description}"


@dataclass
class Collected:
    """Variants of one kind, plus what was dropped (the rewrite left the language, or a neutral
    rewrite left the schema) and the wrong variants ``icon validate`` already rejects (the
    entry's schema and static check: e.g. a p that no longer provides the data its formula
    reads), which never reach the verifier and count as caught."""

    variants: list = field(default_factory=list)
    dropped: dict = field(default_factory=dict)  # operator -> count
    rejected: dict = field(default_factory=dict)  # operator -> [(entry id, where, description, first error)]
    seen: set = field(default_factory=set)

    def add(self, original: Entry, operator: str, where: str, description: str, data: dict, kind: str) -> None:
        try:
            entry = Entry.model_validate(data)
        except IconError as err:
            if kind == "wrong":
                reason = (err.problems or [str(err)])[0]
                self.rejected.setdefault(operator, []).append((original.id, where, description, reason))
            else:
                self.dropped[operator] = self.dropped.get(operator, 0) + 1
            return
        signature = (entry.model_dump_json(), kind)
        if entry == original or signature in self.seen:
            return
        self.seen.add(signature)
        self.variants.append(Variant(original.id, operator, where, description, entry, kind))


def checked_claims(entry: Entry) -> list:
    return [claim for claim in entry.claims if claim.kind != "unproved"]


def formula_fields(entry: Entry):
    """(where, path into the entry's dict, source text) for every formula the claims read."""
    return _field_texts(entry.model_dump())


def parsed_formulas(entry: Entry):
    """(where, path, parsed formula) for every formula field that parses."""
    for where, path, text in formula_fields(entry):
        formula = parsed(entry, text)
        if formula is not None:
            yield where, path, formula


def add_formula(out: Collected, entry: Entry, data: dict, operator: str, where: str, path, new_root, description,
                kind: str) -> None:
    """Render ``new_root`` into the field at ``path``; a rewrite that leaves the language is dropped."""
    text, formula = T.reparse(new_root, entry.parameters)
    if formula is None:
        out.dropped[operator] = out.dropped.get(operator, 0) + 1
        return
    out.add(entry, operator, where, description, without_unused_definitions(with_value(data, path, text)), kind)


def without_unused_definitions(data: dict) -> dict:
    """A rewritten formula is written out with the entry's ``loss.where`` definitions inlined:
    the definitions no formula (nor another used definition) names any more are removed."""
    where = data.get("loss", {}).get("where") or {}
    if not where:
        return data
    texts = [text for _, _, text in _field_texts(data)]
    name_of = {head: re.match(r"\s*([A-Za-z_]\w*)", head).group(1) for head in where}
    used, grew = set(), True
    while grew:
        sources = texts + [where[head] for head in where if name_of[head] in used]
        found = {name for name in name_of.values() if any(re.search(rf"\b{name}\b", s) for s in sources)}
        grew, used = found != used, found
    out = copy.deepcopy(data)
    out["loss"]["where"] = {head: body for head, body in where.items() if name_of[head] in used}
    return out


def _field_texts(data: dict):
    """formula_fields on an entry's dict."""
    yield "loss.formula", ("loss", "formula"), data["loss"]["formula"]
    for k, claim in enumerate(data.get("claims", [])):
        for name in CLAIM_FORMULAS.get(claim.get("kind"), ()):
            if isinstance(claim.get(name), str):
                yield f"claims[{k}].{name}", ("claims", k, name), claim[name]


def tree_nodes(tree: dict, path=()):
    """(path, node) for every node of a dumped p/q tree (a dict with 'kind'), pre-order."""
    yield path, tree
    for name, value in tree.items():
        if isinstance(value, dict) and "kind" in value:
            yield from tree_nodes(value, path + (name,))
        elif isinstance(value, list):
            for k, item in enumerate(value):
                if isinstance(item, dict) and "kind" in item:
                    yield from tree_nodes(item, path + (name, k))


def with_value(data: dict, path, value) -> dict:
    out = copy.deepcopy(data)
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return out


def parsed(entry: Entry, text: str):
    try:
        return parse_entry_formula(entry, text)
    except FormulaError:
        return None


def site_rewrites(root, rule, limit=None, **context):
    """Apply ``rule(node, path, parent, root, **context)`` at every site; returns
    (new root, old sub-node, new sub-node) for each replacement it proposes, at most ``limit``
    of them (evenly spread over the formula, so a long formula does not swamp the rest)."""
    found = []
    for path, node, parent in T.sites(root):
        for new in rule(node, path, parent, root, **context):
            if new is not None and new != node:
                found.append((T.replace_at(root, path, new), node, new))
    if limit is None or len(found) <= limit:
        return found
    if limit == 1:
        return found[:1]
    return [found[round(k * (len(found) - 1) / (limit - 1))] for k in range(limit)]


#: how a wrapped or dropped operand is shown in a description
HOLE = N.Param("\u2026")


def change_words(old, new) -> str:
    """``old -> new``, with the unchanged operand elided when one wraps or keeps the other."""
    if old in T.direct_children(new):
        return f"{T.short(T.render(old), 48)}  ->  {T.short(T.render(T.replace_child(new, old, HOLE)))}"
    if new in T.direct_children(old):
        return f"{T.short(T.render(T.replace_child(old, new, HOLE)))}  ->  keeps only {T.short(T.render(new), 48)}"
    return f"{T.short(T.render(old))}  ->  {T.short(T.render(new))}"

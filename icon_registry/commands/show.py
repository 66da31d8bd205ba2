"""``icon show ID [--json]``: one catalog entry, whole and readable (inline TeX of the prose in
Unicode: ``$\\sigma \\to \\infty$`` prints as σ → ∞; ``--json`` keeps the text as written)."""

from __future__ import annotations

import textwrap

from icon_registry.commands import entries_from_args, print_json, terminal_safe, terminal_width
from icon_registry.inline_tex import CLAIM_PROSE, to_text


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "show",
        help="show one entry: paper, cell, p and q, parameters, loss, claims, relations, peers",
        description="Show a catalog entry (by id or alias).",
    )
    parser.add_argument("id", metavar="ID", help="entry id or alias (see `icon list`), or an entry file "
                        "(path/to/id.yaml), as `icon verify` takes")
    parser.add_argument("--json", action="store_true", help="print the entry as JSON")
    parser.set_defaults(func=run)


def _scalar(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value == int(value) and abs(value) < 1e15:
        return str(int(value)) if abs(value) >= 1 or value == 0 else repr(value)
    return str(value)


def _is_node(value) -> bool:
    return isinstance(value, dict) and "kind" in value


def tree_lines(node: dict, indent: int = 0) -> list[str]:
    """A p/q tree as indented lines: ``kind(field=value, ...)`` then its child nodes."""
    inline, children = [], []
    for key, value in node.items():
        if key == "kind":
            continue
        if _is_node(value):
            children.append((key, [value]))
        elif isinstance(value, list) and value and all(_is_node(v) for v in value):
            children.append((key, value))
        else:
            inline.append(f"{key}={_scalar(value)}")
    pad = "  " * indent
    lines = [f"{pad}{node['kind']}({', '.join(inline)})"]
    for key, values in children:
        if len(values) == 1 and key != "kernels":
            sub = tree_lines(values[0], indent + 2)
            lines.append(f"{pad}  {key}: {sub[0].lstrip()}")
            lines.extend(sub[1:])
        else:
            lines.append(f"{pad}  {key}:")
            for value in values:
                sub = tree_lines(value, indent + 2)
                lines.append(f"{pad}    - {sub[0].lstrip()}")
                lines.extend(sub[1:])
    return lines


def _range(spec) -> str:
    low = "-inf" if spec.min is None else _scalar(spec.min)
    high = "inf" if spec.max is None else _scalar(spec.max)
    kind = "integer" if spec.integer else "real"
    return f"{kind} in [{low}, {high}]"


def render(catalog, entry, width: int) -> str:
    out: list[str] = []
    label_width = 12

    def wrap(text: str, indent: int) -> list[str]:
        return textwrap.wrap(" ".join(str(text).split()), max(20, width - indent)) or [""]

    def field(label: str, text: str) -> None:
        lines = wrap(text, label_width)
        out.append(f"{label:<{label_width}}{lines[0]}")
        out.extend(" " * label_width + line for line in lines[1:])

    def block(lines: list[str]) -> None:
        out.extend(" " * label_width + line for line in lines)

    def item(text: str, indent: int = 2) -> None:
        lines = wrap(text, indent + 2)
        out.append(" " * indent + "- " + lines[0])
        out.extend(" " * (indent + 2) + line for line in lines[1:])

    out.append(f"{entry.id}: {entry.name}")
    out.extend(wrap(to_text(entry.summary), 0))
    out.append("")
    if entry.aliases:
        field("aliases", ", ".join(entry.aliases))
    field("status", entry.status + ("; beyond the paper (a method the I-Con paper does not derive)"
                                    if entry.beyond_paper else ""))
    if entry.paper is not None:
        paper = entry.paper
        venue = paper.venue if str(paper.year) in paper.venue else f"{paper.venue}, {paper.year}"
        field("paper", f"{paper.title}. {', '.join(paper.authors)}. {venue}.")
        field("", paper.link)
    row, column = entry.cell.row, entry.cell.column
    table = catalog.table
    if table is not None:
        row_label = next((r.label for r in table.rows if r.id == row), row)
        column_label = next((c.label for c in table.columns if c.id == column), column)
        field("cell", f"q: {row_label} ({row}) x p: {column_label} ({column})")
    else:
        field("cell", f"row {row}, column {column}")
    field("mapper", entry.mapper)
    field("direction", "forward: sum_i KL(p_i || q_i)" if entry.direction == "forward"
          else "reverse: sum_i KL(q_i || p_i)")
    dump = entry.model_dump(mode="json")
    for side in ("p", "q"):
        lines = tree_lines(dump[side])
        field(side, lines[0])
        block(lines[1:])
    if entry.limit is not None:
        limit = entry.limit
        field("limit", f"{limit.parameter} -> {limit.to}, loss scaled by {limit.parameter}^{limit.scale_power}")
    if entry.prefactor is not None:
        prefactor = entry.prefactor
        field("prefactor", f"loss = {prefactor.parameter}^{prefactor.power} x objective ({prefactor.reason})")
    if entry.parameters:
        out.append("parameters")
        for name, spec in entry.parameters.items():
            item(f"{name} = {_scalar(spec.default)} ({_range(spec)}): {to_text(spec.description)}")
    out.append(f"loss ({entry.loss.reduction} over anchors)")
    item(to_text(entry.loss.description))
    item(f"formula: {entry.loss.formula}")
    for name, definition in entry.loss.where.items():
        item(f"where {name} = {definition}", indent=4)
    out.append("claims")
    for claim in dump["claims"]:
        details = ", ".join(f"{k}={to_text(v) if k in CLAIM_PROSE else _scalar(v)}" for k, v in claim.items()
                            if k not in ("kind", "note") and v not in ("", None))
        text = claim["kind"] + (f" ({details})" if details else "")
        if claim.get("note"):
            text += f": {to_text(claim['note'])}"
        item(text)
    if entry.relations:
        out.append("relations")
        for relation in entry.relations:
            item(f"{relation.kind.replace('_', ' ')} {catalog.resolve(relation.target)}" + (f": {to_text(relation.note)}" if relation.note else ""))
    if entry.peers:
        out.append("peers")
        for peer in entry.peers:
            item(f"{peer.library}: {peer.object}: {to_text(peer.convention)}")
    if entry.errata:
        out.append("errata")
        for erratum in entry.errata:
            item(f"{to_text(erratum.where)}: printed {to_text(erratum.printed)}; corrected {to_text(erratum.corrected)}")
    if entry.notes:
        out.append("notes")
        out.extend("  " + line for line in wrap(to_text(entry.notes), 2))
    out.append("")
    field("file", str(catalog.path_of(entry.id)))
    return "\n".join(out)


def run(args) -> int:
    catalog, (entry_id,) = entries_from_args(args, [args.id], single=True)
    entry = catalog.get(entry_id)
    if args.json:
        data = entry.model_dump(mode="json")
        data["path"] = str(catalog.path_of(entry.id))
        print_json(data)
        return 0
    print(terminal_safe(render(catalog, entry, min(terminal_width(), 110))))
    return 0

"""Markdown pages generated from the catalog. Every page is a pure function of its inputs."""

from __future__ import annotations

import inspect
import re
from typing import Callable, Optional

from icon_registry.distributions import DISTRIBUTIONS
from icon_registry.docs_site import downloads
from icon_registry.docs_site.catalog_view import SiteCatalog
from icon_registry.docs_site.escape import code, fence, inline, label, link, one_line, prose, prose_inline, text
from icon_registry.docs_site.latex import (SUPPORT_LATEX, SUPPORT_WORDS, distribution_lines, parameter_latex, support_of,
                                           side_symbols, support_symbols)
from icon_registry.docs_site.reference import model_fields_table
from icon_registry.docs_site.notation import ICON_OBJECTIVE, notation_section, parsed_formulas
from icon_registry.docs_site.graph_image import legend as graph_legend
from icon_registry.docs_site.snippet import snippet
from icon_registry.graph import PHRASES, target_resolver
from icon_registry.inline_tex import SPAN, to_text
from icon_registry.docs_site.status import (STATUS_HELP, STATUS_LABELS, cell_status, claim_passed, claim_status,
                                            entry_status)
from icon_registry.kernels import KERNELS
from icon_registry.pairs import SUPPORT_INPUTS, SUPPORTS
from icon_registry.schema import Entry

MAPPER_WORDS = {
    "lookup": "a lookup table: one free vector per item (SNE, t-SNE)",
    "linear": "a linear map of the inputs (PCA)",
    "network": "a deep network",
    "prototypes": "class prototypes w_c learned beside the network (cross entropy)",
    "cluster_head": "a cluster head: soft assignments φ = softmax(z / T)",
}

CLAIM_WORDS = {
    "identity": "the I-Con objective equals the published loss exactly",
    "up_to_constant": "the I-Con objective equals the published loss up to a constant",
    "limit": "the published loss is a limit of the I-Con objective",
    "reverse_kl_entropy": "reverse KL = clustering cost / σ² − entropy + constant (K-Means form)",
    "decomposition": "the published loss is the I-Con objective plus a named extra term",
    "bound": "the published loss is bounded by the I-Con objective",
    "unproved": "stated, not proved",
}


#: the "Use it" section of an entry none of whose claims ties its objective to its published loss
NOT_THE_PUBLISHED_LOSS = ("No claim of this entry shows its I-Con objective equal to its published loss: "
                          "`compile_loss` computes the objective below (and warns so); "
                          "`compile_loss(..., source=\"formula\")` computes the published loss as written.")


def display(latex: str) -> str:
    return f"\n$$\n{latex}\n$$\n"


def _formula_latex(source: str, parameters=(), definitions=None) -> Optional[str]:
    """LaTeX of a catalog formula via icon_registry.formula (never evaluated); None if it fails."""
    formula = _parsed(source, parameters, definitions)[0]
    return formula.to_latex() if formula is not None else None


def _parsed(source: str, parameters=(), definitions=None):
    """(Formula, "") or (None, the problem)."""
    from icon_registry.formula import parse

    try:
        return parse(source, parameters=set(parameters), definitions=definitions), ""
    except Exception as err:  # noqa: BLE001 - the page shows the source and the problem instead
        return None, str(err)


def formula_block(source: str, parameters=(), definitions=None) -> str:
    """The formula as display math, then each definition of ``loss.where`` on its own line."""
    from icon_registry.formula import definition_latex

    formula, error = _parsed(source, parameters, definitions)
    if formula is None:
        return f'\n!!! warning "The formula does not parse"\n    {inline(error)}\n\n' + fence(source, indent="    ")
    out = display(formula.to_latex())
    if formula.definitions:
        out += "\nwhere\n" + "".join(display(definition_latex(d)) for d in formula.definitions)
    written = "\n".join([source] + [f"{d.key}: {d.source}" for d in formula.definitions])
    return out + '\n??? note "Formula source"\n' + fence(written, indent="    ")


def kinds_in(node, kernels: set, dists: set) -> None:
    """Collect the kernel kinds and distribution kinds of a p/q tree."""
    from icon_registry.distributions.base import Distribution
    from icon_registry.kernels.base import Kernel

    if isinstance(node, Kernel):
        kernels.add(node.kind)
    elif isinstance(node, Distribution):
        dists.add(node.kind)
    for value in node.__dict__.values():
        children = value if isinstance(value, (list, tuple)) else [value]
        for child in children:
            if isinstance(child, (Kernel, Distribution)):
                kinds_in(child, kernels, dists)


# ----------------------------------------------------------------- periodic table


#: a parenthesis that abbreviates the name before it: one word with a capital letter ("SNE", "t-SNE",
#: "SupCon", "LGSimCLR"); never a qualifier in words ("the E step", "unsupervised")
_ABBREVIATION = re.compile(r"^(?=[^\s]*[A-Z])[A-Za-z0-9][A-Za-z0-9\-]{0,11}$")


def short_name(name: str) -> str:
    """The label of a table chip: "Stochastic Neighbor Embedding (SNE)" -> "SNE",
    "SimCLR (NT-Xent)" -> "SimCLR"; the full name is in the hover title. A long name is shortened
    to its parenthesis only when that is an abbreviation of it; a name is never shortened to a
    qualifier ("EM and variational Bayes (the E step)" stays whole)."""
    found = re.match(r"^(.*?)\s*\(([^()]*)\)\s*$", name)
    if not found or not found.group(1):
        return name
    outside, inside = found.group(1), found.group(2)
    if len(outside) <= 16:
        return outside
    if _ABBREVIATION.match(inside):
        return inside
    return name


def beyond_paper(cat: SiteCatalog, entry: Entry) -> bool:
    """Shown in the second table: a method the paper does not derive, or one on an axis it lacks."""
    axes = [cat.rows.get(entry.cell.row), cat.columns.get(entry.cell.column)]
    return entry.beyond_paper or any(axis is not None and axis.beyond_paper for axis in axes)


def _table_html(cat: SiteCatalog, results: dict, rows, cols, table_id: str, shown) -> list[str]:
    """One periodic table: ``rows`` x ``cols``, with the entries for which ``shown(entry)`` holds."""
    parts = [f'<div class="icon-table-wrap"><table class="icon-table" id="{table_id}">']
    parts.append('<thead><tr><th title="rows: learned q; columns: supervisory p">q \\ p</th>')
    for c in cols:
        heading = label(c.label) + (' <span class="icon-year">beyond the paper</span>' if c.beyond_paper else "")
        parts.append(f'<th data-col="{label(c.id)}" title="{label(to_text(c.description))}">{heading}</th>')
    parts.append("</tr></thead><tbody>")
    for r in rows:
        parts.append(f'<tr data-row="{label(r.id)}"><th title="{label(to_text(r.description))}">{label(r.label)}</th>')
        for c in cols:
            entries = [e for e in cat.in_cell(r.id, c.id) if shown(e)]
            statuses = [entry_status(e, results.get(e.id)) for e in entries]
            status = cell_status(statuses)
            cell_title = f"q: {r.label}; p: {c.label}" + ("" if entries else " (empty)")
            parts.append(
                f'<td class="icon-cell" data-col="{label(c.id)}" data-row="{label(r.id)}" data-status="{status}" title="{label(cell_title)}">'
            )
            for e, st in zip(entries, statuses):
                year = e.paper.year if e.paper else st
                title = f"{e.name}: {STATUS_LABELS[st]}. {to_text(e.summary)}"
                parts.append(
                    f'<a class="icon-method" data-status="{st}" data-entry="{label(e.id)}" href="methods/{label(e.id)}.html" '
                    f'title="{label(title)}">{label(short_name(one_line(e.name)))}<span class="icon-year">{label(year)}</span></a>'
                )
            parts.append("</td>")
        parts.append("</tr>")
    parts.append("</tbody></table></div>")
    return parts


def table_page(cat: SiteCatalog, results: dict) -> str:
    rows, cols = cat.table.rows, cat.table.columns
    parts = [
        "---",
        "hide:",
        "  - navigation",
        "  - toc",
        "---",
        "",
        "# The periodic table",
        "",
        "Rows are kinds of learned distribution **q**, columns kinds of supervisory distribution **p**, "
        "in the order of `catalog/table.yaml`. Each cell lists its methods with their year; click one for its page. "
        "Hover a method or a header for details. The whole catalog, with what the verifier showed for each claim, "
        "is [catalog.json](catalog.json).",
        "",
        '<div class="icon-legend" id="icon-legend">',
    ]
    for key, name in STATUS_LABELS.items():
        parts.append(f'<span class="icon-chip {key}" title="{text(STATUS_HELP[key])}">{text(name)}</span>')
    parts.append("</div>")
    parts.append("")
    parts.append('<div class="icon-filters">')
    parts.append('<label>Row (q) <select id="icon-filter-row"><option value="">all</option>')
    parts += [f'<option value="{label(r.id)}">{label(r.label)}</option>' for r in rows]
    parts.append("</select></label>")
    parts.append('<label>Column (p) <select id="icon-filter-column"><option value="">all</option>')
    parts += [f'<option value="{label(c.id)}">{label(c.label)}</option>' for c in cols]
    parts.append("</select></label>")
    parts.append('<label>Status <select id="icon-filter-status"><option value="">all</option>')
    parts += [f'<option value="{k}">{text(v)}</option>' for k, v in STATUS_LABELS.items()]
    parts.append("</select></label>")
    parts.append('<button type="button" id="icon-filter-reset">reset</button> <span id="icon-filter-count"></span>')
    parts.append("</div>")
    parts.append("")
    beyond = [e for e in cat.entries if beyond_paper(cat, e)]
    paper_rows = [r for r in rows if not r.beyond_paper]
    paper_cols = [c for c in cols if not c.beyond_paper]
    parts += _table_html(cat, results, paper_rows, paper_cols, "icon-table", lambda e: not beyond_paper(cat, e))
    if beyond:
        used_rows = {e.cell.row for e in beyond}
        used_cols = {e.cell.column for e in beyond}
        parts += [
            "",
            "## Beyond the paper",
            "",
            "Methods the I-Con paper does not place in its table, each with its own derivation and peer checks, "
            "on the same rows and columns (plus the columns the paper does not have, marked *beyond the paper*). "
            "The table above is the paper's, unchanged.",
            "",
        ]
        parts += _table_html(cat, results, [r for r in rows if r.id in used_rows], [c for c in cols if c.id in used_cols],
                             "icon-table-beyond", lambda e: beyond_paper(cat, e))
    off = cat.off_table()
    if off:
        parts += ["", "## Not on the table", "", "These entries name a row or column that `table.yaml` does not list:", ""]
        parts += [f"- [{inline(one_line(e.name))}](methods/{e.id}.md): row {code(e.cell.row)}, column {code(e.cell.column)}" for e in off]
    parts += ["", "## All methods", "", "| Method | Year | Status | Row (q) | Column (p) |", "|---|---|---|---|---|"]
    for e in sorted(cat.entries, key=lambda e: e.name.lower()):
        s = entry_status(e, results.get(e.id))
        row = cat.rows[e.cell.row].label if e.cell.row in cat.rows else e.cell.row
        col = cat.columns[e.cell.column].label if e.cell.column in cat.columns else e.cell.column
        year = e.paper.year if e.paper else "–"
        parts.append(f"| [{inline(one_line(e.name))}](methods/{e.id}.md) | {year} | {STATUS_LABELS[s]} | {inline(row)} | {inline(col)} |")
    return "\n".join(parts) + "\n"


# ----------------------------------------------------------------- method pages


def _claim_fields(claim) -> list[tuple[str, str]]:
    out = []
    for name in type(claim).model_fields:
        if name in ("kind", "note"):
            continue
        value = getattr(claim, name)
        if value in ("", None):
            continue
        out.append((name, value))
    return out


FORMULA_FIELDS = {"constant", "scale", "offset", "equals", "factor", "cost"}


def _result_block(result, claim, parameters=()) -> list[str]:
    if result is None:
        return ["*Not verified in this build* (run `icon verify` to check it).", ""]
    passed = claim_passed(result)
    status = claim_status(result)
    word = STATUS_LABELS[status] if passed else {False: "fails", None: "not proved"}[passed]
    lines = [f'Verifier: <span class="icon-badge {status if passed else "fail" if passed is False else "other"}">'
             f"{text(word)}</span>", ""]
    detail = getattr(result, "detail", "")
    if detail:
        lines += [prose(detail), ""]
    derivation = getattr(result, "derivation", None)
    if passed and isinstance(derivation, dict) and derivation.get("proved"):
        lines += _derivation_block(derivation, getattr(claim, "note", ""), parameters)
    steps = getattr(result, "steps", None) or []
    steps = [steps] if isinstance(steps, str) else _listed(steps)
    if steps:
        lines.append('??? abstract "What the verifier checked"')
        lines += [f"    {k}. {prose_inline(step)}" for k, step in enumerate(steps, 1)]
        lines.append("")
    return lines


def _derivation_block(derivation: dict, note: str, parameters=()) -> list[str]:
    """The proof for every batch: assumptions, the two sides and their common normal form (typeset
    where the formula language reads them), the rewriting rules in a table, and the expression
    after each step (collapsed)."""
    sentence = first_sentence(note) if note else ""
    title = "Proof for every batch" + (f" ({inline(sentence, math=True)})" if sentence else "")
    lines = [f'???+ success "{title}"']
    for assumption in _listed(derivation.get("assumptions")):
        lines.append(f"    - *Assume* {prose_inline(assumption)}.")
    lines.append("")
    lines += _expression("The objective, as the kernels compute it for any batch:", derivation.get("objective", ""), parameters)
    lines += _expression("The published loss (<code>loss.formula</code>):", derivation.get("loss", ""), parameters)
    steps = [step for step in _listed(derivation.get("steps")) if isinstance(step, dict)]
    if steps:
        lines += ["    Rewriting, one rule at a time (a rule may apply several times in one step):", "",
                  "    | Step | Side | Rule | Times |", "    |---|---|---|---|"]
        for k, step in enumerate(steps, 1):
            side = "objective" if step.get("side") == "objective" else "loss"
            lines.append(f"    | {k} | {side} | {inline(one_line(step.get('rule', '')))} | {inline(step.get('count', ''))} |")
        lines.append("")
    lines += _expression("Both sides have one normal form:", derivation.get("normal_form", ""), parameters)
    if steps:
        lines += ['    ??? note "The expression after each step"', ""]
        for k, step in enumerate(steps, 1):
            lines += [f"        {k}. {inline(one_line(step.get('rule', '')))}", "", fence(step.get("expression", ""), indent="        ")]
    return lines


#: words that end with a "." without ending a sentence (Sec. 3.3, Thm. 2, e.g., et al.)
_ABBREVIATIONS = {"sec", "secs", "eq", "eqs", "fig", "figs", "tab", "thm", "thms", "prop", "props", "cor", "lem",
                  "def", "defn", "app", "appx", "ch", "chap", "ref", "refs", "cf", "vs", "al", "etc", "resp", "approx",
                  "vol", "pp", "e.g", "i.e", "w.r.t", "viz", "ibid"}
_FULL_STOP = re.compile(r"([A-Za-z.]*)\.(?=\s+[^a-z0-9\s(\[{,;:]|\s*$)")


def first_sentence(note) -> str:
    """The first sentence of a note, on one line, without its full stop: the text up to the
    first "." that ends a sentence, not one inside inline TeX ($...$) or after an abbreviation
    ("the uniform mixing of Sec. 3.3 applied ..." stays whole); the whole note if none does."""
    text = one_line(note)
    masked = SPAN.sub(lambda m: "X" * len(m.group(0)), text)  # a "." inside TeX ends nothing; TeX may start one
    for found in _FULL_STOP.finditer(masked):
        word = found.group(1).lower().strip(".")
        if word in _ABBREVIATIONS or (len(found.group(1)) == 1 and found.group(1).isupper()):  # an initial
            continue
        return text[:found.start() + len(found.group(1))].rstrip()
    return text.rstrip().rstrip(".").rstrip()


def _expression(label: str, expression, parameters) -> list[str]:
    """A prover expression: typeset when the formula language parses it, else as code."""
    tex = _formula_latex(str(expression), parameters) if isinstance(expression, str) else None
    body = "\n".join("    " + line for line in display(tex).strip("\n").split("\n")) if tex else fence(expression, indent="    ")
    return [f"    {label}", "", body, ""]


def _listed(value) -> list:
    """A results field that should be a list (a results file may hold anything)."""
    return list(value) if isinstance(value, (list, tuple)) else []


def _is_joint(node) -> bool:
    if getattr(node, "kind", None) == "symmetrize" or getattr(node, "over", None) == "joint":
        return True
    inner = getattr(node, "of", None)
    return inner is not None and _is_joint(inner)


def _relations_of(entry: Entry, cat: SiteCatalog) -> list[tuple[str, str, str]]:
    """(phrase, other entry, note) of the entry's own relations, then those other entries state
    about it (read from this side: "generalizes SimCLR" on InfoNCE's page)."""
    target_of = target_resolver(cat.entries)  # a relation may name its target by an alias
    out = [(PHRASES[r.kind][0], target_of(r) or r.target, r.note) for r in entry.relations]
    stated = {target_of(r) or r.target for r in entry.relations}
    for other in sorted(cat.entries, key=lambda e: e.id):
        for r in other.relations:
            if target_of(r) == entry.id and other.id not in stated:
                out.append((PHRASES[r.kind][1], other.id, r.note))
    return out


def method_page(entry: Entry, cat: SiteCatalog, results: Optional[list], requires=None, catalog_dir=None,
                builtin: bool = False) -> str:
    """``builtin``: the entry is the built-in catalog's (its snippet is one the test suite runs)."""
    s = entry_status(entry, results)
    row = cat.rows.get(entry.cell.row)
    col = cat.columns.get(entry.cell.column)
    L = [f"# {inline(one_line(entry.name))}", ""]
    L.append(
        f'<span class="icon-badge {s}">{STATUS_LABELS[s]}</span> '
        f"`{entry.id}`" + (f" · aliases: {', '.join(code(a) for a in entry.aliases)}" if entry.aliases else "")
    )
    L += ["", prose(entry.summary, math=True), ""]
    L.append(
        f"**Cell:** row (q) *{inline(row.label if row else entry.cell.row)}*, "
        f"column (p) *{inline(col.label if col else entry.cell.column)}* — [see the periodic table](../table.md)."
    )
    if entry.paper:
        p = entry.paper
        L += ["", f"**Paper:** {inline(', '.join(p.authors))} ({p.year}). {link(inline(p.title), p.link)}. *{inline(p.venue)}*."]
    L += ["", "## The objective in words", "", prose(entry.loss.description, math=True), ""]
    if _is_joint(entry.p) or _is_joint(entry.q):
        a, b = ("P", "Q") if entry.direction == "forward" else ("Q", "P")
        L.append(display(ICON_OBJECTIVE + r" = \mathrm{KL}(%s \,\|\, %s) = \sum_{i \neq j} %s_{ij} \log \frac{%s_{ij}}{%s_{ij}}"
                         % (a, b, a.lower(), a.lower(), b.lower())))
        L += ["One **joint** distribution over all pairs instead of one per anchor.", ""]
    else:
        kl = r"\mathrm{KL}\big(p(\cdot\mid i)\,\|\,q(\cdot\mid i)\big)" if entry.direction == "forward" else r"\mathrm{KL}\big(q(\cdot\mid i)\,\|\,p(\cdot\mid i)\big)"
        L.append(display(ICON_OBJECTIVE + r" = \sum_i " + kl))
    if entry.direction == "reverse":
        L += ["The learned distribution is on the **left** of the KL (reverse direction, as in clustering).", ""]
    L += notation_section(entry, parsed_formulas(entry))
    supports, renames = support_symbols(entry.p, entry.q), side_symbols(entry.p, entry.q)
    L += ["## Supervisory distribution p", ""]
    L += [display(line) for line in distribution_lines(entry.p, "p", supports["p"], renames["p"])]
    L += ["## Learned distribution q", ""]
    L += [display(line) for line in distribution_lines(entry.q, "q", supports["q"], renames["q"])]
    L += ["## Map f and support", ""]
    L.append(f"- **f:** {inline(MAPPER_WORDS.get(entry.mapper, entry.mapper))} (`mapper: {entry.mapper}`).")
    for letter, node in (("p", entry.p), ("q", entry.q)):
        sup = support_of(node)
        shown = SUPPORT_LATEX.get(sup, sup).replace("S(i)", supports[letter])
        L.append(f"- **Support of {letter}:** {SUPPORT_WORDS.get(sup, sup)} (`{sup}`): ${shown}$")
    if entry.limit:
        arrow = r"\infty" if entry.limit.to == "infinity" else "0"
        name, sym = entry.limit.parameter, parameter_latex(entry.limit.parameter)
        L.append(
            f"- **Limit:** ${sym} \\to {arrow}$; the compiled loss is evaluated at a finite `{name}` "
            f"and multiplied by ${sym}^{{{entry.limit.scale_power}}}$."
        )
    if entry.prefactor:
        sym = entry.prefactor.parameter
        L.append(f"- **Prefactor:** the loss is ${sym}^{{{entry.prefactor.power}}}$ times the objective "
                 f"({inline(entry.prefactor.reason)}).")
    kernels, dists = set(), set()
    kinds_in(entry.p, kernels, dists)
    kinds_in(entry.q, kernels, dists)
    links = [f"[{k}](../kernels/{k}.md)" for k in sorted(kernels)] + [f"[{d}](../distributions/{d}.md)" for d in sorted(dists)]
    L.append(f"- **Building blocks:** {', '.join(links)}")
    L.append("")
    if entry.parameters:
        L += ["## Parameters", "", "| Name | Default | Range | Meaning |", "|---|---|---|---|"]
        for name, par in entry.parameters.items():
            rng = f"[{'−∞' if par.min is None else f'{par.min:g}'}, {'∞' if par.max is None else f'{par.max:g}'}]"
            if par.integer:
                rng += " (integer)"
            L.append(f"| `{name}` | {par.default:g} | {rng} | {inline(par.description, math=True)} |")
        L.append("")
    L += [{"published": "## Published loss", "new": "## The method's loss"}.get(entry.status, "## The cell's loss"), ""]
    L.append(formula_block(entry.loss.formula, entry.parameters, entry.loss.where))
    L += [f"Reduction over anchors: **{entry.loss.reduction}**.", ""]
    L += ["## Claims", ""]
    for k, claim in enumerate(entry.claims):
        result = results[k] if results and k < len(results) else None
        L += [f"### {k + 1}. {claim.kind.replace('_', ' ')}" + (f" ({claim.objective})" if hasattr(claim, "objective") else ""), ""]
        L += [CLAIM_WORDS.get(claim.kind, claim.kind) + ".", ""]
        for name, value in _claim_fields(claim):
            if name == "objective":
                continue
            if name in FORMULA_FIELDS and isinstance(value, str):
                tex = _formula_latex(value, entry.parameters, entry.loss.where)
                L.append(f"- **{name}:** " + (f"${tex}$" if tex else code(value)))
            else:
                L.append(f"- **{name}:** {prose_inline(value, math=True)}")
        if getattr(claim, "note", ""):
            L.append(f"- **note:** {prose_inline(claim.note, math=True)}")
        L.append("")
        if claim.kind != "unproved" or result is not None:
            L += _result_block(result, claim, entry.parameters)
    L += ["## Use it", ""]
    if builtin:
        L += ["This snippet is executed by the test suite on every build.", ""]
    else:
        L += ["Run it to check that the entry compiles and its loss has a gradient.", ""]
    if not any(claim.ties_objective_to_loss for claim in entry.claims):  # compile_loss warns so, once
        L += [NOT_THE_PUBLISHED_LOSS, ""]
    L += [fence(snippet(entry, requires, catalog_dir).rstrip("\n"), "python")]
    if entry.peers:
        L += ["## Peers and conventions", "", "| Library | Object | Convention |", "|---|---|---|"]
        L += [f"| {inline(p.library)} | {code(p.object)} | {inline(p.convention, math=True)} |" for p in entry.peers]
        L.append("")
    relations = _relations_of(entry, cat)
    if relations:
        L += ["## Relations", "", _RELATIONS_ARE_STATED, ""]
        for phrase, other, note in relations:
            target = cat.get(other)
            to = f"[{inline(one_line(target.name))}]({other}.md)" if target else f"{code(other)} (not in this catalog)"
            L.append(f"- {phrase} {to}" + (f": {prose_inline(note, math=True)}" if note else ""))
        L += ["", "See the whole [relation graph](../graph.md).", ""]
    L += ["## References", ""]
    if entry.paper:
        p = entry.paper
        L.append(f"- {inline(', '.join(p.authors))}. *{inline(p.title)}*. {inline(p.venue)}, {p.year}. {link(inline(p.link), p.link)}")
    L.append(
        "- Alshammari, Hershey, Feldmann, Freeman, Hamilton. *I-Con: A Unifying Framework for Representation "
        "Learning*. ICLR 2025. <https://arxiv.org/abs/2504.16929>"
    )
    L.append("")
    if entry.errata:
        L += ["## Errata", "", "| Where | Printed | Corrected |", "|---|---|---|"]
        L += [f"| {inline(e.where, math=True)} | {inline(e.printed, math=True)} | {inline(e.corrected, math=True)} |"
              for e in entry.errata]
        L.append("")
    if entry.notes:
        L += ["## Notes", "", prose(entry.notes, math=True), ""]
    L += downloads.cite_and_source(entry, downloads.source_text(cat.sources.get(entry.id)))
    return "\n".join(L)


# ----------------------------------------------------------------- kernels and distributions


def _doc(cls) -> str:
    module = inspect.getmodule(cls)
    parts = [inspect.cleandoc(module.__doc__)] if module and module.__doc__ else []
    own = cls.__dict__.get("__doc__")
    if own:
        parts.append(inspect.cleandoc(own))
    return "\n\n".join(parts)


def _fields(cls) -> list[str]:
    return model_fields_table(cls, leave_out=("kind",)) or ["None besides `kind`.", ""]


def _used_by(cat: SiteCatalog, kind: str, kernel: bool) -> list[str]:
    users = []
    for e in cat.entries:
        kernels, dists = set(), set()
        kinds_in(e.p, kernels, dists)
        kinds_in(e.q, kernels, dists)
        if kind in (kernels if kernel else dists):
            users.append(f"[{inline(one_line(e.name))}](../methods/{e.id}.md)")
    return users


def kernel_page(kind: str, cls, cat: SiteCatalog) -> str:
    L = [f"# Kernel `{kind}`", "", text(_doc(cls)), ""]
    if cls.summary:
        L.append(display("w(i,j) = " + cls.summary))
    if getattr(cls, "indicator", False):
        L += ["An **indicator** kernel: its normalized distribution is uniform over where it is 1.", ""]
    L += ["## Fields", ""] + _fields(cls)
    users = _used_by(cat, kind, True)
    L += ["## Used by", "", ", ".join(users) if users else "No entry of this catalog uses it yet.", ""]
    return "\n".join(L)


def distribution_page(kind: str, cls, cat: SiteCatalog) -> str:
    L = [f"# Distribution `{kind}`", "", text(_doc(cls)), ""]
    L += ["## Fields", ""] + _fields(cls)
    users = _used_by(cat, kind, False)
    L += ["## Used by", "", ", ".join(users) if users else "No entry of this catalog uses it yet.", ""]
    return "\n".join(L)


def building_blocks_index() -> str:
    L = ["# Kernels and distributions", "", "Every p and q in the catalog is a tree of these nodes (`kind:` in the YAML).", ""]
    L += ["## Kernels", "", "| Kind | w(i, j) |", "|---|---|"]
    for kind, cls in KERNELS.items():
        L.append(f"| [{kind}]({kind}.md) | ${cls.summary}$ |" if "|" not in cls.summary else f"| [{kind}]({kind}.md) | |")
    L += ["", "## Distributions", ""]
    for kind, cls in DISTRIBUTIONS.items():
        first = (inspect.getmodule(cls).__doc__ or "").strip().splitlines()
        L.append(f"- [{kind}](../distributions/{kind}.md): {text(first[0] if first else '')}")
    L += ["", "## Supports", "", "What a distribution's candidates j are (`support:`), and the call arguments each reads.", "",
          "| Support | Candidates | Reads |", "|---|---|---|"]
    for name, meaning in SUPPORTS.items():
        reads = ", ".join(f"`{arg}`" for arg in sorted(SUPPORT_INPUTS.get(name, ()))) or "z only"
        L.append(f"| `{name}` | {inline(meaning)} | {reads} |")
    L.append("")
    return "\n".join(L)


# ----------------------------------------------------------------- errata, graph, results


def errata_page(cat: SiteCatalog) -> str:
    L = ["# Errata", "", "Every erratum recorded in the catalog: what a paper or its code prints, and the correction.", ""]
    rows = [(e, err) for e in cat.entries for err in e.errata]
    if not rows:
        return "\n".join(L + ["No errata recorded.", ""])
    L += ["| Method | Where | Printed | Corrected |", "|---|---|---|---|"]
    for e, err in rows:
        L.append(f"| [{inline(one_line(e.name))}](methods/{e.id}.md) | {inline(err.where, math=True)} | "
                 f"{inline(err.printed, math=True)} | {inline(err.corrected, math=True)} |")
    L.append("")
    return "\n".join(L)


#: What a relation is worth: the verifier checks claims, not relations.
_RELATIONS_ARE_STATED = ("Relations are what the entries' authors state, with their notes; `icon verify` checks an "
                         "entry's claims, not its relations.")


def graph_page(svg: str, edges, cat: SiteCatalog) -> str:
    """The relation graph (an inline SVG whose nodes link to the method pages), its legends, and
    every relation once, read both ways."""
    L = ["---", "hide:", "  - toc", "---", "", "# Relation graph", "",
         "Methods (dots, coloured by status as in the [periodic table](table.md)) and the relations their entries "
         "state (lines, coloured by kind; an arrow points from the entry that states the relation to the other). "
         "Click a method to open its page; the picture is also [a file of its own](assets/relation-graph.svg).", "",
         _RELATIONS_ARE_STATED, ""]
    legend = "".join(f'<span class="icon-chip {key}">{text(name)}</span>' for key, name in STATUS_LABELS.items() if key != "empty")
    L += [f'<div class="icon-legend">{legend}</div>', "", graph_legend(), "",
          f'<div class="icon-graph-wrap">{svg}</div>', ""]
    if edges:
        L += ["## Every relation", "", "Each related pair once; the last column reads it from the other method's side.", "",
              "| Method | Relation | Other method | From the other side | Notes |", "|---|---|---|---|---|"]
        for a, kind, b, note, other_note in edges:
            name_a, name_b = inline(one_line(cat.get(a).name)), inline(one_line(cat.get(b).name))
            notes = "<br>".join(inline(n, math=True) for n in (note, other_note) if n)
            L.append(f"| [{name_a}](methods/{a}.md) | {PHRASES[kind][0]} | [{name_b}](methods/{b}.md) | "
                     f"{name_b} {PHRASES[kind][1]} {name_a} | {notes} |")
        L.append("")
    return "\n".join(L)


Progress = Callable[[str], None]

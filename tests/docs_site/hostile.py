"""A hostile catalog folder and results folder: every text field that reaches the site carries
payloads that announce themselves if the browser ever runs them, and the table fields carry
strings that break naive Markdown tables.

A payload that runs pushes its marker ("<field>#<k>") onto ``window.iconPwned``, sets
``document.title`` to ``PWNED`` or opens a dialog (alert, confirm) with its marker; the browser
test fails on any of the three.
Link payloads (``javascript:``, ``data:``) do nothing until clicked: the test fails on any
link or source whose scheme is not http(s).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

PWNED_TITLE = "PWNED"


def _run(marker: str) -> str:
    """JavaScript (no spaces) that records that ``marker``'s payload ran."""
    return f"(window.iconPwned=window.iconPwned||[]).push('{marker}')"


# each template is formatted with js= the recording script and m= the marker
PAYLOADS = [
    "<script>{js}</script>",
    "<script>alert('{m}')</script>",
    '<img src=z onerror="confirm(\'{m}\')">',
    '"><script>{js}</script>',
    "'><img src=x onerror={js}>",
    '<img src=x onerror="{js}">',
    "<svg onload={js}>",
    "</title><script>{js}</script>",
    "</textarea></style></script><script>{js}</script>",
    "[click](javascript:{js})",
    "[click][r] and [r]: javascript:{js}",
    "![img](javascript:{js})",
    '<a href="javascript:{js}">a</a>',
    "<javascript:{js}>",
    "[data](data:text/html,<script>{js}</script>)",
    '{{: onclick="{js}" onmouseover="{js}" }}',
    "$\\href{{javascript:{js}}}{{k}}$",
    "$x<img/src=x/onerror={js}>$",  # TeX the site typesets: KaTeX builds it as text
    "$\\text{{<script>{js}</script>}}$",
    '<iframe srcdoc="<script>{js}</script>"></iframe>',
    "<details open ontoggle={js}>d</details>",
    "<script>document.title='" + PWNED_TITLE + "'</script>",
    '<img src=y onerror="document.title=\'' + PWNED_TITLE + '\'">',
    "&lt;script&gt;{js}&lt;/script&gt;",
    "\x02wzxhzdk:0\x03 {{{{ config }}}} {{% raw %}}",
    # bidi controls: an override in a name reverses what follows it (the rest of the nav, the next cell)
    "x \u202eevil\u202c \u202aemb\u202b \u202dlro \u2066iso\u2067\u2068\u2069 marks\u200e\u200f\u061c",
    "line one\n\n<script>{js}</script>\n\n    indented <b onmouseover={js}>x</b>\n# heading <script>{js}</script>\n!!! note\n    <script>{js}</script>\n```\n<script>{js}</script>\n```",
]

# strings that break naive Markdown tables or code cells; each must come back intact
TABLE_STRINGS = [
    "a | b || c",
    "max(0, d(a, p) - d(a, n) + m) with `torch.clamp` | `x|y`",
    "ends with a pipe |",
    "\\| escaped pipe \\",
    "<b>not bold</b> & &amp; &lt; &#x27; &#39;",
    "\"double\" 'single' `back`tick``s",
    "line one\nline two",
    "*star* _under_ **strong** ~~strike~~ ==mark== ^sup^",
    "[link](https://example.com) <https://example.com> $x_1$ \\(y\\)",
    "{: .cls } # not a heading",
    "entropy of p(.|i) = -sum_j p(j|i) log p(j|i)",
]


def hostile_text(field: str) -> str:
    """Every payload for ``field``, one after the other (one string)."""
    return " ".join(template.format(js=_run(f"{field}#{k}"), m=f"{field}#{k}") for k, template in enumerate(PAYLOADS))


def _link(field: str) -> str:
    """A paper link the schema accepts (https://, no whitespace) that tries to leave its attribute."""
    js = _run(f"{field}#link")
    return f"https://e.example/\"><script>{js}</script>'onmouseover='{js}'<img/src=x/onerror={js}>"


def _entry(entry_id: str, target: str, cell: dict) -> dict:
    f = lambda name: hostile_text(f"{entry_id}.{name}")  # noqa: E731
    return {
        "id": entry_id,
        # a name refuses control characters (the schema): every other payload still rides on it
        "name": "".join(c for c in f("name") if c.isprintable()),
        "aliases": [f"{entry_id}_alias", f"`{entry_id}` <b>x<b onmouseover=alert(1)>|y"],
        "summary": f("summary"),
        "status": "published",
        "paper": {
            "title": f("paper.title"),
            "authors": [f("paper.authors"), "Plain Author"],
            "year": 2020,
            "venue": f("paper.venue"),
            "link": _link(f"{entry_id}.paper.link"),
        },
        "cell": cell,
        "mapper": "network",
        "p": {"kind": "normalize", "kernel": {"kind": "same_id"}, "support": "others"},
        "q": {"kind": "normalize", "kernel": {"kind": "gaussian_dot", "temperature": "tau"}, "support": "others"},
        "parameters": {
            "tau": {"default": 0.5, "min": 0.0001, "description": f("parameters.tau")},
            **{f"p{k}": {"default": 1.0, "description": text} for k, text in enumerate(TABLE_STRINGS)},
        },
        "loss": {
            # a formula is parsed (ASCII, a whitelist) when the entry is validated: no payload can be one
            "formula": "-mean(i, anchors_with(positives), mean(j, positives(i), cos(z[i], z[j])/tau"
                       " - logsumexp(k, others(i), cos(z[i], z[k])/tau)))",
            "description": f("loss.description"),
        },
        "claims": [
            {"kind": "identity", "note": f("claims.identity.note")},
            {"kind": "up_to_constant", "objective": "kl", "constant": "0", "constant_name": f("claims.constant_name")},
            {"kind": "unproved", "statement": f("claims.statement"), "reason": f("claims.reason")},
        ],
        "relations": [{"kind": "variant_of", "target": target, "note": f("relations.note")}],
        "peers": [{"library": "torch", "object": f("peers.object"), "convention": f("peers.convention")}]
        + [{"library": "torch", "object": text, "convention": text} for text in TABLE_STRINGS],
        "errata": [{"where": f("errata.where"), "printed": f("errata.printed"), "corrected": f("errata.corrected")}]
        + [{"where": text, "printed": text, "corrected": text} for text in TABLE_STRINGS],
        "notes": f("notes"),
    }


HOSTILE_IDS = ("hostile_a", "hostile_b", "hostile_off")


def write_hostile_catalog(folder: Path) -> Path:
    """A catalog folder (table.yaml + methods/) whose every text field is hostile."""
    (folder / "methods").mkdir(parents=True, exist_ok=True)
    axis = lambda axis_id, name: {"id": axis_id, "label": hostile_text(f"table.{name}.label"),  # noqa: E731
                                  "description": hostile_text(f"table.{name}.description")}
    table = {"rows": [axis("gaussian", "row")], "columns": [axis("positive_pairs", "column")]}
    (folder / "table.yaml").write_text(yaml.safe_dump(table, allow_unicode=True), encoding="utf-8")
    cells = {"hostile_a": {"row": "gaussian", "column": "positive_pairs"},
             "hostile_b": {"row": "gaussian", "column": "positive_pairs"},
             "hostile_off": {"row": "nowhere", "column": "positive_pairs"}}
    targets = {"hostile_a": "hostile_b", "hostile_b": "hostile_a", "hostile_off": "not_in_catalog"}
    for entry_id in HOSTILE_IDS:
        data = _entry(entry_id, targets[entry_id], cells[entry_id])
        (folder / "methods" / f"{entry_id}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder


def write_hostile_results(folder: Path) -> Path:
    """results/: bench.json and reproduce.json tables, verify.json proof sketches, all hostile."""
    folder.mkdir(parents=True, exist_ok=True)
    records = [{"entry": "hostile_a", hostile_text("bench.key"): hostile_text("bench.value"), "ms": 1.5}]
    records += [{"entry": text, "note": text, text: 1.0} for text in TABLE_STRINGS]
    (folder / "bench.json").write_text(json.dumps(records), encoding="utf-8")
    reproduce = {
        hostile_text("reproduce.scalar_key"): hostile_text("reproduce.scalar"),
        hostile_text("reproduce.section"): {"run": {"mean": 0.5, "label": hostile_text("reproduce.nested")}},
        "listed": [hostile_text("reproduce.list_item"), {"deep": [1, 2]}],
        "plots": ["plot<script>.png", hostile_text("reproduce.plot")],
    }
    (folder / "reproduce.json").write_text(json.dumps(reproduce), encoding="utf-8")
    verify = []
    for entry_id in HOSTILE_IDS:  # one result per claim, in claim order: a proof, then a failure
        f = lambda name: hostile_text(f"verify.{entry_id}.{name}")  # noqa: E731
        derivation = {"proved": True, "assumptions": [f("assumption")], "objective": f("objective"), "loss": f("loss"),
                      "normal_form": f("normal_form"),
                      "steps": [{"side": f("side"), "rule": f("rule"), "count": f("count"), "expression": f("expression")}, "not a step"]}
        verify.append({"id": entry_id, "status": "pass", "proof": "all_n", "detail": f("detail"), "steps": [f("step")],
                       "derivation": derivation})
        verify.append({"id": entry_id, "status": f("status"), "detail": f("detail"), "steps": f("steps")})
    (folder / "verify.json").write_text(json.dumps(verify), encoding="utf-8")
    return folder

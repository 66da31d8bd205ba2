"""Writing entries: the commented template ``icon new`` writes, and the entry-format reference
page, both generated from the schema's field descriptions (``icon_registry.schema``,
``icon_registry.claims``), so the comments, the docs and the validator say the same thing."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Optional

import yaml

from icon_registry.claims import CLAIM_CLASSES
from icon_registry.errors import IconError
from icon_registry.files import write_file

#: The entry ``icon new ID`` starts from without --like: InfoNCE with a Gaussian kernel on
#: squared distances (a new method; its identity claim verifies as written).
STARTER = {
    "cell": {"row": "gaussian", "column": "positive_pairs"},
    "mapper": "network",
    "p": {"kind": "normalize", "support": "others", "kernel": {"kind": "same_id"}},
    "q": {"kind": "normalize", "support": "others", "kernel": {"kind": "gaussian", "space": "z", "sigma": "sigma"}},
    "parameters": {"sigma": {"default": 1.0, "min": 0.001, "description": "bandwidth of the Gaussian kernel on z"}},
    "loss": {
        "formula": "sum(i, anchors_with(positives), mean(j, positives(i), sqdist(z[i], z[j]) / (2*sigma**2) "
                   "+ logsumexp(k, others(i), -sqdist(z[i], z[k]) / (2*sigma**2))))",
        "reduction": "sum",
        "description": "Pull each view towards the other views of its instance and push it from the rest of "
                       "the batch, by squared distance with bandwidth sigma.",
    },
    "claims": [{"kind": "identity", "objective": "cross_entropy"}],
    "relations": [{"kind": "variant_of", "target": "simclr", "note": "a Gaussian kernel on distances instead of "
                   "cosine similarities"}],
}

#: What ``--like`` leaves out of the entry it copies: who it is and where it was published. Every
#: other field (the objective, its scale, parameters, loss and claims) is copied, so the copy
#: verifies as the original does.
NOT_COPIED = frozenset(("id", "name", "aliases", "status", "paper", "relations", "peers", "errata", "notes",
                        "beyond_paper"))

#: Extra words for fields whose schema description is not enough in a template.
def _claim_kind(cls) -> str:
    return cls.model_fields["kind"].annotation.__args__[0]


def _first_sentence(doc: Optional[str]) -> str:
    text = " ".join((doc or "").split()).replace("``", "`")
    return re.split(r"(?<!\be\.g)(?<!\bi\.e)\.\s", text)[0].rstrip(".") + "."


def _kinds_note() -> str:
    """Every distribution and kernel kind, from the registries (a kind added there is listed here)."""
    from icon_registry.distributions import DISTRIBUTION_CLASSES
    from icon_registry.kernels import KERNELS

    first = {"normalize": "normalize (a kernel over a support)"}
    kinds = [first.get(_claim_kind(cls), _claim_kind(cls)) for cls in DISTRIBUTION_CLASSES]
    return (f"kinds: {', '.join(kinds)}; kernels: {', '.join(KERNELS)} (the docs' Kernels page describes "
            "each; `icon show ID` prints how an entry combines them)")


NOTES = {
    "p": _kinds_note(),
    "claims": ["kinds:"] + [f"- {_claim_kind(cls)}: {_first_sentence(cls.__doc__)}" for cls in CLAIM_CLASSES],
}


def _comment(text: str, indent: str = "") -> list[str]:
    return [f"{indent}# {line}" for line in textwrap.wrap(" ".join(text.split()), 96 - len(indent))]


def _dump(key: str, value, indent: str = "") -> list[str]:
    text = yaml.safe_dump({key: value}, sort_keys=False, width=10**6, allow_unicode=True, default_flow_style=False)
    return [indent + line for line in text.rstrip("\n").splitlines()]


def _explicit(data):
    """A dump with the empty lists, mappings and strings left out (defaults stay: they are the knobs)."""
    if isinstance(data, dict):
        return {k: _explicit(v) for k, v in data.items() if v not in ([], {}, "")}
    if isinstance(data, list):
        return [_explicit(v) for v in data]
    return data


def _quoted(text: str) -> str:
    """A formula as a single-quoted YAML scalar (the catalog's style)."""
    return "'" + text.replace("'", "''") + "'"


def template(entry_id: str, like=None, like_file=None) -> str:
    """The YAML of a new entry ``entry_id``: a copy of ``like`` (an Entry) made yours, or the
    starter; every field preceded by a comment that says what it is. ``like_file``: the file ``like``
    was read from when the new entry's catalog does not load it; the copy then has no variant_of
    relation, which would name an entry unknown there (its first line names the file)."""
    from icon_registry.schema import Entry, Loss

    if like is not None:
        data = _explicit(like.model_dump(mode="json", exclude_none=True, include=set(Entry.model_fields) - NOT_COPIED))
        data["claims"] = [{"kind": claim.pop("kind"), **{k: v for k, v in claim.items() if k != "note"}}
                          for claim in data["claims"]]  # the copied paper's theorem numbers are not yours
        data.pop("relations", None)
        if like_file is None:
            data["relations"] = [{"kind": "variant_of", "target": like.id, "note": f"started from {like.name}"}]
        name, origin = f"{entry_id} (a variant of {like.name})", f"icon new {entry_id} --like {like_file or like.id}"
    else:
        data = {"summary": "InfoNCE with a Gaussian kernel on squared distances.", **STARTER}
        name, origin = f"{entry_id} (my method)", f"icon new {entry_id}"
    data = {"id": entry_id, "name": name, "status": "new", **data}
    lines = [f"# {entry_id}: written by `{origin}`. Edit it, then:"]
    lines += ["#   icon validate --catalog DIR      (every field and formula, with file:line: field: message)",
              f"#   icon verify {entry_id} --catalog DIR  (each claim, symbolically and numerically)",
              "# The formula language: `icon formula` (or the docs' Formula language page); a formula is checked",
              "# with `icon formula 'EXPR' --entry ID --catalog DIR`.", ""]
    order = [name for name in Entry.model_fields if name in data]
    for key in order:
        lines += _comment(Entry.model_fields[key].description or "")
        for note in [NOTES[key]] if isinstance(NOTES.get(key), str) else NOTES.get(key, []):
            lines += _comment(note)
        if key == "loss":
            lines.append("loss:")
            for sub in ("formula", "where", "reduction", "description"):
                if sub not in data["loss"]:
                    continue
                lines += _comment(Loss.model_fields[sub].description or "", "  ")
                if sub == "formula":
                    lines.append(f"  formula: {_quoted(data['loss']['formula'])}")
                elif sub == "where":
                    lines.append("  where:")
                    lines += [f"    {_quoted(name)}: {_quoted(text)}" for name, text in data["loss"]["where"].items()]
                else:
                    lines += _dump(sub, data["loss"][sub], "  ")
        else:
            lines += _dump(key, data[key])
        lines.append("")
    return "\n".join(lines)


def write_new_entry(folder: Path, entry_id: str, text: str) -> Path:
    """Write ``text`` as ``folder/<id>.yaml`` (``folder/methods/`` for a catalog root), never over
    an existing file."""
    folder = Path(folder)
    target = (folder / "methods" if (folder / "methods").is_dir() else folder) / f"{entry_id}.yaml"
    if target.exists():
        raise IconError(f"{target} exists already; icon new never overwrites a file (choose another id)",
                        argument="ID")
    return write_file(target, text, replace=False)


def _markdown(text: str) -> str:
    """Schema prose as Markdown: a ``*`` outside code spans is a literal star (``T**2``, ``m*scale``),
    never emphasis."""
    parts = re.split(r"(`+[^`]*?`+)", text)
    return "".join(part if part.startswith("`") else part.replace("*", "\\*") for part in parts)


def entry_format_markdown() -> str:
    """The docs page "Entry format": every field with its meaning, the claim kinds, the statuses
    and the catalog folder layout (from the schema, like ``icon new``'s comments)."""
    from icon_registry.schema import Entry, Loss

    lines = ["# Entry format", "",
             "One YAML file per method, `<id>.yaml`. `icon new ID [--like EXISTING] --catalog DIR` writes one with "
             "a comment above every field; `icon validate --catalog DIR` checks it (every problem as "
             "`file:line: field: message`). Unknown fields are errors.", "", "## Fields", ""]
    for name, info in Entry.model_fields.items():
        required = "required" if info.is_required() else "optional"
        lines.append(f"- `{name}` ({required}): {_markdown(info.description or '')}")
    lines += ["", "`loss`:", ""]
    lines += [f"- `loss.{name}`: {_markdown(info.description or '')}" for name, info in Loss.model_fields.items()]
    lines += ["", "## Status", "",
              "- `published`: a loss from a paper; `paper:` is required.",
              "- `gap`: an empty cell of the periodic table: the objective its row (q) and column (p) define, "
              "which no paper has published; no paper.",
              "- `new`: a method of your own (published nowhere, or not yet); `icon new` writes this status.",
              "", "The periodic table colours the three differently.", "",
              "## Claims", "",
              "Each claim says how the I-Con objective sum_i KL(p_i || q_i) relates to `loss.formula`; "
              "`icon verify` checks it. Formula fields are checked by `icon validate` like `loss.formula`.", ""]
    for cls in CLAIM_CLASSES:
        kind = cls.model_fields["kind"].annotation.__args__[0]
        lines.append(f"### `{kind}`")
        lines += ["", _markdown(" ".join((cls.__doc__ or "").split())), ""]
        for name, info in cls.model_fields.items():
            if name in ("kind", "note"):
                continue
            optional = "" if info.is_required() else " (optional)"
            lines.append(f"- `{name}`{optional}: {_markdown(info.description or '')}")
        lines.append("")
    lines += ["`constant_name` (of `up_to_constant`) names the constant in words on the entry's page, e.g. "
              "`H(p)` or `-sum_i log|P(i)| (zero with two views)`.", "",
              "## Where entries live", "",
              "`--catalog DIR` (repeatable) and `$ICON_CATALOG` (folders separated like `PATH`) add your own "
              "folders to the built-in catalog. A folder is either",
              "",
              "- a flat folder of entries: `DIR/<id>.yaml` (a `DIR/table.yaml` there is a table of your own), or",
              "- a catalog root: `DIR/methods/<id>.yaml` and optionally `DIR/table.yaml` (the built-in catalog "
              "is one).",
              "",
              "Files must be named after their `id`; ids must not collide with built-in ones. No `.yaml` "
              "file is skipped in silence: one beside a root's `methods/` or in a subfolder (at any depth) "
              "is an error that names it and says where it belongs or which folder to pass.", ""]
    return "\n".join(lines)

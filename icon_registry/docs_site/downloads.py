"""What a reader takes away from the site: a BibTeX entry per method, each entry's YAML source,
and ``catalog.json`` (every entry, the schema's version and the verification results).

BibTeX and JSON are built from the entry's fields as data (BibTeX's special characters escaped,
but for the verbatim ``doi``, from which only what could break out of the field is dropped;
JSON written by ``json``); the pages show them in code blocks, which Markdown escapes itself.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from pathlib import Path
from typing import Optional

from icon_registry.docs_site.escape import one_line
from icon_registry.docs_site.inputs import outside_reason
from icon_registry.docs_site.status import STATUS_LABELS, claim_status, entry_status
from icon_registry.verify.runner import claim_labels

ICON_BIBTEX = """@inproceedings{alshammari2025icon,
  title = {{I-Con: A Unifying Framework for Representation Learning}},
  author = {Shaden Alshammari and John Hershey and Axel Feldmann and William T. Freeman and Mark Hamilton},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year = {2025},
  url = {https://arxiv.org/abs/2504.16929}
}"""
ICON_LINK = "https://arxiv.org/abs/2504.16929"

_BIBTEX_SPECIAL = str.maketrans({c: "\\" + c for c in "{}&%$#_"} | {"\\": r"\textbackslash{}", "~": r"\textasciitilde{}",
                                                                     "^": r"\textasciicircum{}"})
_URL_SPECIAL = str.maketrans({"%": r"\%", "#": r"\#", "{": None, "}": None, "\\": None})  # the url package's rules
_VOLUME = re.compile(r"^(?P<journal>.*?)\s+(?P<volume>\d+)(?:\((?P<number>\d+)\))?$")
_JOURNAL_WORDS = re.compile(r"\b(journal|transactions|magazine|letters|review)\b", re.I)


def _bib(value) -> str:
    """A field value for BibTeX: one line, special characters escaped (braces balanced)."""
    return one_line(value).translate(_BIBTEX_SPECIAL)


#: what may not stand in a verbatim field (doi): a brace or backslash would end the field or
#: start a command, whitespace is no part of a DOI (line breaks from YAML included)
_VERBATIM_UNSAFE = re.compile(r"[{}\\\s]")


def _verbatim(value) -> str:
    """A verbatim field value (biblatex reads ``doi`` as it stands, so nothing is escaped): the
    characters that could break out of the field (braces, backslashes, whitespace) are dropped."""
    return _VERBATIM_UNSAFE.sub("", one_line(value))


def _author(name) -> str:
    """One author; braced when the name itself holds " and " (BibTeX would split it there)."""
    text = _bib(name)
    return "{" + text + "}" if " and " in f" {text.lower()} " else text


def _ascii_word(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower())


def bibtex_key(paper) -> str:
    """firstauthorlastname + year + first long word of the title: ``maaten2008visualizing``."""
    last = _ascii_word(one_line(paper.authors[0]).split(" ")[-1]) if paper.authors else "anonymous"
    words = [w for w in (_ascii_word(w) for w in one_line(paper.title).split()) if len(w) > 3]
    return f"{last or 'anonymous'}{paper.year}{words[0] if words else ''}"


def bibtex(paper) -> str:
    """A BibTeX entry for a catalog ``paper``: @article for journals (volume and number split
    off the venue), @misc for arXiv preprints, @inproceedings otherwise."""
    venue = one_line(paper.venue)
    fields = [("title", "{" + _bib(paper.title) + "}"), ("author", " and ".join(_author(a) for a in paper.authors))]
    volume = _VOLUME.match(venue)
    if "arxiv" in venue.lower():
        kind = "misc"
        fields.append(("howpublished", _bib(venue)))
        arxiv = re.search(r"arxiv\.org/abs/([\w.\-/]+)", paper.link)
        if arxiv:
            fields += [("eprint", _bib(arxiv.group(1))), ("archiveprefix", "arXiv")]
    elif _JOURNAL_WORDS.search(venue) or (volume and volume.group("number")):
        kind = "article"
        if volume:
            fields.append(("journal", _bib(volume.group("journal"))))
            fields.append(("volume", volume.group("volume")))
            if volume.group("number"):
                fields.append(("number", volume.group("number")))
        else:
            fields.append(("journal", _bib(venue)))
    else:
        kind = "inproceedings"
        fields.append(("booktitle", _bib(venue)))
    fields.append(("year", str(paper.year)))
    doi = re.match(r"https://doi\.org/(\S+)$", paper.link)
    fields.append(("doi", _verbatim(doi.group(1))) if doi and _verbatim(doi.group(1)) else
                  ("url", re.sub(r"\s", "", one_line(paper.link)).translate(_URL_SPECIAL)))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@{kind}{{{bibtex_key(paper)},\n{body}\n}}"


def source_text(path: Optional[str]) -> Optional[str]:
    """The entry's YAML file as written, or None (no file, unreadable, or a link out)."""
    if not path:
        return None
    file = Path(path)
    if outside_reason(file, file.parent) is not None:
        return None
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def schema_version() -> str:
    """A digest of the entry schema (``Entry.model_json_schema()``): it changes whenever the
    format of an entry changes, so a reader of catalog.json can tell two formats apart."""
    from icon_registry.schema import Entry

    schema = json.dumps(Entry.model_json_schema(), sort_keys=True)
    return "sha256:" + hashlib.sha256(schema.encode()).hexdigest()[:16]


#: what a claim that did not pass shows, in words (as ``icon verify`` says it)
_NOT_PASSED = {"fail": "fails", "error": "could not be checked", "unproved": "not proved (stated only)"}


def _claim_json(claim, result, index: int = 0, claim_id: str = "") -> dict:
    """One claim: ``index`` (1-based, the number of its heading on the method page) and ``id``
    (as ``icon verify`` names it); ``verified`` is true only for a claim the verifier showed to
    hold (status pass), never for an unproved one, a failure or an error."""
    out = {"index": index, "id": claim_id or claim.kind, "kind": claim.kind}
    if result is None:
        out["verified"] = False
        return out
    status = str(getattr(result, "status", "")).lower().split(".")[-1]
    out.update(verified=status == "pass", status=status, proof=str(getattr(result, "proof", "") or ""),
               label=STATUS_LABELS[claim_status(result)] if status == "pass" else _NOT_PASSED.get(status, status),
               detail=str(getattr(result, "detail", "") or ""))
    return out


def catalog_json(cat, verify_results: dict) -> dict:
    """Every entry as its YAML says (JSON types), with where the site shows it and what the
    verifier found for each claim in this build."""
    from icon_registry import __version__

    entries = []
    for entry in sorted(cat.entries, key=lambda e: e.id):
        results = verify_results.get(entry.id) or []
        status = entry_status(entry, results or None)
        entries.append({
            "entry": entry.model_dump(mode="json"),
            "page": f"methods/{entry.id}.html",
            "table_status": status,
            "table_status_label": STATUS_LABELS[status],
            "claims": [_claim_json(claim, results[k] if k < len(results) else None, k + 1, claim_id)
                       for k, (claim, claim_id) in enumerate(zip(entry.claims, claim_labels(entry)))],
        })
    return {
        "format": "icon-registry catalog",
        "schema_version": schema_version(),
        "icon_registry_version": __version__,
        "status_labels": STATUS_LABELS,
        "table": cat.table.model_dump(mode="json"),
        "entries": entries,
    }


def cite_and_source(entry, source: Optional[str]) -> list[str]:
    """The method page's "Cite" and "Source" sections (Markdown lines): the paper's BibTeX (and
    the framework's), and the entry's YAML with a link to download it."""
    from icon_registry.docs_site.escape import fence

    L = ["## Cite", ""]
    if entry.paper is not None and one_line(entry.paper.link) != ICON_LINK:
        L += ["The method's paper:", "", fence(bibtex(entry.paper), "bibtex")]
        L += ["The framework that places it in the table:", ""]
    L += [fence(ICON_BIBTEX, "bibtex")]
    if source is not None:
        L += ["## Source", "",
              f"The catalog entry this page is generated from: [download {entry.id}.yaml](src/{entry.id}.yaml), "
              "or read it here.", "",
              f'??? abstract "{entry.id}.yaml"', fence(source, "yaml", indent="    ")]
    return L

"""``icon verify --junit FILE``: the results as JUnit XML, one test case per claim, so CI systems
(GitHub Actions, GitLab, Jenkins) list each claim with its verdict.

pass -> a passing test case (what was shown in its output), fail -> <failure>, error ->
<error>, unproved -> <skipped> (never counted as verified). Text comes from YAML files and is
escaped by the XML writer; characters XML 1.0 cannot hold are replaced. The file is written to
a temporary file beside it and renamed into place.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterable

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value) -> str:
    return _NOT_XML.sub("?", str(value))


def junit_xml(results: Iterable) -> bytes:
    """The JUnit document for ``ClaimResult``s (entries in order, one <testsuite> each)."""
    results = list(results)
    suites: dict = {}
    for result in results:
        suites.setdefault(result.entry, []).append(result)
    root = ET.Element("testsuites", name="icon verify")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0}
    for entry, claims in suites.items():
        counts = {"tests": len(claims), "failures": sum(r.status == "fail" for r in claims),
                  "errors": sum(r.status == "error" for r in claims),
                  "skipped": sum(r.status == "unproved" for r in claims),
                  "time": sum(r.seconds for r in claims)}
        suite = ET.SubElement(root, "testsuite", name=_text(entry),
                              **{k: (f"{v:.3f}" if k == "time" else str(v)) for k, v in counts.items()})
        for result in claims:
            case = ET.SubElement(suite, "testcase", classname=_text(result.entry), name=_text(result.claim),
                                 time=f"{result.seconds:.3f}")
            lines = [result.detail, *(f"- {step}" for step in result.steps)]
            body = _text("\n".join(line for line in lines if line))
            first = _text(result.detail.splitlines()[0] if result.detail else result.status)
            if result.status == "fail":
                ET.SubElement(case, "failure", message=first, type="ClaimFails").text = body
            elif result.status == "error":
                ET.SubElement(case, "error", message=first, type="CheckError").text = body
            elif result.status == "unproved":
                ET.SubElement(case, "skipped", message=first)
            else:
                ET.SubElement(case, "system-out").text = _text(f"{result.label}\n{body}")
        for key in totals:
            totals[key] += counts[key]
    for key, value in totals.items():
        root.set(key, f"{value:.3f}" if key == "time" else str(value))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def write_junit(results: Iterable, path) -> Path:
    """Write ``junit_xml(results)`` to ``path`` (a temporary file in its folder, then renamed)."""
    from icon_registry.files import write_file

    return write_file(path, junit_xml(results), replace=True)

"""The site publishes only what lies inside the folders it is given: a symlink out of a
catalog folder or out of results/ is left out, with a build warning."""

from __future__ import annotations

import json

import pytest
import yaml

from .conftest import FIXTURES

SECRET = "TOP-SECRET-d41d8cd9"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8ffff3f0005fe02fea7d6a4f90000000049454e44ae426082"
)


def _entry(entry_id: str) -> str:
    data = yaml.safe_load((FIXTURES / "methods" / "simclr.yaml").read_text())
    data.update(id=entry_id, name=f"{entry_id} {SECRET if entry_id == 'outside' else ''}".strip(), aliases=[], relations=[])
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture(scope="module")
def linked_site(tmp_path_factory):
    from icon_registry.docs_site import build_site, load_site_catalog

    tmp = tmp_path_factory.mktemp("links-out")
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "outside.yaml").write_text(_entry("outside"))
    (elsewhere / "secret.png").write_bytes(PNG + SECRET.encode())
    (elsewhere / "bench.json").write_text(json.dumps([{"entry": SECRET, "ms": 1.0}]))

    catalog = tmp / "my_methods"
    (catalog / "methods").mkdir(parents=True)
    (catalog / "table.yaml").write_text((FIXTURES / "table.yaml").read_text())
    (catalog / "methods" / "inside.yaml").write_text(_entry("inside"))
    (catalog / "methods" / "outside.yaml").symlink_to(elsewhere / "outside.yaml")

    results = tmp / "results"
    results.mkdir()
    (results / "ok.png").write_bytes(PNG)
    (results / "leak.png").symlink_to(elsewhere / "secret.png")
    (results / "bench.json").symlink_to(elsewhere / "bench.json")
    (results / "reproduce.json").write_text(json.dumps({"plots": ["ok.png", "leak.png"], "mean": 0.5}))
    (results / "conformance.json").write_text(json.dumps({"cases": []}))

    cat = load_site_catalog([catalog], builtin=False)
    report = build_site(out=tmp / "public", catalog=cat, results_dir=results, verify="off", quiet=True)
    return report, tmp


def test_links_out_are_not_published(linked_site):
    report, tmp = linked_site
    site = tmp / "public"
    assert (site / "methods" / "inside.html").is_file()
    assert not (site / "methods" / "outside.html").exists()
    assert (site / "results" / "ok.png").is_file() and not (site / "results" / "leak.png").exists()
    for path in site.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"{path.relative_to(site)} publishes a file from outside"
    assert "Not read" in (site / "results" / "bench.html").read_text(encoding="utf-8")


def test_links_out_are_reported(linked_site):
    report, tmp = linked_site
    text = "\n".join(report.warnings)
    assert len(report.warnings) == 3, text
    assert "entry 'outside' left out" in text and str(tmp / "elsewhere" / "outside.yaml") in text
    assert f"{tmp / 'results' / 'leak.png'} links outside" in text and "not published" in text
    assert f"{tmp / 'results' / 'bench.json'} links outside" in text


def test_table_yaml_linking_out_is_refused(tmp_path):
    from icon_registry.docs_site import load_site_catalog
    from icon_registry.errors import IconError

    (tmp_path / "table.yaml").write_text((FIXTURES / "table.yaml").read_text())
    catalog = tmp_path / "my_methods"
    (catalog / "methods").mkdir(parents=True)
    (catalog / "table.yaml").symlink_to(tmp_path / "table.yaml")
    (catalog / "methods" / "inside.yaml").write_text(_entry("inside"))
    with pytest.raises(IconError, match="table.yaml links outside .* the site does not follow links out of catalog folders"):
        load_site_catalog([catalog], builtin=False)

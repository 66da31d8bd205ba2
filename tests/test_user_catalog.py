"""Every command that takes an entry id finds a user's own entry through --catalog DIR and through
$ICON_CATALOG (the built-in catalog is the real one here)."""

from __future__ import annotations

import json

import pytest

from icon_registry.catalog import load_catalog
from icon_registry.cli import main

USER_ID = "my_method"


@pytest.fixture
def user_folder(tmp_path):
    folder = tmp_path / "my_methods"
    assert main(["new", USER_ID, "--catalog", str(folder)]) == 0
    return folder


@pytest.fixture(params=["flag", "env"])
def with_catalog(request, user_folder, monkeypatch):
    """-> the extra argv that points the CLI at the user's folder (none for $ICON_CATALOG)."""
    if request.param == "env":
        monkeypatch.setenv("ICON_CATALOG", str(user_folder))
        return []
    return ["--catalog", str(user_folder)]


def test_list_show_validate_table_graph(icon, with_catalog):
    code, out, err = icon("list", "my_*", *with_catalog)
    assert code == 0 and out.split()[0] == USER_ID, err
    code, out, err = icon("show", USER_ID, *with_catalog)
    assert code == 0 and out.startswith(f"{USER_ID}: {USER_ID} (my method)"), err
    code, out, err = icon("validate", *with_catalog)
    assert code == 0 and out.startswith("ok: "), err
    code, out, err = icon("table", "--ids", "--width", "200", *with_catalog)
    assert code == 0 and USER_ID in out, err
    code, out, err = icon("graph", *with_catalog)
    assert code == 0 and USER_ID in {node["id"] for node in json.loads(out)["nodes"]}, err


def test_formula_and_new_like(icon, with_catalog, user_folder):
    code, out, err = icon("formula", "sum(i, anchors, norm(z[i]) / sigma)", "--entry", USER_ID, *with_catalog)
    assert code == 0 and "parameters: sigma" in out, err
    code, out, err = icon("formula", "sum(i, anchors, count(same_class(i)))", "--entry", USER_ID, *with_catalog)
    assert code == 1 and err.startswith(f"{USER_ID}: reads same_class (the labels, y)"), err
    code, out, err = icon("new", "my_copy", "--like", USER_ID, "--catalog", str(user_folder))
    assert code == 0, err
    assert "target: my_method" in (user_folder / "my_copy.yaml").read_text(encoding="utf-8")


def test_verify_finds_the_user_entry(icon, with_catalog, tmp_path):
    code, out, err = icon("verify", USER_ID, "--no-cache", *with_catalog)
    assert code == 0, err
    assert out.splitlines()[0].startswith(f"{USER_ID} identity") and "PASS" in out


def test_fit_trains_the_user_entry(icon, with_catalog, tmp_path):
    """The bug this fixes: fit found the entry, then compiled 'my_method' from the default catalog."""
    for source in ("objective", "formula"):
        out_dir = tmp_path / source
        code, out, err = icon("fit", USER_ID, "--data", "iris", "--epochs", "2", "--source", source, "--out",
                              str(out_dir), "--quiet", *with_catalog)
        assert code == 0, err
        report = json.loads((out_dir / "metrics.json").read_text())
        assert report["entry"] == USER_ID and report["loss_source"] == source


def test_fit_takes_an_entry_file(icon, user_folder, tmp_path):
    code, out, err = icon("fit", str(user_folder / f"{USER_ID}.yaml"), "--data", "iris", "--epochs", "2", "--out",
                          str(tmp_path / "run"), "--quiet")
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["entry"] == USER_ID
    code, out, err = icon("fit", str(tmp_path / "absent.yaml"), "--data", "iris")
    assert (code, err) == (1, f"{tmp_path / 'absent.yaml'}: no such file (give an entry file or id)\n")


def test_site_build_from_the_environment_variable(icon, user_folder, monkeypatch, tmp_path):
    """$ICON_CATALOG alone puts the user's entry on the site (--catalog: the add-your-own page's test)."""
    monkeypatch.setenv("ICON_CATALOG", str(user_folder))
    monkeypatch.chdir(tmp_path)
    code, out, err = icon("site", "build", "--out", str(tmp_path / "public"), "--no-verify", "--quiet")
    assert code == 0, err
    assert (tmp_path / "public" / "methods" / f"{USER_ID}.html").is_file()


def test_a_missing_optional_dependency_names_the_extra(icon, monkeypatch, tmp_path):
    """`pip install "icon-registry[site]"` has no scikit-learn: icon fit says what to install."""
    import builtins

    real_import = builtins.__import__

    def without_sklearn(name, *args, **kwargs):
        if name.split(".")[0] in ("sklearn", "scipy"):
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_sklearn)
    code, out, err = icon("fit", "simclr", "--data", "digits", "--out", str(tmp_path))
    assert code == 1
    assert err in ('icon fit: needs scipy, an optional dependency: pip install "icon-registry[repro]"\n',
                   'icon fit: needs sklearn, an optional dependency: pip install "icon-registry[repro]"\n')


@pytest.mark.parametrize("entry_id", [entry.id for entry in load_catalog()])
def test_new_like_copies_everything_the_objective_and_its_claims_read(entry_id, tmp_path):
    """`icon new --like` copies every field but the original's identity and provenance: knowledge
    distillation's prefactor was left out, and the copy's claims failed."""
    from icon_registry.authoring import NOT_COPIED, template

    original = load_catalog().get(entry_id)
    (tmp_path / "my_copy.yaml").write_text(template("my_copy", like=original), encoding="utf-8")
    copy = load_catalog(tmp_path).get("my_copy")
    for field in set(type(original).model_fields) - NOT_COPIED - {"claims"}:
        assert getattr(copy, field) == getattr(original, field), field
    assert [claim.model_copy(update={"note": None}) for claim in copy.claims] == [
        claim.model_copy(update={"note": None}) for claim in original.claims]


def test_the_entry_format_reference_describes_every_field():
    from icon_registry.authoring import entry_format_markdown

    blank = [line for line in entry_format_markdown().splitlines()
             if line.startswith("- `") and (line.endswith(":") or line.endswith(": None"))]
    assert blank == []


def test_new_like_an_entry_file(icon, user_folder, tmp_path):
    """--like takes an entry file as verify and show do. A file the written folder's catalog loads gets the
    variant_of relation; one it does not load would leave a relation to an unknown entry in that folder
    (every later command there would fail): the copy names the file in its first line instead."""
    source = user_folder / f"{USER_ID}.yaml"
    code, out, err = icon("new", "copy_here", "--like", str(source), "--catalog", str(user_folder))
    assert code == 0, err
    assert "target: my_method" in (user_folder / "copy_here.yaml").read_text(encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    code, out, err = icon("new", "copy_there", "--like", str(source), "--catalog", str(elsewhere))
    assert code == 0, err
    text = (elsewhere / "copy_there.yaml").read_text(encoding="utf-8")
    assert text.startswith(f"# copy_there: written by `icon new copy_there --like {source}`.")
    assert "relations:" not in text and "name: copy_there (a variant of my_method (my method))" in text
    assert icon("validate", "--catalog", str(elsewhere))[0] == 0
    code, out, err = icon("new", "copy_none", "--like", str(tmp_path / "absent.yaml"), "--catalog", str(elsewhere))
    assert (code, err) == (1, f"{tmp_path / 'absent.yaml'}: no such file (give an entry file or id)\n")

"""The catalog: loading, lookups, globbing, cross-entry checks, exact error messages, and
every built-in entry validated, round-tripped and checked for its metadata."""

import functools
import math
from pathlib import Path

import pytest

from conftest import ENTRIES, write_catalog
from icon_registry.catalog import Catalog, builtin_catalog_dir, load_catalog
from icon_registry.errors import IconError
from icon_registry.schema import Entry, Parameter, TableSpec
from icon_registry.validation_messages import validate_model
from icon_registry.yaml_io import load_yaml

# --------------------------------------------------------------------------------------
# the mini catalog
# --------------------------------------------------------------------------------------


def test_load_mini_catalog(mini_catalog):
    catalog = load_catalog(mini_catalog, include_builtin=False)
    assert isinstance(catalog, Catalog)
    assert len(catalog) == 3
    assert catalog.ids == ["simclr", "supervised_clustering", "tsne"]
    assert [e.id for e in catalog] == catalog.ids
    assert catalog.get("simclr").name == "SimCLR"
    assert catalog.get("nt_xent").id == "simclr"  # alias
    assert catalog["t-SNE"].id == "tsne"
    assert "t-SNE" in catalog and "nope" not in catalog
    assert catalog.path_of("simclr") == mini_catalog / "methods" / "simclr.yaml"
    assert isinstance(catalog.table, TableSpec)
    assert [r.id for r in catalog.table.rows] == ["gaussian", "student_t", "uniform_clusters"]
    assert catalog.line_of("simclr", ("q", "kernel", "temperature")) == 23


def test_list_globs_over_ids_and_aliases(mini_catalog):
    catalog = load_catalog(mini_catalog, include_builtin=False)
    assert catalog.list() == ["simclr", "supervised_clustering", "tsne"]
    assert catalog.list("*sne*") == ["tsne"]
    assert catalog.list("t-*") == ["tsne"]  # alias t-SNE, case-insensitive
    assert catalog.list("NT_*") == ["simclr"]
    assert catalog.list(["s*", "t*"]) == ["simclr", "supervised_clustering", "tsne"]
    assert catalog.list("nothing*") == []


def test_unknown_id_suggests(mini_catalog):
    catalog = load_catalog(mini_catalog, include_builtin=False)
    with pytest.raises(IconError) as info:
        catalog.get("simclrr")
    assert str(info.value) == "unknown entry 'simclrr'; did you mean 'simclr'?"
    with pytest.raises(IconError) as info:
        catalog.get("t-snee")
    assert str(info.value) == "unknown entry 't-snee'; did you mean 'tsne'?"
    with pytest.raises(IconError, match="see `icon list`"):
        catalog.get("zzzzzz")


def test_plain_folder_of_entries_and_single_files(tmp_path, mini_catalog):
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "tsne.yaml").write_text(ENTRIES["tsne"])
    catalog = load_catalog(flat, include_builtin=False)
    assert catalog.ids == ["tsne"] and catalog.table is None
    single = load_catalog(flat / "tsne.yaml", include_builtin=False)
    assert single.ids == ["tsne"]


def test_env_var_adds_folders(tmp_path, mini_catalog, monkeypatch, as_builtin):
    as_builtin(mini_catalog)
    extra = tmp_path / "mine"
    extra.mkdir()
    text = ENTRIES["tsne"].replace("id: tsne", "id: my_tsne").replace("aliases: [t-SNE]", "aliases: []")
    (extra / "my_tsne.yaml").write_text(text)
    monkeypatch.setenv("ICON_CATALOG", f"{extra}{__import__('os').pathsep}")
    catalog = load_catalog()
    assert "my_tsne" in catalog.ids and len(catalog) == 4
    assert not catalog.is_builtin("my_tsne") and catalog.is_builtin("tsne")
    assert load_catalog(use_env=False).ids == ["simclr", "supervised_clustering", "tsne"]


def test_same_file_twice_is_loaded_once(mini_catalog, as_builtin):
    as_builtin(mini_catalog)
    catalog = load_catalog(mini_catalog / "methods" / "simclr.yaml", mini_catalog)
    assert len(catalog) == 3


def test_missing_extra_folder(tmp_path):
    with pytest.raises(IconError) as info:
        load_catalog(tmp_path / "nope", include_builtin=False)
    assert str(info.value) == f"{tmp_path / 'nope'}: no such file or folder (from argument)"


# --------------------------------------------------------------------------------------
# exact messages for broken entries (all problems in one run)
# --------------------------------------------------------------------------------------


def broken(tmp_path, entry_id, old, new):
    """The problems of the mini catalog with one entry edited (paths relative to its root)."""
    text = ENTRIES[entry_id]
    assert old in text, old
    root = write_catalog(tmp_path / "cat", {**ENTRIES, entry_id: text.replace(old, new, 1)})
    with pytest.raises(IconError) as info:
        load_catalog(root, include_builtin=False)
    return info.value.problems


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Run in tmp_path/cat so that files display as 'methods/<id>.yaml'."""
    (tmp_path / "cat").mkdir()
    monkeypatch.chdir(tmp_path / "cat")


BROKEN = [
    ("unknown kernel kind", "simclr", "kind: gaussian_dot", "kind: gausian",
     ["methods/simclr.yaml:22: q.kernel.kind: unknown kernel kind 'gausian'; did you mean 'gaussian'?"]),
    ("unknown distribution kind", "tsne", "  kind: symmetrize", "  kind: symmetrise",
     ["methods/tsne.yaml:15: p.kind: unknown distribution kind 'symmetrise'; did you mean 'symmetrize'?"]),
    ("unknown field", "simclr", "name: SimCLR", "nmae: SimCLR",
     ["methods/simclr.yaml:1: missing field 'name'",
      "methods/simclr.yaml:2: unknown field 'nmae'; did you mean 'name'?"]),
    ("unknown nested field", "simclr", "    cosine: true", "    cosin: true",
     ["methods/simclr.yaml:24: q.kernel: unknown field 'cosin'; did you mean 'cosine'?"]),
    ("default out of range", "simclr", "default: 0.5", "default: 500",
     ["methods/simclr.yaml:26: parameters.tau: default 500.0 is outside the range [0.0001, 100.0]"]),
    ("wrong type", "simclr", "year: 2020", "year: twenty",
     ["methods/simclr.yaml:9: paper.year: expected an integer, got 'twenty'"]),
    ("bad literal", "simclr", "status: published", "status: publshed",
     ["methods/simclr.yaml:5: status: 'publshed' is not one of 'published', 'gap', 'new'; did you mean 'published'?"]),
    ("missing kind", "tsne", "kernel: {kind: student_t, nu: 1.0}", "kernel: {nu: 1.0}",
     ["methods/tsne.yaml:24: q.kernel: missing field 'kind' (the kernel kind: one of 'gaussian', 'gaussian_dot', "
      "'student_t', 'distance_power', 'identity', 'same_id', 'same_label', 'knn', 'candidate_position', "
      "'graph_weights', 'degree_softmax', 'any_of', 'logits', 'teacher_probabilities', 'own_key', 'class_pool', "
      "'product', 'label_margin')"]),
    ("undeclared parameter", "simclr", "temperature: tau", "temperature: tauu",
     ["methods/simclr.yaml:23: q.kernel.temperature: parameter 'tauu' is not declared under 'parameters'; did you "
      "mean 'tau'? (declared: tau)"]),
    ("claim kind", "supervised_clustering", "kind: unproved", "kind: unprooved",
     ["methods/supervised_clustering.yaml:11: claims[0].kind: unknown claim kind 'unprooved'; did you mean 'unproved'?"]),
    ("id vs file name", "tsne", "id: tsne", "id: tsne2",
     ["methods/tsne.yaml:1: id: id 'tsne2' does not match the file name 'tsne.yaml' (expected 'tsne')"]),
    ("relation to unknown id", "simclr", "target: tsne", "target: tsnee",
     ["methods/simclr.yaml:40: relations[0].target: unknown entry 'tsnee'; did you mean 'tsne'?"]),
    ("unknown cell row", "tsne", "row: student_t", "row: studentt",
     ["methods/tsne.yaml:12: cell.row: unknown row 'studentt'; did you mean 'student_t'?"]),
    ("missing and wrong together", "supervised_clustering", "status: gap\n", "status: 3\n",
     ["methods/supervised_clustering.yaml:4: status: 3 is not one of 'published', 'gap', 'new'"]),
    ("published without paper", "tsne", "paper:\n", "old_paper:\n",
     ["methods/tsne.yaml:6: unknown field 'old_paper'; did you mean 'beyond_paper', 'paper'?"]),
    # numbers are finite, everywhere (an infinite bound passes every range check, then breaks
    # `icon show`, JSON output and training)
    ("infinite max", "simclr", "    max: 100", "    max: .inf",
     ["methods/simclr.yaml:29: parameters.tau.max: must be a finite number, got inf"]),
    ("overflowing default", "simclr", "default: 0.5", "default: 1e999",
     ["methods/simclr.yaml:27: parameters.tau.default: must be a finite number, got inf"]),
    ("nan default", "simclr", "default: 0.5", "default: .nan",
     ["methods/simclr.yaml:27: parameters.tau.default: must be a finite number, got nan"]),
    ("infinite integer default", "simclr", "parameters:\n", "parameters:\n  kk: {default: .inf, integer: true, "
     "description: x}\n", ["methods/simclr.yaml:26: parameters.kk.default: must be a finite number, got inf"]),
    ("infinite kernel constant", "simclr", "temperature: tau", "temperature: -.inf",
     ["methods/simclr.yaml:23: q.kernel.temperature: must be a finite number, got -inf"]),
    ("parameter name ending in a newline", "simclr", "parameters:\n",
     "parameters:\n  \"beta\\n\": {default: 1.0, description: x}\n",
     ["methods/simclr.yaml:26: parameters.beta\\n: parameter name 'beta\\n' must be an identifier"]),
    ("aliases", "simclr", "aliases: [nt_xent]", "aliases: ['', '  ', '*', nt*, a/b, x\\y, 'tab\tx', " + "a" * 65 + "]",
     ["methods/simclr.yaml:3: aliases[0]: must not be empty",
      "methods/simclr.yaml:3: aliases[1]: alias '  ' starts or ends with a space",
      "methods/simclr.yaml:3: aliases[2]: alias '*' has no letter or digit",
      "methods/simclr.yaml:3: aliases[3]: alias 'nt*' contains a glob character (* ? [ ])",
      "methods/simclr.yaml:3: aliases[4]: alias 'a/b' contains a path separator (/ or \\)",
      "methods/simclr.yaml:3: aliases[5]: alias 'x\\y' contains a path separator (/ or \\)",
      "methods/simclr.yaml:3: aliases[6]: alias 'tab\\tx' contains a control character",
      "methods/simclr.yaml:3: aliases[7]: at most 64 characters, got 65"]),
    ("id too long", "simclr", "target: tsne", "target: " + "t" * 65,
     ["methods/simclr.yaml:40: relations[0].target: at most 64 characters, got 65"]),
    ("not a mapping", "tsne", "q:\n  kind: normalize\n  support: others\n  over: joint\n  kernel: {kind: student_t, nu: 1.0}\n",
     "q: [1, 2]\n", ["methods/tsne.yaml:20: q: expected a mapping of fields, got a list"]),
]


@pytest.mark.parametrize("old, new, expected, entry_id",
                         [pytest.param(o, n, e, i, id=name) for name, i, o, n, e in BROKEN])
def test_exact_messages(tmp_path, entry_id, old, new, expected):
    assert broken(tmp_path, entry_id, old, new) == expected


def test_all_problems_in_one_run(tmp_path):
    entries = {
        "simclr": ENTRIES["simclr"].replace("kind: gaussian_dot", "kind: gausian"),
        "tsne": ENTRIES["tsne"].replace("year: 2008", "year: 1800"),
        "supervised_clustering": ENTRIES["supervised_clustering"] + "colour: red\n",
    }
    root = write_catalog(tmp_path / "cat", entries)
    with pytest.raises(IconError) as info:
        load_catalog(root, include_builtin=False)
    assert info.value.problems == [
        "methods/simclr.yaml:22: q.kernel.kind: unknown kernel kind 'gausian'; did you mean 'gaussian'?",
        "methods/supervised_clustering.yaml:14: unknown field 'colour'",
        "methods/tsne.yaml:9: paper.year: must be >= 1900, got 1800",
    ]


def test_duplicate_ids_and_aliases(tmp_path):
    root = write_catalog(tmp_path / "cat")
    other = tmp_path / "other"
    other.mkdir()
    (other / "simclr.yaml").write_text(ENTRIES["simclr"].replace("aliases: [nt_xent]", "aliases: []"))
    text = ENTRIES["tsne"].replace("id: tsne", "id: t2").replace("aliases: [t-SNE]", "aliases: [nt_xent]")
    (other / "t2.yaml").write_text(text)
    with pytest.raises(IconError) as info:
        load_catalog(root, other, include_builtin=False)
    problems = [p.replace(str(tmp_path), "T") for p in info.value.problems]
    assert problems == [
        "T/other/simclr.yaml:1: id: duplicate id 'simclr' (also in methods/simclr.yaml)",
        "T/other/t2.yaml:3: aliases[0]: alias 'nt_xent' is already an alias in methods/simclr.yaml",
    ]


def test_user_entry_colliding_with_builtin(tmp_path, mini_catalog, as_builtin):
    as_builtin(mini_catalog)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "tsne.yaml").write_text(ENTRIES["tsne"].replace("aliases: [t-SNE]", "aliases: []"))
    with pytest.raises(IconError) as info:
        load_catalog(mine)
    (problem,) = info.value.problems
    assert problem == (
        f"{mine}/tsne.yaml:1: id: id 'tsne' is already a built-in entry "
        f"({mini_catalog}/methods/tsne.yaml); choose another id"
    )


_LAPLACE_ROW = """\
rows:
  - id: laplace
    label: Laplace
    description: exp(-|z_i - z_j| / b)
    beyond_paper: true
"""


def _in_new_row(tmp_path, table: str) -> Path:
    """A user's folder whose table.yaml is ``table`` and whose one entry sits in row 'laplace'."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "table.yaml").write_text(table)
    text = ENTRIES["simclr"].replace("id: simclr", "id: my_laplace").replace("aliases: [nt_xent]", "aliases: []")
    (mine / "my_laplace.yaml").write_text(text.replace("row: gaussian", "row: laplace"))
    return mine


def test_added_table_may_give_only_rows_or_only_columns(tmp_path, mini_catalog, as_builtin):
    as_builtin(mini_catalog)
    mine = _in_new_row(tmp_path, _LAPLACE_ROW)
    catalog = load_catalog(mine)
    assert [r.id for r in catalog.table.rows] == ["gaussian", "student_t", "uniform_clusters", "laplace"]
    assert [c.id for c in catalog.table.columns] == ["gaussian", "positive_pairs", "classes"]
    assert catalog.get("my_laplace").cell.row == "laplace"

    (mine / "table.yaml").write_text("columns:\n  - {id: graph, label: Graph, description: given edges}\n")
    (mine / "my_laplace.yaml").unlink()
    catalog = load_catalog(mine)
    assert [c.id for c in catalog.table.columns] == ["gaussian", "positive_pairs", "classes", "graph"]
    assert [r.id for r in catalog.table.rows] == ["gaussian", "student_t", "uniform_clusters"]


def test_added_table_must_add_something(tmp_path, mini_catalog, as_builtin):
    as_builtin(mini_catalog)
    mine = _in_new_row(tmp_path, "rows: []\n")
    with pytest.raises(IconError) as info:
        load_catalog(mine)
    assert info.value.problems[0] == (
        f"{mine}/table.yaml:1: a table added to a catalog's own gives rows, columns or both: it has neither"
    )


def test_a_catalogs_own_table_needs_rows_and_columns(tmp_path):
    """Without the built-in catalog, the first table is the catalog's own: a row alone is not a table."""
    mine = _in_new_row(tmp_path, _LAPLACE_ROW)
    with pytest.raises(IconError) as info:
        load_catalog(mine, include_builtin=False)
    assert info.value.problems[0] == f"{mine}/table.yaml:1: missing field 'columns'"


# --------------------------------------------------------------------------------------
# every built-in entry
# --------------------------------------------------------------------------------------

BUILTIN = builtin_catalog_dir()
BUILTIN_FILES = sorted((BUILTIN / "methods").glob("*.yaml")) if (BUILTIN / "methods").is_dir() else []


def test_builtin_catalog_dir_exists():
    assert BUILTIN.is_dir(), BUILTIN
    assert (BUILTIN / "table.yaml").is_file()
    assert BUILTIN_FILES, "the built-in catalog has no entries"


def test_builtin_catalog_loads():
    catalog = load_catalog(use_env=False)
    assert len(catalog) == len(BUILTIN_FILES)
    assert catalog.table is not None


@pytest.mark.parametrize("path", BUILTIN_FILES, ids=[p.stem for p in BUILTIN_FILES])
class TestBuiltinEntry:
    def load(self, path):
        doc = load_yaml(path, display=f"catalog/methods/{path.name}")
        return validate_model(Entry, doc.data, doc.lines, doc.file)

    def test_validates(self, path):
        entry = self.load(path)
        assert entry.id == path.stem

    def test_round_trip(self, path):
        entry = self.load(path)
        again = Entry.model_validate(entry.model_dump())
        assert again == entry
        assert Entry.model_validate_json(entry.model_dump_json()) == entry

    def test_metadata(self, path):
        entry = self.load(path)
        assert entry.summary.strip() and entry.loss.description.strip()
        if entry.status == "published":
            paper = entry.paper
            assert paper is not None
            assert paper.authors and all(a.strip() for a in paper.authors)
            assert 1900 <= paper.year <= 2100
            assert paper.link.startswith("https://")
            assert paper.title.strip() and paper.venue.strip()

    def test_cell_in_table(self, path):
        entry = self.load(path)
        table = validate_model(TableSpec, *(lambda d: (d.data, d.lines, d.file))(load_yaml(BUILTIN / "table.yaml")))
        assert entry.cell.row in {r.id for r in table.rows}
        assert entry.cell.column in {c.id for c in table.columns}


@functools.cache
def _builtin_catalog():
    return load_catalog(use_env=False)


@pytest.mark.parametrize("path", BUILTIN_FILES, ids=[p.stem for p in BUILTIN_FILES])
def test_builtin_entry_renders(path):
    """`icon show` and `icon list --json` work for every built-in entry."""
    from icon_registry.commands.list import entry_summary
    from icon_registry.commands.show import render

    catalog = _builtin_catalog()
    text = render(catalog, catalog.get(path.stem), 100)
    assert text.startswith(f"{path.stem}: ") and "\nclaims\n" in text
    summary = entry_summary(catalog, catalog.get(path.stem))
    assert summary["id"] == path.stem and summary["row"] and summary["column"]


@pytest.mark.parametrize("width", [40, 80, 120, 160, 220])
def test_builtin_table_fits(width):
    from icon_registry.commands.table import render

    catalog = _builtin_catalog()
    text = render(catalog, width)
    assert all(len(line) <= width for line in text.splitlines()), width
    for entry in catalog:  # every entry is placed somewhere visible
        assert "not in the table" not in text


@pytest.mark.parametrize("value, shown", [(math.inf, "inf"), (-math.inf, "-inf"), (math.nan, "nan")])
def test_parameter_values_must_be_finite(value, shown):
    """compile_loss(entry, k=inf) and friends: nan passes every range check, inf has no int()."""
    spec = Parameter(default=1, integer=True, description="a count")
    with pytest.raises(ValueError) as info:
        spec.check("k", value)
    assert str(info.value) == f"parameter 'k' must be a finite number, got {shown}"


def test_list_and_from_yaml_refuse_what_is_not_text(mini_catalog):
    catalog = load_catalog(mini_catalog, include_builtin=False)
    for pattern in (None, 3, ["s*", None]):
        with pytest.raises(IconError) as info:
            catalog.list(pattern)
        assert str(info.value) == f"list() takes a glob or a list of globs (str), got {type(pattern).__name__}"
    with pytest.raises(IconError) as info:
        Entry.from_yaml(None)
    assert str(info.value) == "expected YAML text (str or bytes), got NoneType"


def test_numpy_scalars_are_parameter_values():
    """A value read off an array (numpy's float32 or int64) is a number; numpy's bool is not."""
    import numpy as np

    from icon_registry import compile_loss

    assert compile_loss("simclr", tau=np.float32(0.25)).params["tau"] == 0.25
    assert compile_loss("debiased_infonce_clustering", steps=np.int64(3)).params["steps"] == 3
    with pytest.raises(IconError) as info:
        compile_loss("simclr", tau=np.bool_(True))
    assert str(info.value) == "simclr: parameter 'tau' must be a number, got bool"


# --------------------------------------------------------------------------------------
# audit fixes: unreadable folders, names in any case, strict values, model_validate
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["", "methods"])
def test_a_folder_that_cannot_be_listed_is_an_error_not_an_empty_catalog(tmp_path, monkeypatch, where):
    """We run as root, so the listing error is simulated where os.walk meets it: os.scandir."""
    import os

    root = write_catalog(tmp_path / "cat")
    unreadable = root / where if where else root
    scandir = os.scandir

    def refusing(path):
        if Path(path) == unreadable:
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)
    with pytest.raises(IconError) as info:
        load_catalog(root, include_builtin=False)
    assert info.value.problems == [f"{where or '.'}: cannot read: Permission denied"]


def test_names_resolve_in_any_case_but_an_exact_match_wins(tmp_path):
    entries = {**ENTRIES, "tsne_like": ENTRIES["tsne"].replace("id: tsne", "id: tsne_like")
               .replace("aliases: [t-SNE]", "aliases: [Tsne_Like, NT_Xent_2]")}
    catalog = load_catalog(write_catalog(tmp_path / "cat", entries), include_builtin=False)
    assert catalog.resolve("T-SNE") == "tsne" and "T-SNE" in catalog and catalog.get("TSNE").id == "tsne"
    assert catalog.resolve("NT_XENT") == "simclr"
    assert catalog.resolve("tsne_like") == "tsne_like"  # the id, not the alias Tsne_Like folded
    assert 3 not in catalog and "T-SNEE" not in catalog


@pytest.mark.parametrize("alias, problem", [
    ("SIMCLR", "alias 'SIMCLR' is already an id in methods/simclr.yaml (as 'simclr'; names that differ only in "
               "case name the same entry)"),
    ("NT_Xent", "alias 'NT_Xent' is already an alias in methods/simclr.yaml (as 'nt_xent'; names that differ only "
                "in case name the same entry)"),
])
def test_an_alias_may_not_differ_from_another_entrys_name_only_in_case(tmp_path, alias, problem):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "t2.yaml").write_text(ENTRIES["tsne"].replace("id: tsne", "id: t2").replace("[t-SNE]", f"[{alias}]"))
    with pytest.raises(IconError) as info:
        load_catalog(write_catalog(tmp_path / "cat"), mine, include_builtin=False)
    assert [p.replace(str(tmp_path), "T") for p in info.value.problems] == [f"T/mine/t2.yaml:3: aliases[0]: {problem}"]


def test_aliases_of_one_entry_may_differ_from_its_id_only_in_case(tmp_path):
    text = ENTRIES["tsne"].replace("aliases: [t-SNE]", "aliases: [TSNE, t-SNE, T-SNE]")
    catalog = load_catalog(write_catalog(tmp_path / "cat", {**ENTRIES, "tsne": text}), include_builtin=False)
    assert catalog.resolve("Tsne") == "tsne"


@pytest.mark.parametrize("argument, kind", [(None, "NoneType"), (3, "int")])
def test_load_catalog_names_a_wrong_argument_type(argument, kind):
    with pytest.raises(IconError) as info:
        load_catalog(argument)
    assert str(info.value) == f"load_catalog() takes folders or files (str or os.PathLike), got {kind}"


@pytest.mark.parametrize("old, new, problem", [
    ("  tau:\n", "  n:\n", "methods/simclr.yaml:26: parameters.n: parameter name 'n' is reserved by the formula "
                            "language"),
    ("default: 0.5", "default: true", "methods/simclr.yaml:27: parameters.tau.default: expected a number, got true"),
    ("max: 100", "max: '100'", "methods/simclr.yaml:29: parameters.tau.max: expected a number, got '100'"),
    ("default: 0.5", "default: " + "9" * 400,
     "methods/simclr.yaml:27: parameters.tau.default: expected a number, got 9999999999999999999999999999999999999..."),
    ("year: 2020", "year: true", "methods/simclr.yaml:9: paper.year: expected an integer, got true"),
    ("year: 2020", "year: '2020'", "methods/simclr.yaml:9: paper.year: expected an integer, got '2020'"),
    ("year: 2020", "year: 2.02e3", "methods/simclr.yaml:9: paper.year: expected an integer, got 2020.0"),
    ("name: SimCLR", "name: ' '", "methods/simclr.yaml:2: name: ' ' has no visible text"),
    ("name: SimCLR", 'name: "Sim\\tCLR"', "methods/simclr.yaml:2: name: 'Sim\\tCLR' contains a control character"),
])
def test_values_are_not_coerced_and_names_are_visible(tmp_path, old, new, problem):
    assert broken(tmp_path, "simclr", old, new) == [problem]


def test_model_validate_raises_the_lines_from_yaml_raises():
    with pytest.raises(IconError) as info:
        Entry.model_validate({"id": "x", "name": "X", "summary": "s", "status": "new", "mapper": "lookup",
                              "cell": {"row": "gaussian", "column": "gaussian"}, "claims": []})
    assert info.value.problems == ["missing field 'p'", "missing field 'q'", "missing field 'loss'",
                                   "claims: must not be empty"]
    for data, got in ((None, "nothing (null)"), (3, "3")):
        with pytest.raises(IconError) as info:
            Entry.model_validate(data)
        assert str(info.value) == f"expected a mapping of fields, got {got}"
    entry = Entry.from_yaml(ENTRIES["simclr"])
    assert Entry.model_validate(entry.model_dump(mode="json")) == entry

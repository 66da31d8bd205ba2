"""Issue 2 (foundation), audited: every problem of a catalog in one run, and YAML keys that
never break the loader."""

import pytest

from conftest import ENTRIES, write_catalog
from icon_registry.catalog import load_catalog
from icon_registry.errors import IconError
from icon_registry.schema import Entry
from icon_registry.yaml_io import load_yaml_text


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Run in tmp_path/cat so that files display as 'methods/<id>.yaml'."""
    (tmp_path / "cat").mkdir()
    monkeypatch.chdir(tmp_path / "cat")


def problems_with(tmp_path, entry_id, *edits):
    text = ENTRIES[entry_id]
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    root = write_catalog(tmp_path / "cat", {**ENTRIES, entry_id: text})
    with pytest.raises(IconError) as info:
        load_catalog(root, include_builtin=False)
    return info.value.problems


def test_a_non_finite_number_does_not_hide_the_entrys_other_problems(tmp_path):
    assert problems_with(tmp_path, "simclr", ("name: SimCLR", "nmae: SimCLR"), ("year: 2020", "year: twenty"),
                         ("    max: 100", "    max: .inf")) == [
        "methods/simclr.yaml:1: missing field 'name'",
        "methods/simclr.yaml:2: unknown field 'nmae'; did you mean 'name'?",
        "methods/simclr.yaml:9: paper.year: expected an integer, got 'twenty'",
        "methods/simclr.yaml:29: parameters.tau.max: must be a finite number, got inf",
    ]


def test_a_non_finite_number_in_an_unknown_field_is_the_unknown_field(tmp_path):
    assert problems_with(tmp_path, "simclr", ("    max: 100", "    max: 100\n    colour: .inf")) == [
        "methods/simclr.yaml:30: parameters.tau: unknown field 'colour'",
    ]


def test_a_non_finite_number_in_a_kernel_is_one_problem(tmp_path):
    """Not also 'must be > 0' from the kernel's own bound: pydantic names the union members in
    its error's location (q.normalize.kernel.student_t.scale), which is the same field."""
    assert problems_with(tmp_path, "tsne", ("nu: 1.0}", "nu: 1.0, scale: -.inf}")) == [
        "methods/tsne.yaml:24: q.kernel.scale: must be a finite number, got -inf",
    ]


def test_model_validate_reports_a_non_finite_number_with_the_other_problems():
    data = load_yaml_text(ENTRIES["simclr"]).data
    data["paper"] = {**data["paper"], "year": "twenty"}
    data["parameters"] = {"tau": {**data["parameters"]["tau"], "default": float("nan")}}
    with pytest.raises(IconError) as info:
        Entry.model_validate(data)
    assert info.value.problems == ["parameters.tau.default: must be a finite number, got nan",
                                   "paper.year: expected an integer, got 'twenty'"]


def test_relations_and_cell_of_a_refused_entry_are_checked_in_the_same_run(tmp_path):
    assert problems_with(tmp_path, "simclr", ("year: 2020", "year: twenty"),
                         ("row: gaussian", "row: gausian"), ("target: tsne", "target: tsnee")) == [
        "methods/simclr.yaml:9: paper.year: expected an integer, got 'twenty'",
        "methods/simclr.yaml:40: relations[0].target: unknown entry 'tsnee'; did you mean 'tsne'?",
        "methods/simclr.yaml:12: cell.row: unknown row 'gausian'; did you mean 'gaussian'?",
    ]


def test_references_of_an_entry_whose_id_is_not_its_file_name_are_checked(tmp_path):
    assert problems_with(tmp_path, "simclr", ("id: simclr", "id: simclr2"), ("target: tsne", "target: tsnee")) == [
        "methods/simclr.yaml:1: id: id 'simclr2' does not match the file name 'simclr.yaml' (expected 'simclr')",
        "methods/simclr.yaml:40: relations[0].target: unknown entry 'tsnee'; did you mean 'tsne'?",
    ]


def test_keys_that_yaml_reads_as_numbers_or_null_are_unknown_fields(tmp_path, icon):
    """An int key beside the str ones once crashed every command (the data digest sorts keys), and
    `1:` / `true:` were one key (1 == True in Python)."""
    text = ENTRIES["simclr"] + "1: x\ntrue: y\nnull: z\n1.5: w\n"
    root = write_catalog(tmp_path / "cat", {**ENTRIES, "simclr": text})
    code, out, err = icon("validate", "--no-builtin", root)
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "methods/simclr.yaml:42: unknown field '1'",
        "methods/simclr.yaml:43: unknown field 'true'",
        "methods/simclr.yaml:44: unknown field 'null'",
        "methods/simclr.yaml:45: unknown field '1.5'",
        "icon: 4 problems",
    ]


@pytest.mark.parametrize("text, data", [
    ("1: a\ntrue: b\n1.0: c\nnull: d\n~: e\non: f\n", {"1": "a", "true": "b", "1.0": "c", "null": "d", "~": "e",
                                                      "on": "f"}),
    ("&k name: 1\nb: *k\n", {"name": 1, "b": "name"}),
])
def test_keys_are_the_text_written(text, data):
    assert load_yaml_text(text).data == data


@pytest.mark.parametrize("text, message", [
    ("1: a\n'1': b\n", "t.yaml:2: duplicate key '1' (first at line 1)"),
    ("a: &n 1\n*n : x\n", "t.yaml:2: mapping keys are names: write the key out instead of the alias '*n'"),
    ("a: &n [1]\n? *n\n: x\n", "t.yaml:2: mapping keys are names: write the key out instead of the alias '*n'"),
])
def test_key_problems(text, message):
    with pytest.raises(IconError) as info:
        load_yaml_text(text, file="t.yaml")
    assert str(info.value) == message


@pytest.mark.parametrize("name", ["mine.YAML", "sub/mine.Yml"])
def test_an_entry_file_with_an_upper_case_suffix_is_a_problem_not_skipped(tmp_path, icon, name):
    """`icon validate --catalog DIR` said 'ok' without loading DIR/mine.YAML."""
    folder = tmp_path / "mine"
    (folder / name).parent.mkdir(parents=True)
    (folder / name).write_text(ENTRIES["simclr"].replace("id: simclr", "id: mine"))
    code, out, err = icon("validate", "--no-builtin", "--catalog", folder)
    assert (code, out, err) == (1, "", f"{folder}/{name}: not loaded: the name of an entry file ends in .yaml or "
                                       ".yml, in lowercase\n")


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_a_unicode_line_separator_in_a_value_does_not_shift_the_lines(tmp_path, separator):
    """PyYAML breaks lines at NEL, LS and PS too; editors, grep and git do not."""
    in_title = (("title: A Simple Framework", f'title: "A Simple{separator}Framework'),
                ("Representations", 'Representations"'))
    assert problems_with(tmp_path, "simclr", *in_title, ("cosine: true", "cosine: [")) == [
        "methods/simclr.yaml:26: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence)",
    ]
    assert problems_with(tmp_path, "simclr", *in_title, ("year: 2020", "year: twenty")) == [
        "methods/simclr.yaml:9: paper.year: expected an integer, got 'twenty'",
    ]
    assert load_yaml_text(f'a: "{separator}"\nb:\n  c: 1\n').lines == {(): 1, ("a",): 1, ("b",): 2, ("b", "c"): 3}


@pytest.mark.parametrize("flag, status", [("", "published"), ("beyond_paper: true\n", "published; beyond the paper (a "
                                                                 "method the I-Con paper does not derive)")])
def test_show_says_an_entry_is_beyond_the_paper(tmp_path, icon, as_builtin, flag, status):
    """`icon show` prints the whole entry: beyond_paper was only in --json."""
    as_builtin(write_catalog(tmp_path / "cat", {**ENTRIES, "simclr": ENTRIES["simclr"] + flag}))
    code, out, err = icon("show", "simclr")
    assert (code, err) == (0, "")
    assert out.splitlines()[4] == f"status      {status}"


def test_a_cell_in_a_row_of_a_refused_table_is_no_second_problem(tmp_path, monkeypatch):
    """The table was refused for a column's missing description; its row 'laplace' is no 'unknown row'."""
    monkeypatch.chdir(tmp_path)
    root = write_catalog(tmp_path / "cat")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "table.yaml").write_text("rows:\n  - {id: laplace, label: Laplace, description: a kernel}\n"
                                     "columns:\n  - {id: mine, label: Mine}\n")
    entry = ENTRIES["simclr"].replace("id: simclr", "id: lap").replace("aliases: [nt_xent]", "aliases: []")
    (mine / "lap.yaml").write_text(entry.replace("row: gaussian", "row: laplace"))
    with pytest.raises(IconError) as info:
        load_catalog(root, mine, include_builtin=False)
    assert info.value.problems == ["mine/table.yaml:4: columns[0]: missing field 'description'"]


def test_relations_of_a_duplicate_id_are_checked_in_the_same_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = write_catalog(tmp_path / "cat")
    other = tmp_path / "other"
    other.mkdir()
    (other / "simclr.yaml").write_text(ENTRIES["simclr"].replace("aliases: [nt_xent]", "aliases: []")
                                       .replace("target: tsne", "target: tsnee"))
    with pytest.raises(IconError) as info:
        load_catalog(root, other, include_builtin=False)
    assert info.value.problems == [
        "other/simclr.yaml:1: id: duplicate id 'simclr' (also in cat/methods/simclr.yaml)",
        "other/simclr.yaml:40: relations[0].target: unknown entry 'tsnee'; did you mean 'tsne'?",
    ]



def test_list_does_not_pad_every_line_to_a_very_long_name(tmp_path, icon, as_builtin):
    """A 750 kB name made `icon list` print 43 MB: every line was padded to it."""
    name = "Sim" * 100
    as_builtin(write_catalog(tmp_path / "cat", {**ENTRIES, "simclr": ENTRIES["simclr"].replace("SimCLR", name, 1)}))
    code, out, err = icon("list")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"simclr                 {name}  gaussian x positive_pairs   published  2020",
        "supervised_clustering  Supervised clustering                                         uniform_clusters x classes"
        "  gap        -",
        "tsne                   t-distributed Stochastic Neighbor Embedding (t-SNE)           student_t x gaussian"
        "        published  2008",
    ]

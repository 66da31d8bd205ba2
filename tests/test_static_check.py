"""``icon validate`` is the full static check: every formula of an entry parses and reads only
what the entry provides, reported as ``file:line: field: message``; catalog folders whose
entries sit one level too deep are problems, never silently empty."""

import pytest

from conftest import ENTRIES, write_catalog
from test_catalog import broken
from icon_registry.catalog import load_catalog
from icon_registry.errors import IconError
from icon_registry.schema import Entry

FORMULA = ('"-mean(i, anchors_with(positives), mean(j, positives(i), cos(z[i], z[j])/tau - logsumexp(k, others(i), '
           'cos(z[i], z[k])/tau)))"')
FUNCTIONS = ("the functions are: log, exp, sqrt, softplus, abs, max, min, dot, cos, sqdist, dist, norm, sum, mean, "
             "logsumexp, count, indicator")
SETS = ("the index sets are: anchors, all, others(i), positives(i), same_class(i), other_modality(i), "
        "cross_positives(i), candidates(i), neighbors(i), adjacent(i), anchors_with(S), classes, clusters, outputs, "
        "bank, teacher_support(i), bank_positives(i)")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    (tmp_path / "cat").mkdir()
    monkeypatch.chdir(tmp_path / "cat")


def problems_of(tmp_path, old, new, entry_id="simclr"):
    return broken(tmp_path, entry_id, old, new)


LOSS = "methods/simclr.yaml:32: loss.formula: "
BROKEN = [
    ("parse error", FORMULA, '"nonsense(i, negatives(i), zz[q]) +"',
     [LOSS + "syntax error: the formula ends in the middle of an expression at column 34"]),
    ("unknown function", FORMULA, '"nonsense(i, negatives(i), zz[q])"',
     [LOSS + f"unknown function 'nonsense' at column 1; {FUNCTIONS}"]),
    ("unknown set", FORMULA, '"-sum(i, anchors, logsumexp(k, negatives(i), cos(z[i], z[k])/tau))"',
     [LOSS + "unknown index set 'negatives' at column 31; no set holds only the negatives: sum k over others(i), "
             f"weighted by indicator(id[k] != id[i]) ({SETS})"]),
    ("homoglyph", FORMULA, '"-sum(i, anchors, c\u043es(z[i], z[pos(i)]))"',
     [LOSS + "non-ASCII character '\u043e' (U+043E CYRILLIC SMALL LETTER O) at column 19; formulas are ASCII only: "
             "did you mean 'o'?"]),
    ("108 KB formula", FORMULA, '"' + "1 + " * 27_000 + '1"',
     [LOSS + "formula is too long (108001 characters; the limit is 4000)"]),
    ("undeclared parameter", FORMULA, '"-sum(i, anchors, cos(z[i], z[i])/temp)"',
     [LOSS + "unknown name 'temp' at column 34; in scope: parameters tau; indices i; built-in n"]),
    ("labels an entry does not provide", FORMULA,
     '"-sum(i, anchors, sum(j, others(i), indicator(y[i] == y[j]) * cos(z[i], z[j])/tau))"',
     [LOSS + "reads y (the labels), which this entry does not provide: its p and q have no kernel that reads labels "
             "(same_label); its formulas can read z, id"]),
    ("phi without a cluster q", FORMULA, '"-sum(i, anchors, sum(c, clusters, phi[i, c]))"',
     [LOSS + "reads clusters (the cluster assignments, phi), which this entry does not provide: its p and q have no cluster "
             "distribution (phi = softmax(z / temperature)); its formulas can read z, id"]),
    ("vector formula", FORMULA, '"sum(i, anchors, z[i])"',
     [LOSS + "a formula must be a scalar, but this one is a vector at column 1"]),
    ("constant reads a learnable", "    objective: cross_entropy\n",
     "    objective: cross_entropy\n  - kind: up_to_constant\n    constant: 'sum(i, anchors, norm(z[i]))'\n"
     "    constant_name: a norm\n",
     ["methods/simclr.yaml:39: claims[1].constant: a constant may not read what the model learns (z, w, phi), but "
      "this one reads z"]),
    ("limit claim with an unknown parameter", "  - kind: identity\n    objective: cross_entropy\n",
     "  - kind: limit\n    parameter: sigma\n    to: infinity\n    equals: '0'\n",
     ["methods/simclr.yaml:37: claims[0].parameter: unknown parameter 'sigma' (this entry's parameters: tau)"]),
    ("limit that depends on its parameter", "  - kind: identity\n    objective: cross_entropy\n",
     "  - kind: limit\n    parameter: tau\n    to: zero\n    equals: 'tau * 2'\n",
     ["methods/simclr.yaml:39: claims[0].equals: the limit may not depend on the limit parameter 'tau'"]),
    ("error in a definition", "  reduction: mean\n",
     "  where:\n    'S[i]': 'logsumexp(k, others(i), cos(z[i], z[k])/tau'\n  reduction: mean\n",
     ["methods/simclr.yaml:34: loss.where.S[i]: syntax error: '(' was never closed at column 10"]),
    ("data a definition cannot have", "  reduction: mean\n",
     "  where:\n    'S[i]': 'mean(j, same_class(i), 1)'\n  reduction: mean\n",
     ["methods/simclr.yaml:34: loss.where.S[i]: reads same_class (the labels, y), which this entry does not provide: "
      "its p and q have no kernel that reads labels (same_label); its formulas can read z, id",
      "methods/simclr.yaml:34: loss.where.S[i]: 'S' is defined but no formula of the entry uses it"]),
    ("error in a formula that uses a definition", FORMULA,
     '"-sum(i, anchors, S[i] / count(same_clas(i)))"\n  where:\n    \'S[i]\': \'logsumexp(k, others(i), cos(z[i], z[k])/tau)\'',
     [LOSS + "unknown index set 'same_clas' at column 31; did you mean 'same_class'? (" + SETS + ")"]),
    ("unused definition", "  reduction: mean\n", "  where:\n    Z: 'n'\n  reduction: mean\n",
     ["methods/simclr.yaml:34: loss.where.Z: 'Z' is defined but no formula of the entry uses it"]),
]


@pytest.mark.parametrize("old, new, expected", [pytest.param(o, n, e, id=name) for name, o, n, e in BROKEN])
def test_exact_messages(tmp_path, old, new, expected):
    assert problems_of(tmp_path, old, new) == expected


def test_every_problem_of_every_formula_in_one_run(tmp_path):
    text = ENTRIES["simclr"].replace(FORMULA, '"-sum(i, anchors, lgo(tau))"').replace(
        "    objective: cross_entropy\n", "    objective: cross_entropy\n  - kind: up_to_constant\n"
        "    constant: 'sum(i, anchors, log(count(same_class(i))))'\n    constant_name: c\n")
    root = write_catalog(tmp_path / "cat", {**ENTRIES, "simclr": text})
    with pytest.raises(IconError) as info:
        load_catalog(root, include_builtin=False)
    assert info.value.problems == [
        f"methods/simclr.yaml:32: loss.formula: unknown function 'lgo' at column 18; did you mean 'log'? ({FUNCTIONS})",
        "methods/simclr.yaml:39: claims[1].constant: reads same_class (the labels, y), which this entry does not "
        "provide: its p and q have no kernel that reads labels (same_label); its formulas can read z, id",
    ]


def test_definitions_are_used_everywhere_and_shown(tmp_path):
    """A definition under loss.where serves the loss and the claims alike."""
    text = ENTRIES["simclr"].replace(FORMULA, '"-mean(i, anchors_with(positives), mean(j, positives(i), '
                                              's[i, j] - logsumexp(k, others(i), s[i, k])))"').replace(
        "  reduction: mean\n", "  where:\n    's[i, j]': cos(z[i], z[j]) / tau\n  reduction: mean\n")
    entry = Entry.from_yaml(text)
    assert entry.loss.where == {"s[i, j]": "cos(z[i], z[j]) / tau"}
    from icon_registry.static_check import parse_entry_formula

    assert parse_entry_formula(entry, entry.loss.formula) == parse_entry_formula(
        entry, FORMULA.strip('"'))


def test_entry_from_yaml_reports_like_validate():
    text = ENTRIES["simclr"].replace(FORMULA, '"-sum(i, anchors, lgo(tau))"')
    with pytest.raises(IconError) as info:
        Entry.from_yaml(text, file="mine.yaml")
    assert str(info.value) == (f"mine.yaml:32: loss.formula: unknown function 'lgo' at column 18; did you mean "
                               f"'log'? ({FUNCTIONS})")


# --------------------------------------------------------------------------------------
# catalog folder layout
# --------------------------------------------------------------------------------------


def test_entries_one_level_too_deep_are_a_problem(tmp_path):
    folder = tmp_path / "cat" / "mine"
    (folder / "drafts").mkdir(parents=True)
    (folder / "drafts" / "simclr.yaml").write_text(ENTRIES["simclr"])
    with pytest.raises(IconError) as info:
        load_catalog(folder, include_builtin=False)
    assert str(info.value) == ("mine: no entries here, but drafts/ (1 .yaml file) one level deeper: pass the folder "
                               "that holds the entries (--catalog mine/drafts), or name it methods/ to make mine a "
                               "catalog root")


def test_entries_beside_methods_are_a_problem(tmp_path):
    root = write_catalog(tmp_path / "cat" / "root")
    (root / "extra.yaml").write_text(ENTRIES["simclr"])
    with pytest.raises(IconError) as info:
        load_catalog(root, include_builtin=False)
    assert str(info.value) == ("root: extra.yaml beside methods/ is not loaded: a catalog root keeps its entries in "
                               "methods/ (move them there, or pass a folder of entries alone)")


def test_an_empty_folder_is_an_empty_catalog(tmp_path):
    """A folder a user has just made (``$ICON_CATALOG``, ``icon new x --catalog mine``) holds no entries yet."""
    (tmp_path / "cat" / "empty").mkdir()
    (tmp_path / "cat" / "root" / "methods").mkdir(parents=True)
    assert len(load_catalog(tmp_path / "cat" / "empty", include_builtin=False)) == 0
    assert len(load_catalog(tmp_path / "cat" / "root", include_builtin=False)) == 0


def test_a_folder_with_only_a_table_is_a_table(tmp_path):
    root = write_catalog(tmp_path / "cat" / "root", entries={})
    assert len(load_catalog(root, include_builtin=False)) == 0
    assert load_catalog(root, include_builtin=False).table is not None


def test_entries_in_a_subfolder_beside_top_level_entries_are_a_problem(tmp_path):
    folder = tmp_path / "cat" / "mix"
    (folder / "extra").mkdir(parents=True)
    (folder / "tsne.yaml").write_text(ENTRIES["tsne"])
    (folder / "extra" / "simclr.yaml").write_text(ENTRIES["simclr"])
    with pytest.raises(IconError) as info:
        load_catalog(folder, include_builtin=False)
    assert str(info.value) == ("mix/extra: simclr.yaml is not loaded: a folder of entries keeps them at its top level "
                               "(move it to mix, or pass --catalog mix/extra as well)")


def test_entries_two_levels_deep_are_a_problem(tmp_path):
    folder = tmp_path / "cat" / "mine"
    (folder / "a" / "b").mkdir(parents=True)
    (folder / "a" / "b" / "simclr.yaml").write_text(ENTRIES["simclr"])
    (folder / "a" / "b" / "tsne.yml").write_text(ENTRIES["tsne"])
    with pytest.raises(IconError) as info:
        load_catalog(folder, include_builtin=False)
    assert str(info.value) == ("mine/a/b: simclr.yaml, tsne.yml are not loaded: a folder of entries keeps them at its "
                               "top level (move them to mine, or pass --catalog mine/a/b as well)")


def test_entries_below_methods_or_beside_it_in_a_subfolder_are_a_problem(tmp_path):
    root = write_catalog(tmp_path / "cat" / "root", {"tsne": ENTRIES["tsne"]})
    (root / "methods" / "deeper").mkdir()
    (root / "methods" / "deeper" / "simclr.yaml").write_text(ENTRIES["simclr"])
    (root / "drafts").mkdir()
    (root / "drafts" / "x.yaml").write_text("id: x\n")
    with pytest.raises(IconError) as info:
        load_catalog(root, include_builtin=False)
    assert info.value.problems == [
        "root/drafts: x.yaml is not loaded: a catalog root keeps its entries in methods/ itself (move it to "
        "root/methods)",
        "root/methods/deeper: simclr.yaml is not loaded: a catalog root keeps its entries in methods/ itself (move it "
        "to root/methods)",
    ]


def test_a_second_table_is_a_problem_and_table_yml_is_a_table(tmp_path):
    from conftest import TABLE_YAML

    root = write_catalog(tmp_path / "cat" / "root", {"tsne": ENTRIES["tsne"]}, table=None)
    (root / "table.yml").write_text(TABLE_YAML)
    assert load_catalog(root, include_builtin=False).table_path == root / "table.yml"
    (root / "table.yaml").write_text(TABLE_YAML)
    with pytest.raises(IconError) as info:
        load_catalog(root, include_builtin=False)
    assert str(info.value) == "root: table.yml is not loaded: table.yaml is the table of this folder (keep one of the two)"


def test_hidden_files_and_folders_are_not_catalog_files(tmp_path):
    root = write_catalog(tmp_path / "cat" / "root", {"tsne": ENTRIES["tsne"]})
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    (root / "methods" / ".draft.yaml").write_text("id: draft\n")
    assert load_catalog(root, include_builtin=False).ids == ["tsne"]


def test_a_file_added_in_a_subfolder_is_seen_by_the_next_load(tmp_path):
    root = write_catalog(tmp_path / "cat" / "root", {"tsne": ENTRIES["tsne"]})
    assert load_catalog(root, include_builtin=False).ids == ["tsne"]  # now cached
    (root / "methods" / "deeper").mkdir()
    (root / "methods" / "deeper" / "simclr.yaml").write_text(ENTRIES["simclr"])
    with pytest.raises(IconError, match="root/methods/deeper: simclr.yaml is not loaded"):
        load_catalog(root, include_builtin=False)


def _constant_fields():
    """(entry id, claim index, field) for every field of a catalog claim that must be a constant."""
    from icon_registry.claims import FormulaField

    found = []
    for entry in load_catalog().entries():
        for index, claim in enumerate(entry.claims):
            for name, info in type(claim).model_fields.items():
                if any(isinstance(m, FormulaField) and not m.learnables for m in info.metadata):
                    found.append((entry.id, index, name))
    return found


#: A learned read for each way a formula reaches z, w or phi; the ``outputs`` set (z's width, not its
#: values) before ``logit`` (z's values) must not hide the second.
LEARNED_READS = {
    "z": "sum(i, anchors, norm(z[i]))",
    "logit": "mean(i, anchors, logsumexp(e, outputs, logit[i, e]))",
    "w": "sum(c, classes, norm(w[c]))",
    "phi": "sum(i, anchors, sum(c, clusters, phi[i, c]))",
}


@pytest.mark.parametrize("entry_id, index, field", _constant_fields())
def test_a_constant_field_never_reads_a_learned_quantity(entry_id, index, field):
    """up_to_constant's constant, a limit's scale, offset and factor, K-Means' factor: a field that
    reads z (directly, or through logit), w or phi would let a claim absorb a learned term and pass."""
    from icon_registry.static_check import provided_data
    from icon_registry.yaml_io import dump_yaml

    entry = load_catalog().get(entry_id)
    provided = provided_data(entry) | {"z"}
    readable = {name: text for name, text in LEARNED_READS.items() if {"logit": "z"}.get(name, name) in provided}
    for name, text in readable.items():
        data = entry.model_dump()
        data["claims"][index][field] = f"1 + {text}"
        with pytest.raises(IconError) as info:
            Entry.from_yaml(dump_yaml(data))
        assert any(f"claims[{index}].{field}: a constant may not read what the model learns (z, w, phi), but this one "
                   f"reads {name}" in problem for problem in info.value.problems), info.value.problems


IDENTITY = ("the identity kernel needs the anchor itself in its support, which 'others' leaves out: {}(j|i) would be "
            "empty for every anchor; use support 'all'")


def test_an_identity_kernel_without_the_anchor_in_its_support_is_refused(tmp_path):
    """Found by `icon verify` only, as "no anchor has any supervisory mass", before this check."""
    q = "    kind: gaussian_dot\n    temperature: tau\n    cosine: true\n"
    assert problems_of(tmp_path, q, "    kind: identity\n") == [f"methods/simclr.yaml:20: q.support: {IDENTITY.format('q')}"]


def test_pca_declares_its_identity_kernel_on_support_all():
    from icon_registry.catalog import builtin_catalog_dir

    text = (builtin_catalog_dir() / "methods" / "pca.yaml").read_text(encoding="utf-8")
    assert "  support: all\n  kernel: {kind: identity}" in text
    Entry.from_yaml(text)
    for support in ("  support: others\n", ""):  # others written, or left to its default
        with pytest.raises(IconError) as info:
            Entry.from_yaml(text.replace("  support: all\n", support, 1), file="pca.yaml")
        line = 18 if support else 16
        assert info.value.problems == [f"pca.yaml:{line}: p.support: {IDENTITY.format('p')}"]

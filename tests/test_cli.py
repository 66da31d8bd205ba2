"""The ``icon`` command line: output, exit codes 0/1/2, errors without tracebacks."""

import contextlib
import errno
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ENTRIES, write_catalog

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _mini_builtin(mini_catalog, as_builtin, monkeypatch):
    as_builtin(mini_catalog)
    monkeypatch.setenv("COLUMNS", "150")


def test_list(icon):
    code, out, err = icon("list")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["simclr", "supervised_clustering", "tsne"]
    assert lines[0].split() == ["simclr", "SimCLR", "gaussian", "x", "positive_pairs", "published", "2020"]
    assert lines[1].endswith("gap        -")


def test_list_pattern_and_json(icon):
    code, out, _ = icon("list", "*sne*", "--json")
    assert code == 0
    data = json.loads(out)
    assert [d["id"] for d in data] == ["tsne"]
    assert {"id", "name", "row", "column", "status", "year"} <= set(data[0])
    assert data[0]["year"] == 2008 and data[0]["row"] == "student_t"
    code, out, err = icon("list", "--json", "zzz*")  # the array for programs, the status and message as without --json
    assert (code, json.loads(out), err) == (1, [], "no entry matches 'zzz*'; see `icon list`\n")


def test_list_no_match_is_an_error(icon):
    code, out, err = icon("list", "zzz*")
    assert code == 1 and out == ""
    assert err == "no entry matches 'zzz*'; see `icon list`\n"


def test_list_without_wildcards_suggests_near_ids(icon):
    code, out, err = icon("list", "simclrr")
    assert code == 1 and out == ""
    assert err == "no entry matches 'simclrr'; did you mean 'simclr'?\n"
    code, out, err = icon("list", "SimCLRR", "tsnee")
    assert code == 1 and err == "no entry matches 'SimCLRR' 'tsnee'; did you mean 'simclr', 'tsne'?\n"
    code, out, err = icon("list", "simclrr*")  # a glob is not a misspelt id
    assert code == 1 and err == "no entry matches 'simclrr*'; see `icon list`\n"


def test_show(icon):
    code, out, err = icon("show", "nt_xent")
    assert code == 0, err
    for text in [
        "simclr: SimCLR",
        "A Simple Framework for Contrastive Learning of Visual Representations",
        "https://arxiv.org/abs/2002.05709",
        "q: Gaussian (gaussian) x p: Uniform over positive pairs (positive_pairs)",
        "normalize(support=others, over=rows)",
        "kernel: same_id()",
        "kernel: gaussian_dot(",
        "tau = 0.5 (real in [0.0001, 100]): temperature",
        "identity (objective=cross_entropy)",
        "variant of tsne: only here to test relations",
        "formula: -mean(i, anchors_with(positives), mean(j, positives(i), cos(z[i], z[j])/tau",
    ]:
        assert text in out, text


def test_show_nested_tree(icon):
    code, out, _ = icon("show", "tsne")
    assert code == 0
    assert "p           symmetrize()\n              of: normalize(support=others, over=rows)\n" in out
    assert "kernel: gaussian(space=x" in out


def test_show_json(icon):
    code, out, _ = icon("show", "tsne", "--json")
    data = json.loads(out)
    assert code == 0 and data["id"] == "tsne" and data["q"]["kernel"]["kind"] == "student_t"
    assert data["path"].endswith("tsne.yaml")


def test_show_unknown_id(icon):
    code, out, err = icon("show", "simclrr")
    assert (code, out, err) == (1, "", "unknown entry 'simclrr'; did you mean 'simclr'?\n")


def test_validate(icon, tmp_path):
    code, out, err = icon("validate")
    assert (code, out, err) == (0, "ok: 3 entries\n", "")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "my_tsne.yaml").write_text(ENTRIES["tsne"].replace("id: tsne", "id: my_tsne").replace("[t-SNE]", "[]"))
    code, out, err = icon("validate", mine)
    assert (code, out, err) == (0, "ok: 1 entry\n", "")


def test_validate_reports_every_problem(icon, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "a.yaml").write_text(ENTRIES["tsne"].replace("id: tsne", "id: a").replace("[t-SNE]", "[]")
                                 .replace("kind: student_t", "kind: studentt"))
    (mine / "b.yaml").write_text("id: b\nname: [\n")
    (mine / "c.yaml").write_text("!!python/object:os.system {}\n")
    code, out, err = icon("validate", mine)
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"{mine}/a.yaml:24: q.kernel.kind: unknown kernel kind 'studentt'; did you mean 'student_t'?",
        f"{mine}/b.yaml:3: invalid YAML: did not find expected node content (while parsing a flow node)",
        f"{mine}/c.yaml:1: YAML tag '!!python/object:os.system' is not allowed (plain data only)",
        "icon: 3 problems",
    ]


def test_validate_reports_tex_the_site_would_refuse(icon, tmp_path):
    """The TeX that `icon site build --strict` refuses (a link, a style) is a problem for validate too,
    at the field's line."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "a.yaml").write_text(
        ENTRIES["tsne"].replace("id: tsne", "id: a").replace("[t-SNE]", "[]")
        .replace("summary: Joint KL", "summary: Joint $\\href{javascript:alert(1)}{x}$ KL")
        .replace("description: perplexity}", "description: 'the $\\url{https://e.example}$ $\\htmlClass{x}{y}$'}"))
    code, out, err = icon("validate", mine)
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"{mine}/a.yaml:4: summary: $\\href{{javascript:alert(1)}}{{x}}$: TeX command(s) not allowed in catalog prose: \\href",
        f"{mine}/a.yaml:26: parameters.perplexity.description: $\\url{{https://e.example}}$: TeX command(s) not allowed "
        "in catalog prose: \\url",
        f"{mine}/a.yaml:26: parameters.perplexity.description: $\\htmlClass{{x}}{{y}}$: TeX command(s) not allowed "
        "in catalog prose: \\htmlClass",
        "icon: 3 problems",
    ]
    code, out, err = icon("validate", "--catalog", mine)  # the same from a --catalog folder
    assert code == 1 and err.splitlines()[0].startswith(f"{mine}/a.yaml:4: summary: $\\href")


def test_catalog_option_everywhere(icon, tmp_path):
    mine = write_catalog(tmp_path / "mine", {"my_tsne": ENTRIES["tsne"].replace("id: tsne", "id: my_tsne")
                                             .replace("[t-SNE]", "[]")}, table=None)
    for argv in (["--catalog", mine, "list"], ["list", "--catalog", mine]):
        code, out, _ = icon(*argv)
        assert code == 0 and "my_tsne" in out
    code, out, _ = icon("--catalog", mine, "list", "--catalog", tmp_path / "nope")
    assert code == 1


def test_env_catalog(icon, tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "my_tsne.yaml").write_text(ENTRIES["tsne"].replace("id: tsne", "id: my_tsne").replace("[t-SNE]", "[]"))
    monkeypatch.setenv("ICON_CATALOG", str(mine))
    code, out, _ = icon("list", "my_*")
    assert code == 0 and out.startswith("my_tsne ")


def test_table(icon):
    code, out, err = icon("table", "--width", "150")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("q \\ p")
    assert "Gaussian" in lines[0] and "Uniform over" in lines[0]
    assert any("t-SNE" in line for line in lines)  # short name of the long t-SNE name
    assert any("*Supervised" in line for line in lines)  # the gap cell
    assert "·" in out
    assert all(len(line) <= 150 for line in lines)


@pytest.mark.parametrize("width", [40, 80, 100, 120, 130, 140, 150, 160, 200])
def test_table_wraps_at_word_boundaries(width):
    """Every word of a label or a cell stays whole on one line ("Contrastive", never
    "Contrastiv" + "e"); a hyphenated word may break after its hyphen."""
    import re

    from icon_registry.catalog import load_catalog
    from icon_registry.commands.table import render, short_name

    catalog = load_catalog(use_env=False)
    out = render(catalog, width)
    lines = out.splitlines()
    assert all(len(line) <= width for line in lines), [line for line in lines if len(line) > width]
    texts = [r.label for r in catalog.table.rows] + [c.label for c in catalog.table.columns]
    texts += [short_name(e) for e in catalog]
    def pieces(text):  # words, split after their hyphens, without the table's punctuation
        return {part for word in re.split(r"[\s|,:]+", text) for part in re.split(r"(?<=-)", word.strip("*+")) if part}

    shown = pieces(out)
    for word in sorted(set().union(*(pieces(text) for text in texts))):
        assert word in shown, f"{word!r} cut at width {width}"


def test_table_narrow_is_a_list(icon):
    code, out, _ = icon("table", "--width", "40")
    assert code == 0
    assert "q: Student-t" in out and all(len(line) <= 40 for line in out.splitlines())
    code, _, err = icon("table", "--width", "10")
    assert code == 2 and err == "icon table: error: argument --width: expected an integer >= 40 and <= 1000, " \
        "got '10' (see 'icon table --help')\n"


@pytest.mark.parametrize(
    "argv",
    [[], ["bogus"], ["list", "--nope"], ["show"], ["table", "--width", "x"]],
    ids=["no-command", "unknown-command", "unknown-option", "missing-arg", "bad-int"],
)
def test_usage_errors_exit_2(icon, argv):
    code, out, err = icon(*argv)
    assert code == 2 and "Traceback" not in err
    if argv:  # a usage error is one line; without a command, the help
        assert err.count("\n") == 1 and err.startswith("icon") and "--help" in err, err
    else:
        assert "usage: icon" in err


def test_help_and_version_exit_0(icon):
    code, out, _ = icon("--help")
    assert code == 0 and "list" in out and "validate" in out and "--catalog" in out
    code, out, _ = icon("show", "--help")
    assert code == 0 and "--catalog" in out
    code, out, _ = icon("--version")
    assert code == 0 and out.startswith("icon-registry ")


def _run(*argv, env=None):
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    environment.pop("ICON_CATALOG", None)
    return subprocess.run([sys.executable, "-m", "icon_registry", *argv], capture_output=True, text=True,
                          env=environment, cwd=ROOT, timeout=300)


def test_subprocess_builtin_catalog():
    """The real built-in catalog through the real entry point (python -m icon_registry)."""
    result = _run("validate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: ") and "Traceback" not in result.stderr
    result = _run("show", "no_such_entry_anywhere")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("unknown entry 'no_such_entry_anywhere'")
    result = _run("frobnicate")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_control_characters_from_the_catalog_never_reach_the_terminal(icon, tmp_path):
    """ESC, BEL, CSI (U+009B) and a bidi override in an entry's summary and a relation's note (a
    name refuses them): escaped in list, show, table, graph and --json (still valid JSON)."""
    hostile = "\"Evil\x1b[31m\x07\u009b\u202e\"".encode("unicode_escape").decode()
    text = ENTRIES["tsne"].replace("id: tsne", "id: my_tsne").replace("[t-SNE]", "[]")
    text = text.replace("summary: ", f"summary: {hostile} #", 1)
    text += f"relations: [{{kind: variant_of, target: tsne, note: {hostile}}}]\n"
    mine = write_catalog(tmp_path / "mine", {"my_tsne": text}, table=None)
    for argv in (["list"], ["list", "--json"], ["show", "my_tsne"], ["show", "my_tsne", "--json"], ["table", "--width", "150"],
                 ["graph"], ["graph", "--format", "dot"]):
        code, out, err = icon("--catalog", mine, *argv)
        assert code == 0, (argv, err)
        assert not any(c in out for c in "\x1b\x07\u009b\u202e"), argv
        assert "Evil" in out or argv in (["list"], ["table", "--width", "150"], ["graph", "--format", "dot"]), argv
        if "--json" in argv or argv == ["graph"]:
            json.loads(out)


def test_fit_without_matplotlib_writes_the_results_and_notes_the_plot(icon, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    out_dir = tmp_path / "out"
    code, out, err = icon("fit", "tsne", "--data", "iris", "--epochs", "2", "--out", out_dir, "--quiet")
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == [".icon-fit.json", "embedding.npy", "metrics.json"]
    assert err == f"note: matplotlib is not installed: {out_dir}/plot.png not drawn (pip install matplotlib)\n"
    assert json.loads((out_dir / ".icon-fit.json").read_text())["files"] == ["embedding.npy", "metrics.json"]


class _FullDisk(io.StringIO):
    def write(self, text):
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("argv", [["show", "simclr"], ["show", "simclr", "--json"], ["list"], ["graph"], ["formula"]])
def test_output_that_cannot_be_written_is_one_clear_line(argv):
    """`icon show simclr > /dev/full`: print(), sys.stdout.write and the final flush alike."""
    from icon_registry.cli import main

    err = io.StringIO()
    with contextlib.redirect_stdout(_FullDisk()), contextlib.redirect_stderr(err):
        code = main(argv)
    assert (code, err.getvalue()) == (1, f"icon {argv[0]}: cannot write the output: No space left on device\n")


def test_an_os_error_writing_anything_else_stays_an_internal_error(icon, monkeypatch):
    def fail(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("icon_registry.commands.show.render", fail)
    code, out, err = icon("show", "simclr")
    assert (code, out) == (1, "")
    assert err.startswith("icon show: internal error: OSError: [Errno 28] No space left on device")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_dev_full_through_the_real_entry_point():
    """The interpreter's own flush at exit adds nothing (no 'Exception ignored', exit code 1)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    environment.pop("ICON_CATALOG", None)
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "icon_registry", "show", "simclr"], stdout=full,
                                stderr=subprocess.PIPE, text=True, env=environment, cwd=ROOT, timeout=300)
    assert (result.returncode, result.stderr) == (1, "icon show: cannot write the output: No space left on device\n")


def test_table_width_from_the_environment_is_bounded(icon, monkeypatch):
    """$COLUMNS is the terminal's word, not checked by argparse: a huge one was an OverflowError."""
    monkeypatch.setenv("COLUMNS", "99999999999999999999")
    code, out, err = icon("table")
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 1000


def test_new_reports_a_write_the_file_system_refuses(icon, monkeypatch, tmp_path):
    """The folder passed the checks, then the write failed (a read-only methods/, a full disk)."""
    def refuse(*args):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "mine" / ".okid.yaml.tmp"))

    monkeypatch.setattr("icon_registry.authoring.write_new_entry", refuse)
    code, out, err = icon("new", "okid", "--catalog", tmp_path / "mine")
    assert (code, out) == (1, "")
    assert err == f"cannot write okid.yaml in '{tmp_path / 'mine'}' (Read-only file system)\n"


def test_json_output_has_no_infinity_or_nan(capsys):
    """A counterexample's loss may be inf or NaN; strict JSON parsers reject Infinity and NaN."""
    import icon_registry.commands.list  # noqa: F401  (binds `list` in the package, as any CLI run does)
    from icon_registry.commands import print_json

    print_json({"loss": float("inf"), "values": [float("-inf"), float("nan"), 1.5], "nested": {"bound": (2.0,)}})

    def refuse(constant):
        raise AssertionError(f"{constant} in the JSON output")

    assert json.loads(capsys.readouterr().out, parse_constant=refuse) == {
        "loss": "inf", "values": ["-inf", "nan", 1.5], "nested": {"bound": [2.0]}}


def test_our_warnings_are_one_line_and_others_as_python_shows_them(icon, monkeypatch):
    """`icon fit` on an entry whose claims are all unproved warned with Python's source path and code line."""
    import warnings

    from icon_registry.commands import list as list_command
    from icon_registry.errors import IconWarning

    def warn(args):
        warnings.warn(IconWarning("the objective of dcd is not its published loss\x1b[31m"), stacklevel=1)
        warnings.warn(DeprecationWarning("a library's own"), stacklevel=1)
        return 0

    monkeypatch.setattr(list_command, "run", warn)
    with pytest.warns(DeprecationWarning, match="a library's own"):  # through Python's own machinery
        code, _, err = icon("list")
    assert code == 0
    assert err == "icon list: warning: the objective of dcd is not its published loss\\x1b[31m\n"


def test_list_shortens_a_huge_pattern(icon):
    code, out, err = icon("list", "x" * 120_000)
    assert (code, out, err) == (1, "", f"no entry matches '{'x' * 57}...'; see `icon list`\n")


def test_show_takes_a_name_in_any_case(icon):
    code, out, err = icon("show", "T-SNE")
    assert code == 0 and out.startswith("tsne: "), err


def test_a_relation_to_an_alias_is_the_aliased_entry_everywhere(icon, tmp_path):
    """icon validate accepted it; icon graph said the target names no entry."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "my_tsne.yaml").write_text(ENTRIES["tsne"].replace("id: tsne", "id: my_tsne").replace("[t-SNE]", "[]")
                                       + "relations: [{kind: variant_of, target: nt_xent}]\n")
    assert icon("validate", "--catalog", mine)[:2] == (0, "ok: 4 entries\n")
    code, out, err = icon("graph", "--no-table", "--catalog", mine)
    assert code == 0, err
    assert {(e["source"], e["target"], e["kind"]) for e in json.loads(out)["edges"]} == {
        ("my_tsne", "simclr", "variant_of"), ("simclr", "tsne", "variant_of")}
    code, out, err = icon("show", "my_tsne", "--catalog", mine)
    assert code == 0 and "variant of simclr" in out, err


def test_new_without_catalog_suggests_commands_that_work_beside_other_yaml(icon, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mkdocs.yml").write_text("site_name: mine\n")
    code, out, err = icon("new", "mine")
    assert (code, out, err) == (0, "wrote mine.yaml\n",
                                "next: edit it, then `icon validate mine.yaml` and `icon verify mine.yaml`\n")
    assert icon("validate", "mine.yaml")[:2] == (0, "ok: 1 entry\n")


def test_new_without_catalog_checks_the_id_against_the_current_catalog_folder(icon, tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    monkeypatch.chdir(mine)
    (mine / "my_tsne.yaml").write_text(ENTRIES["tsne"].replace("id: tsne", "id: my_tsne").replace("[t-SNE]", "[Other_One]"))
    code, out, err = icon("new", "other_one")
    assert (code, out, err) == (1, "", "'other_one' is already an entry (my_tsne.yaml); choose another id\n")
    code, out, err = icon("new", "mine")
    assert (code, out, err) == (0, "wrote mine.yaml\n", "next: edit it, then `icon validate mine.yaml --catalog .` "
                                                         "and `icon verify mine.yaml --catalog .`\n")
    assert icon("validate", "--catalog", ".")[:2] == (0, "ok: 5 entries\n")

"""The Results pages read like a report: one section per experiment (question, setup, a compact
table, the plot with a caption, the command), benchmark ratio tables per suite with plots of time
and memory against n; inputs found wherever the build starts; what is missing is a warning."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from .helpers import table_with_header, tables

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "results"


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_every_experiment_has_its_question():
    from icon_registry.training.reproduce import ABOUT, EXPERIMENTS

    assert set(ABOUT) == {name for name, _ in EXPERIMENTS}
    for about in ABOUT.values():
        assert about.title and about.question.endswith((".", "?"))


def test_reproductions_page_one_section_per_experiment(builtin_site):
    data = json.loads(_text(RESULTS / "reproduce.json"))
    page = builtin_site.out / "results" / "reproduce.html"
    html = _text(page)
    from icon_registry.training.reproduce import ABOUT

    letters = list(dict.fromkeys(row["experiment"] for row in data["summary"]))
    assert letters == list("abcdefg")
    for letter in letters:
        key = next(k for k in data["details"] if k.startswith(letter + "_"))
        heading = re.search(rf'<h2 id="[^"]*">\({letter}\) ([^<]*)', html)
        assert heading and heading.group(1) == ABOUT[key].title, letter
        section = html[heading.start():html.find("<h2", heading.end()) % (len(html) + 1)]
        assert "Question." in section and "Setup." in section
        assert f"icon reproduce --only {letter} --quick" in section
        plot = data["details"][key].get("plot")
        if plot:
            assert f'<img src="{plot}"' in section and (builtin_site.out / "results" / plot).is_file()
            caption = re.search(r"<figcaption>(.*?)</figcaption>", section, re.S).group(1)
            assert caption == ABOUT[key].caption.replace("'", "&#39;") and plot not in caption
    rows = [row for t in tables(page) if t and t[0] == ["Method", "Metric", "Mean ± std", "Runs", "Target", "Met"]
            for row in t[1:]]
    assert len(rows) == len(data["summary"])
    for row, expected in zip(rows, data["summary"]):
        assert row[0].rstrip("0123456789") == expected["method"]
        assert row[1] == expected["metric"]
        assert row[2] == f"{expected['mean']:.6g} ± {expected['std']:.6g}"  # as the file writes them (4 decimals)
        assert row[5] == {True: "✓ met", False: "✗ missed"}.get(expected.get("target_met"), "")
    visible = re.sub(r"<[^>]+>", " ", html)
    assert "&quot;mean&quot;" not in visible and '{"mean"' not in visible, "JSON shown as text"


def test_benchmarks_page_ratio_table_per_suite(builtin_site):
    from icon_registry.docs_site.results_pages import bench_suites

    data = json.loads(_text(RESULTS / "bench.json"))
    page = builtin_site.out / "results" / "bench.html"
    html = _text(page)
    for suite in bench_suites(data):
        assert re.search(rf'<h2 id="[^"]*">Suite {re.escape(suite)}<', html), suite
        assert f"icon bench --suite {suite}" in html
    core = data["core"]
    sizes = sorted({r["n"] for r in core})
    rows = {row[0]: row[1:] for row in table_with_header(page, ["Case"] + [f"n = {n}" for n in sizes])}
    assert set(rows) == {r["case"] for r in core}
    for record in core:
        shown = rows[record["case"]][sizes.index(record["n"])]
        assert shown.startswith(f"{record['ratio']:.2f}"), (record["case"], record["n"], shown)
    plots = re.findall(r'<img src="(bench-[\d-]+\.png)"', html)
    assert len(plots) >= 2, "no plot of time and memory against n"
    for name in plots:
        assert (builtin_site.out / "results" / name).stat().st_size > 5000


def test_any_suite_is_rendered(tmp_path):
    """Suites the page has never seen (a list of rows with new fields, a suite of several
    tables): every field of every row is on the page."""
    from icon_registry.docs_site.results_pages import bench_page

    data = {
        "target_ratio": 1.15,
        "compile": [{"case": "simclr", "n": n, "eager_ms": 2.0 * n, "compiled_ms": 1.5 * n, "ratio": 0.75, "recompiles": 0}
                    for n in (256, 1024)],
        "tsne": {"calibration": {"description": "P calibration", "rows": [{"n": 1000, "ours_seconds": 0.1, "sklearn_seconds": 0.3}]},
                 "end_to_end": {"description": "one embedding", "rows": [{"data": "digits", "method": "openTSNE", "seconds": 4.5}]}},
    }
    (tmp_path / "bench.json").write_text(json.dumps(data))
    text = bench_page(tmp_path / "bench.json", lambda *a: None)
    assert "## Suite compile" in text and "## Suite tsne" in text
    assert "### calibration" in text and "### end_to_end" in text
    for field in ("eager_ms", "recompiles", "ours_seconds", "sklearn_seconds", "openTSNE", "P calibration"):
        assert field in text, field
    assert "| simclr | **0.75**<br><small>512 / 384 ms</small> |" in text


def test_a_suite_with_its_own_target_shows_it(tmp_path):
    from icon_registry.docs_site.results_pages import bench_page

    rows = [{"case": "simclr", "n": 256, "compiled_ms": 1.2, "hand_ms": 1.0, "ratio": 1.2}]
    data = {"target_ratio": 1.15, "core": rows, "core_worst_ratio": 1.2, "compile": rows, "compile_worst_ratio": 1.2,
            "compile_target_ratio": 1.1}
    (tmp_path / "bench.json").write_text(json.dumps(data))
    core, compile_ = bench_page(tmp_path / "bench.json", lambda *a: None).split("## Suite compile")
    assert "Worst ratio: **1.20** (target ≤ 1.15)." in core
    assert "Worst ratio: **1.20** (target ≤ 1.10)." in compile_


def test_an_integer_past_float_range_shows_as_text(tmp_path):
    """A 400-digit integer where a number is read (a summary's mean and std, a bench row's n, ratio
    and times) is shown as the text it is; it never stops the build (OverflowError)."""
    from icon_registry.docs_site.build import bench_plots
    from icon_registry.docs_site.results_pages import bench_page, read_results, reproduce_page

    big = int("9" * 400)
    rows = [{"case": "a", "n": big, "ratio": big, "compiled_ms": big, "hand_ms": 1.0},
            {"case": "a", "n": 4, "ratio": 1.0, "compiled_ms": 1.0, "hand_ms": 1.0}]
    (tmp_path / "bench.json").write_text(json.dumps({"s": {"rows": rows}}))
    warnings = []
    plots = bench_plots(read_results(tmp_path / "bench.json")[0], tmp_path, warnings.append)
    assert plots == {} and warnings == []  # one size left to plot: no plot, and nothing to warn about
    assert str(big) in bench_page(tmp_path / "bench.json", lambda *a: None)
    summary = [{"experiment": "a", "method": "m", "metric": "x", "mean": big, "std": big, "runs": 1}]
    (tmp_path / "reproduce.json").write_text(json.dumps({"summary": summary, "details": {}}))
    assert f"{big} ± {big}" in reproduce_page(tmp_path / "reproduce.json", set())


def test_results_found_from_any_working_directory(tmp_path, monkeypatch):
    from icon_registry.docs_site.build import default_results_dir

    monkeypatch.chdir(tmp_path)
    assert default_results_dir() == RESULTS


def test_missing_inputs_are_warnings_and_strict_makes_them_errors(tmp_path, monkeypatch):
    from icon_registry.docs_site import build_site, load_fixture_catalog
    from icon_registry.errors import IconError

    from .conftest import FIXTURES

    results = tmp_path / "results"
    results.mkdir()
    (results / "bench.json").write_text(json.dumps({"core": [{"case": "a", "n": n, "compiled_ms": 1.0, "hand_ms": 1.0,
                                                                "ratio": 1.0} for n in (4, 8)]}))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    with pytest.raises(IconError) as raised:
        build_site(out=tmp_path / "public", catalog=load_fixture_catalog(FIXTURES), results_dir=results, verify="off",
                   quiet=True, strict=True)
    problems = "\n".join(raised.value.problems)
    assert f"{results / 'reproduce.json'} not found" in problems and "run icon reproduce" in problems
    assert "matplotlib is not installed" in problems
    assert not (tmp_path / "public").exists()
    report = build_site(out=tmp_path / "public", catalog=load_fixture_catalog(FIXTURES), results_dir=results,
                        verify="off", quiet=True)
    assert any("matplotlib is not installed" in w for w in report.warnings)
    assert "Not yet run" in _text(tmp_path / "public" / "results" / "reproduce.html")


def test_strict_through_the_command_line(tmp_path, capsys):
    from icon_registry.cli import main

    code = main(["site", "build", "--no-verify", "--quiet", "--strict", "--results", str(tmp_path / "none"),
                 "--out", str(tmp_path / "public")])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "icon site build --strict: " in err and "no results folder at" in err and "Traceback" not in err
    assert not (tmp_path / "public").exists()


def test_rows_that_share_a_note_share_its_footnote():
    from icon_registry.docs_site.results_pages import _summary_table

    rows = [{"method": "a", "metric": "m", "mean": 1.0, "std": 0.0, "runs": 2, "note": "tuned here"},
            {"method": "b", "metric": "m", "mean": 1.0, "std": 0.0, "runs": 2, "note": "tuned here"},
            {"method": "c", "metric": "m", "mean": 1.0, "std": 0.0, "runs": 2, "note": "another"}]
    lines = _summary_table(rows)
    assert [line.split(" |")[0] for line in lines[2:5]] == ["| a<sup>1</sup>", "| b<sup>1</sup>", "| c<sup>2</sup>"]
    assert [line for line in lines if line.startswith("<sup>")] == ["<sup>1</sup> tuned here<br>", "<sup>2</sup> another<br>"]


def test_unreadable_results_files_are_warnings(tmp_path):
    """A results file that is not JSON (or not UTF-8, or nested too deeply) is said at build time, not
    only on its page: `--strict` refuses it like a missing one."""
    from icon_registry.docs_site import build_site, load_fixture_catalog
    from icon_registry.docs_site.build import results_warnings
    from icon_registry.errors import IconError

    from .conftest import FIXTURES

    results = tmp_path / "results"
    results.mkdir()
    (results / "bench.json").write_text("[" * 100_000 + "]" * 100_000)
    (results / "reproduce.json").write_bytes(b'{"experiments": "\xff"}')
    (results / "conformance.json").write_text("not json")
    (results / "verify.json").write_text("{")
    warnings = results_warnings(results)
    assert [w.split(" could not be read (")[0] for w in warnings] == [
        str(results / name) for name in ("bench.json", "reproduce.json", "conformance.json", "verify.json")]
    assert warnings[2] == (f"{results / 'conformance.json'} could not be read (Expecting value: line 1 column 1 (char 0)): "
                           "its page says 'Unreadable results'")
    assert warnings[3].endswith("): its claims show as not verified")
    assert "'utf-8' codec can't decode byte 0xff" in warnings[1]
    with pytest.raises(IconError) as raised:
        build_site(out=tmp_path / "public", catalog=load_fixture_catalog(FIXTURES), results_dir=results, verify="off",
                   quiet=True, strict=True)
    assert [p for p in raised.value.problems if "could not be read" in p] == [
        f"icon site build --strict: {w}" for w in warnings]
    assert not (tmp_path / "public").exists()


def test_a_warning_naming_a_path_with_control_characters_stays_one_line(tmp_path):
    import io

    from icon_registry.docs_site.build import Progress

    stream = io.StringIO()
    Progress(quiet=True, stream=stream).warn(f"no results folder at {tmp_path / chr(27)}[31mres")
    assert stream.getvalue() == f"icon site: warning: no results folder at {tmp_path}/\\x1b[31mres\n"


def _reproduce_lines(tmp_path, data) -> list[str]:
    from icon_registry.docs_site.results_pages import bench_page

    (tmp_path / "bench.json").write_text(json.dumps(data))
    return re.findall(r"^Reproduce it: (.*)$", bench_page(tmp_path / "bench.json", lambda *a: None), re.M)


def test_the_reproduce_command_has_the_options_the_rows_ran_with(tmp_path):
    """The core suite ran with 9 repeats, and its page said `icon bench --suite core` (5 repeats)."""
    row = {"case": "simclr", "compiled_ms": 1.2, "hand_ms": 1.0, "ratio": 1.2, "d": 64, "dtype": "float64",
           "device": "cpu", "repeats": 9}
    data = {"core": [dict(row, n=n) for n in (256, 1024)],
            "compile": [dict(row, n=256, d=128, repeats=3), dict(row, n=1024, d=128, repeats=5)],
            "fresh": [dict(row, n=256, device="cuda; rm -rf ~", d=True)],
            "tsne": [{"n": 1000, "repeats": 9, "ours_seconds": 0.1}]}
    assert _reproduce_lines(tmp_path, data) == [
        "<code>icon bench --suite core --dim 64 --dtype float64 --repeats 9</code>",
        "<code>icon bench --suite compile --dtype float64</code>",  # the repeats differ between rows
        "<code>icon bench --suite fresh --dtype float64 --repeats 9</code>",  # not a device or a dimension
        "<code>icon bench --suite tsne</code>",  # not a compared suite: its rows' fields are not options
    ]

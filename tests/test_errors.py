"""IconError: one type, many problems, context, suggestions."""

import pickle

import pytest

from icon_registry.errors import IconError, close_matches, error_context, format_problem, suggest


def test_single_message_is_printed_verbatim():
    err = IconError("simclr: unknown parameter 'tua'", entry="simclr", argument="tua")
    assert str(err) == "simclr: unknown parameter 'tua'"
    assert err.problems == ["simclr: unknown parameter 'tua'"]
    assert (err.entry, err.argument, err.file, err.line) == ("simclr", "tua", None, None)
    assert isinstance(err, Exception)


def test_many_problems_one_per_line():
    err = IconError("2 problems", problems=["a.yaml:1: x", IconError("b.yaml:2: y")])
    assert str(err) == "a.yaml:1: x\nb.yaml:2: y"
    assert err.problems == ["a.yaml:1: x", "b.yaml:2: y"]
    assert err.message == "2 problems"


def test_summary_defaults_to_count():
    assert IconError(problems=["a", "b", "c"]).message == "3 problems"
    assert IconError(problems=["only"]).message == "only"


def test_at_formats_file_line_field():
    err = IconError.at("unknown field 'foo'", file="x.yaml", line=3, field="q.kernel")
    assert str(err) == "x.yaml:3: q.kernel: unknown field 'foo'"
    assert (err.file, err.line, err.field) == ("x.yaml", 3, "q.kernel")
    assert format_problem("m", file="f") == "f: m"
    assert format_problem("m", line=2) == "line 2: m"
    assert format_problem("m") == "m"


def test_suggest_closest_only():
    kinds = ["gaussian", "gaussian_dot", "student_t", "same_id"]
    assert suggest("gausian", kinds) == "; did you mean 'gaussian'?"
    assert suggest("GAUSSIAN", kinds) == "; did you mean 'gaussian'?"
    assert suggest("qqqqqq", kinds) == ""
    assert suggest("sim", ["simclr", "supcon"]) == "; did you mean 'simclr'?"
    assert close_matches("tsn", ["tsne", "sne", "pca"])[0] in ("tsne", "sne")


def test_suggest_several_when_ambiguous():
    assert suggest("simclr2", ["simclr", "tsimclr", "pca"]) == "; did you mean 'simclr', 'tsimclr'?"


def test_error_context_prefixes_every_problem():
    with pytest.raises(IconError) as info:
        with error_context("while compiling simclr: ", entry="simclr"):
            raise IconError(problems=["argument 'z' must be 2-D", "argument 'ids' is missing"])
    assert info.value.problems == [
        "while compiling simclr: argument 'z' must be 2-D",
        "while compiling simclr: argument 'ids' is missing",
    ]
    assert info.value.entry == "simclr"
    assert isinstance(info.value.__cause__, IconError)


def test_pickle_round_trip():
    err = IconError("x", problems=["a", "b"], file="f.yaml", entry="e")
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) and back.file == "f.yaml" and back.entry == "e"


def test_terminal_escapers_escape_every_character_never_passed_through_raw():
    """NEVER_RAW (C0/C1 and bidi controls) is what the site replaces; in messages and command
    output every one of them is escaped (the newline stays a line break in command output)."""
    from icon_registry.commands import terminal_safe
    from icon_registry.errors import NEVER_RAW, one_line, quote

    for char in sorted(NEVER_RAW):
        assert char not in one_line(f"a{char}b") and char not in quote(f"a{char}b"), repr(char)
        assert char not in terminal_safe(f"a{char}b") or char == "\n", repr(char)
    assert one_line("x \u202eevil") == "x \\u202eevil"
    assert quote("x \u2066evil\u200f") == "'x \\u2066evil\\u200f'"
    assert terminal_safe("x \u202eevil\u061c") == "x \\u202eevil\\u061c"

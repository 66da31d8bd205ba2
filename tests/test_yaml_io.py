"""Safe YAML loading: plain data, line numbers, and hostile input rejected quickly."""

import os
import time

import pytest

from icon_registry.errors import IconError
from icon_registry.yaml_io import MAX_BYTES, MAX_DEPTH, dump_yaml, line_of, load_yaml, load_yaml_text


@pytest.fixture
def quick():
    """Assert that the block finishes in well under a second or two."""
    start = time.perf_counter()
    yield
    assert time.perf_counter() - start < 5.0


def error_of(text, **kwargs) -> str:
    with pytest.raises(IconError) as info:
        load_yaml_text(text, file="t.yaml", **kwargs)
    return str(info.value)


def test_plain_data_and_lines():
    doc = load_yaml_text(
        "id: simclr\n"
        "q:\n"
        "  kind: normalize\n"
        "  kernel: {kind: gaussian_dot, cosine: true}\n"
        "claims:\n"
        "  - kind: identity\n"
        "  - kind: unproved\n"
        "    note: x\n",
        file="f.yaml",
    )
    assert doc.data == {
        "id": "simclr",
        "q": {"kind": "normalize", "kernel": {"kind": "gaussian_dot", "cosine": True}},
        "claims": [{"kind": "identity"}, {"kind": "unproved", "note": "x"}],
    }
    assert doc.lines[("id",)] == 1
    assert doc.lines[("q", "kernel", "kind")] == 4
    assert doc.lines[("claims", 1)] == 7
    assert doc.lines[("claims", 1, "note")] == 8
    assert doc.line_of(("q", "kernel", "nope", "deeper")) == 4
    assert line_of(doc.lines, ("missing",)) == 1
    assert doc.file == "f.yaml"


def test_scalars_are_plain():
    data = load_yaml_text("a: 1\nb: 1.5\nc: true\nd: null\ne: '1'\nf: 2025-01-01\ng: 1e3\nh: .inf\n").data
    assert data == {"a": 1, "b": 1.5, "c": True, "d": None, "e": "1", "f": "2025-01-01", "g": 1000.0, "h": float("inf")}


def test_merge_keys_and_small_aliases_work():
    data = load_yaml_text("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\nlist: [*b, *b]\n").data
    assert data["use"] == {"x": 1, "y": 3}
    assert data["list"] == [{"x": 1, "y": 2}, {"x": 1, "y": 2}]


def test_empty_file_is_none():
    assert load_yaml_text("").data is None
    assert load_yaml_text("# only a comment\n").data is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("x: !!python/object/apply:os.system ['echo hi']\n",
         "t.yaml:1: YAML tag '!!python/object/apply:os.system' is not allowed (plain data only)"),
        ("!!python/object:__main__.Foo {}\n",
         "t.yaml:1: YAML tag '!!python/object:__main__.Foo' is not allowed (plain data only)"),
        ("a: !!python/name:os.system\n", "t.yaml:1: YAML tag '!!python/name:os.system' is not allowed (plain data only)"),
        ("a: !custom 1\n", "t.yaml:1: YAML tag '!custom' is not allowed (plain data only)"),
        ("a: !!binary aGVsbG8=\n", "t.yaml:1: YAML tag '!!binary' is not allowed (plain data only)"),
        ("a: !!set {x, y}\n", "t.yaml:1: YAML tag '!!set' is not allowed (plain data only)"),
    ],
)
def test_tags_rejected(text, message, quick):
    assert error_of(text) == message


def test_billion_laughs_rejected(quick):
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    previous = "a"
    for name in "bcdefghi":
        text += f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]\n"
        previous = name
    message = error_of(text)
    assert "aliases expand to more than" in message and message.startswith("t.yaml:")


def test_fifty_megabyte_file_rejected_before_reading(tmp_path, quick):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as handle:
        handle.truncate(50 * 2**20)  # sparse: 50 MB on paper, nothing on disk
    with pytest.raises(IconError) as info:
        load_yaml(path, display="huge.yaml")
    assert str(info.value) == "huge.yaml: file is 52428800 bytes; the limit is 1048576 bytes (1 MiB)"


def test_size_limit_on_text(quick):
    assert "the limit is 1048576 bytes" in error_of("a: " + "x" * (MAX_BYTES + 1))


def test_non_utf8_reports_offset(quick):
    assert error_of(b"a: 1\nb: caf\xe9\n") == "t.yaml:2: not UTF-8: invalid byte 0xe9 at byte offset 11"


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: Caf\u00e9\n".encode("latin-1"))
    with pytest.raises(IconError) as info:
        load_yaml(path, display="latin1.yaml")
    assert str(info.value) == "latin1.yaml:1: not UTF-8: invalid byte 0xe9 at byte offset 9"


def test_nul_and_control_characters(quick):
    assert error_of(b"a: 1\x00\n") == "t.yaml:1: NUL byte at byte offset 4: not a text file"
    assert error_of("a: \x07\n") == "t.yaml:1: invalid YAML: control character U+0007 at character offset 3 is not allowed"


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 10000 + "]" * 10000,
        "{a: " * 10000 + "1" + "}" * 10000,
        "- " * 10000 + "x\n",
        "".join("  " * i + f"k{i}:\n" for i in range(200)),
    ],
    ids=["flow-seq", "flow-map", "block-seq", "block-map"],
)
def test_deep_nesting_rejected(text, quick):
    message = error_of(text)
    assert "nesting" in message or "depth" in message, message


def test_depth_limit_is_exact():
    ok = "a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert load_yaml_text(ok).data is not None
    assert error_of("a: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH) == f"t.yaml:1: nesting deeper than {MAX_DEPTH} levels"


def test_duplicate_keys_rejected():
    assert error_of("a: 1\nb:\n  c: 1\n  c: 2\n") == "t.yaml:4: duplicate key 'c' (first at line 3)"


def test_other_structure_errors():
    assert error_of("? [a, b]\n: 1\n") == "t.yaml:1: mapping keys must be plain scalars, not a list"
    assert error_of("a: 1\n---\nb: 2\n") == "t.yaml:2: more than one YAML document ('---') in one file"
    assert error_of("a: *nope\n") == "t.yaml:1: unknown alias '*nope'"
    assert error_of("a: b: c\n") == "t.yaml:1: invalid YAML: mapping values are not allowed in this context"
    assert error_of("a: " + "9" * 5000 + "\n").startswith("t.yaml:1: cannot read '999")


def test_special_files_never_block(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(IconError, match="not a regular file"):
        load_yaml(fifo)
    with pytest.raises(IconError, match="is a directory"):
        load_yaml(tmp_path)
    with pytest.raises(IconError, match="no such file"):
        load_yaml(tmp_path / "missing.yaml")


def test_dump_round_trip():
    data = {"id": "x", "notes": "two\nlines", "list": [1, 2.5, None, True], "nested": {"k": "v"}}
    assert load_yaml_text(dump_yaml(data)).data == data

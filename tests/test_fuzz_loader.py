"""Property tests: whatever the input, loading raises IconError and nothing else.

Valid entries are mutated (fields dropped, renamed, retyped, added; text spliced) and
random YAML-ish text and bytes are fed to the loader. Each problem must be one line, and
no validator may fail with anything but a validation error (that would be a bug).
"""

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ENTRIES, TABLE_YAML
from icon_registry.catalog import load_catalog
from icon_registry.errors import IconError
from icon_registry.schema import Entry
from icon_registry.validation_messages import validate_model
from icon_registry.yaml_io import dump_yaml, load_yaml_text

SETTINGS = settings(max_examples=int(__import__("os").environ.get("ICON_FUZZ_EXAMPLES", "120")), deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["gaussian", "normalize", "tau", "others", "published", "kl", "identity", "same_id", "x", ""]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
keys = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["kind", "kernel", "support", "sigma", "temperature", "id", "paper", "of", "claims", "p", "q"]),
)


def paths(data, prefix=()):
    """Every (path, value) in nested plain data."""
    found = [(prefix, data)]
    if isinstance(data, dict):
        for key, value in data.items():
            found.extend(paths(value, prefix + (key,)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.extend(paths(value, prefix + (index,)))
    return found


def parent_of(data, path):
    for part in path[:-1]:
        data = data[part]
    return data


def check(text, file="fuzz.yaml"):
    """Load and validate; only IconError may come out, each problem on one line."""
    try:
        doc = load_yaml_text(text, file=file)
        validate_model(Entry, doc.data, doc.lines, doc.file)
    except IconError as err:
        assert err.problems and all(p and "\n" not in p for p in err.problems), err.problems
        assert not any("a bug in icon-registry" in p for p in err.problems), err.problems
        return err
    return None


BASES = {entry_id: load_yaml_text(text).data for entry_id, text in ENTRIES.items()}


@SETTINGS
@given(st.data())
def test_mutated_entries_raise_only_icon_error(data):
    entry_id = data.draw(st.sampled_from(sorted(BASES)))
    import copy

    entry = copy.deepcopy(BASES[entry_id])
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        candidates = [p for p, _ in paths(entry) if p]
        if not candidates:
            break
        path = data.draw(st.sampled_from(candidates))
        parent = parent_of(entry, path)
        op = data.draw(st.sampled_from(["drop", "rename", "retype", "add"]))
        key = path[-1]
        if op == "drop":
            del parent[key]
        elif op == "rename" and isinstance(parent, dict):
            new_key = data.draw(keys)
            parent[new_key] = parent.pop(key)
        elif op == "retype":
            parent[key] = data.draw(values)
        elif op == "add":
            target = parent[key] if isinstance(parent[key], dict) else parent
            if isinstance(target, dict):
                target[data.draw(keys)] = data.draw(values)
            else:
                target.append(data.draw(values))
    check(dump_yaml(entry))


@SETTINGS
@given(st.data())
def test_spliced_entry_text_raises_only_icon_error(data):
    text = ENTRIES[data.draw(st.sampled_from(sorted(ENTRIES)))]
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        start = data.draw(st.integers(min_value=0, max_value=len(text)))
        end = data.draw(st.integers(min_value=start, max_value=min(len(text), start + 40)))
        insert = data.draw(st.text(alphabet=" \n\t:-[]{}&*!|>'\"#,?%@`abc01.", max_size=10))
        text = text[:start] + insert + text[end:]
    check(text)


yamlish = st.lists(
    st.sampled_from(list(" \n\t:-[]{}&*!|>'\"#,?%@`<=~abkind01.e\\") + ["!!python/object", "*a", "&a", "<<", "\n  "]),
    max_size=120,
).map("".join)


@SETTINGS
@given(st.one_of(yamlish, st.text(max_size=200)))
def test_random_text_raises_only_icon_error(text):
    check(text)


@SETTINGS
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_icon_error(raw):
    check(raw)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=" \n:-[]{}abkid01", max_size=120))
def test_catalog_folder_with_a_random_file(text):
    """Through load_catalog (files, table, cross-entry checks), only IconError."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "methods").mkdir()
        (root / "table.yaml").write_text(TABLE_YAML)
        (root / "methods" / "tsne.yaml").write_text(ENTRIES["tsne"])
        (root / "methods" / "fuzz.yaml").write_text(text)
        with pytest.raises(IconError):
            load_catalog(root, include_builtin=False)


def test_valid_entries_pass_check():
    for text in ENTRIES.values():
        assert check(text) is None

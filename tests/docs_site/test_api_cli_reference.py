"""The API reference (from the docstrings of the public names) and the command-line reference
(from the argparse parser): every public name, every command and every option is on the built
pages, and nothing public is undocumented."""

from __future__ import annotations

import argparse
import html
import importlib
import re

from icon_registry.docs_site.reference import API, api_reference, cli_reference, docstring_markdown


def _visible(path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


def _walk(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _walk(sub)


def test_cli_reference_has_every_command_and_option(builtin_site):
    from icon_registry.cli import build_parser

    page = builtin_site.out / "reference" / "cli.html"
    source = page.read_text(encoding="utf-8")
    text = _visible(page)
    parsers = list(_walk(build_parser()))
    assert len(parsers) > 10
    for parser in parsers:
        anchor = re.sub(r"[^a-z0-9]+", "-", parser.prog.lower()).strip("-")
        assert f'id="{anchor}"' in source, f"no section for {parser.prog}"
        section = source[source.index(f'id="{anchor}"'):]
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            for option in action.option_strings:
                assert option in section, f"{parser.prog}: {option} missing"
            if action.help:
                words = " ".join(action.help.split()[:4]).replace("`", "")
                assert words.split("%(")[0] in text, f"{parser.prog} {action.option_strings}: help text missing"


def test_cli_and_api_reference_have_no_gaps():
    """Every option has help text; every public name and method has a docstring, and every
    parameter of the package's functions is named in it."""
    assert cli_reference()[1] == []
    assert api_reference()[1] == []


def test_api_reference_has_every_public_name(builtin_site):
    page = builtin_site.out / "reference" / "api.html"
    source = page.read_text(encoding="utf-8")
    text = _visible(page)
    for section in API:
        module = importlib.import_module(section.module)
        for name in list(module.__all__) + list(section.extra):
            anchor = re.sub(r"[^a-z0-9]+", "-", f"{section.module}.{name}".lower()).strip("-")
            assert f'id="{anchor}"' in source, f"{section.module}.{name} is not on the API page"
    for parameter in ("objective", "reduction", "chunk_size", "distributed", "num_classes"):
        assert re.search(rf"compile_loss\(.*{parameter}", text, re.S), parameter
    assert "The loss of the batch" in text  # CompiledLoss.forward's docstring


def test_docstrings_become_markdown_without_markup():
    md = docstring_markdown('''A loss; ``x`` is `code`, <b>not bold</b> and *not emphasis*.

    Example::

        loss = compile_loss("simclr")

    - one item
    - another ``item``
    ''')
    assert "<code>x</code> is <code>code</code>, &lt;b&gt;not bold&lt;/b&gt; and &#42;not emphasis&#42;." in md
    assert '```python\nloss = compile_loss("simclr")\n```' in md
    assert "- one item\n- another <code>item</code>" in md

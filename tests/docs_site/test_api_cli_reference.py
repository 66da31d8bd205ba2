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


def _toy_parser() -> argparse.ArgumentParser:
    """A command shaped like `icon site` and `icon bench`: examples as the only indented lines of
    a raw description, an indented list in a raw epilog, `code` in a reflowed description."""
    parser = argparse.ArgumentParser(prog="icon", description="The toy.")
    commands = parser.add_subparsers(dest="command")
    raw = commands.add_parser("raw", help="raw text", formatter_class=argparse.RawDescriptionHelpFormatter,
                              description="`icon raw`: examples.\n\n    icon raw --x 1    # one\n    icon raw          # none\n",
                              epilog="Suites and options:\n  a: --x\n  b: none")
    raw.add_argument("--x", help="an option")
    flowed = commands.add_parser("flowed", help="flowed text", description="Then `icon raw`\nchecks it.")
    for k in range(12):
        flowed.add_argument(f"--option-number-{k}", help="an option")
    return parser


def test_raw_descriptions_and_epilogs_keep_their_lines():
    """`icon site`'s examples and `icon bench`'s list of suites were reflowed into one paragraph
    ("icon site build # -> ./public ... icon site build --strict # and ..."), and a reflowed
    description showed its backticks."""
    page = cli_reference(_toy_parser)[0]
    assert ("<code>icon raw</code>: examples.\n\n```text\nicon raw --x 1    # one\nicon raw          # none\n```\n"
            in page)
    assert "Suites and options:\n\n```text\na: --x\nb: none\n```\n" in page
    assert "Then <code>icon raw</code> checks it.\n" in page


def test_the_real_commands_examples_are_text_blocks():
    from icon_registry.cli import build_parser

    page = cli_reference()[0]
    site = next(p for p in _walk(build_parser()) if p.prog == "icon site")
    examples = [line.strip() for line in site.description.splitlines() if line.startswith("    ")]
    assert len(examples) == 4
    assert "```text\n" + "\n".join(examples) + "\n```" in page


def test_usage_lines_do_not_depend_on_the_terminal(monkeypatch):
    """The usage was wrapped at the builder's terminal width ($COLUMNS), its continuation lines
    indented for the "usage: " the page leaves out."""
    pages = []
    for columns in ("60", "250"):
        monkeypatch.setenv("COLUMNS", columns)
        pages.append(cli_reference(_toy_parser)[0])
    assert pages[0] == pages[1]
    usage = pages[0].split("## `icon flowed`", 1)[1].split("```text\n", 1)[1].split("\n```", 1)[0].split("\n")
    assert len(usage) > 2 and usage[0].startswith("icon flowed [-h] [--option-number-0 OPTION_NUMBER_0]")
    assert all(line.startswith(" " * len("icon flowed ") + "[") for line in usage[1:])
    assert max(len(line) for line in usage) <= 88


def _field_rows(markdown: str) -> dict[str, tuple[str, str]]:
    """{field: (type, description)} of the fields table in ``markdown``, as a reader sees them."""
    rows = {}
    for match in re.finditer(r"^\| `(\w+)` \| (.*?) \| .*? \| (.*?) \|$", markdown, re.M):
        rows[match.group(1)] = (html.unescape(re.sub(r"<[^>]+>", "", match.group(2))),
                                html.unescape(re.sub(r"<[^>]+>", "", match.group(3))))
    return rows


def test_field_types_say_what_a_value_may_be():
    """Entry.status, a kernel's space and sigma were typed "Literal", "Union", "Optional": nothing
    a user writing YAML could act on; backticks in a description were shown as such."""
    from icon_registry.docs_site import pages
    from icon_registry.docs_site.catalog_view import load_site_catalog
    from icon_registry.kernels import KERNELS

    api = _field_rows(api_reference()[0])
    assert api["status"] == ("'published' | 'gap' | 'new'", api["status"][1])
    assert api["paper"][0] == "Paper | None"
    assert api["aliases"] == ("list[str]", "other names icon list and icon show accept (no glob characters or path separators)")
    assert api["parameters"][0] == "dict[str, Parameter]"
    kernel = _field_rows(pages.kernel_page("gaussian", KERNELS["gaussian"], load_site_catalog()))
    assert kernel["space"][0] == "'x' | 'z'"
    assert kernel["sigma"][0] == "float | str | None"
    assert "kind" not in kernel


def test_a_kernel_without_fields_says_so():
    from icon_registry.docs_site import pages
    from icon_registry.docs_site.catalog_view import load_site_catalog
    from icon_registry.kernels import KERNELS

    page = pages.kernel_page("same_id", KERNELS["same_id"], load_site_catalog())
    assert "## Fields\n\nNone besides `kind`.\n\n## Used by" in page

"""The site's escaping helpers (icon_registry.docs_site.escape) on control and bidi characters:
none reaches a page raw, each shows as U+FFFD; line breaks and tabs keep their meaning."""

from __future__ import annotations

import pytest

from icon_registry.docs_site import escape
from icon_registry.errors import NEVER_RAW

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
NAME = "x \u202eevil 2020"  # the override would show '2020 live' and spill into what follows


def test_the_shared_definition_holds_the_bidi_and_c0_c1_controls():
    assert set(BIDI) <= NEVER_RAW
    assert {"\x00", "\x1b", "\x7f", "\x9b"} <= NEVER_RAW
    assert not {" ", "\u00a0", "\u00e9", "\u200d", "\ufffd"} & NEVER_RAW  # printable text and joiners stay


@pytest.mark.parametrize("helper, expected", [
    (escape.text, "x \ufffdevil 2020"),
    (escape.label, "x \ufffdevil 2020"),
    (escape.one_line, "x \ufffdevil 2020"),
    (escape.inline, "x \ufffdevil 2020"),
    (lambda v: escape.inline(v, math=True), "x \ufffdevil 2020"),
    (escape.code, "<code>x \ufffdevil 2020</code>"),
    (escape.prose, "<p>x \ufffdevil 2020</p>"),
    (escape.prose_inline, "x \ufffdevil 2020"),
    (escape.fence, "```text\nx \ufffdevil 2020\n```\n"),
])
def test_a_bidi_override_becomes_the_replacement_character(helper, expected):
    assert helper(NAME) == expected


def test_every_bidi_control_and_mark_is_replaced():
    assert escape.text(f"a{BIDI}b") == "a" + "\ufffd" * len(BIDI) + "b"


def test_every_never_raw_character_but_line_breaks_and_tabs_is_replaced():
    kept = "\t\n\r"
    replaced = "".join(sorted(NEVER_RAW - set(kept)))
    assert escape.text(replaced) == "\ufffd" * len(replaced)
    assert escape.text(kept) == kept


def test_bidi_inside_inline_tex_is_replaced_too():
    assert escape.inline("$x\u202e$ y", math=True) == '<span class="arithmatex">&#36;x\ufffd&#36;</span> y'


def test_a_url_with_a_bidi_control_is_not_a_link():
    url = "https://example.com/\u202egnp.exe"
    assert escape.safe_url(url) is None
    assert escape.link("paper", url) == "paper (https://example.com/\ufffdgnp.exe)"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,<script>alert(1)</script>",
                                 "vbscript:x", "//e.example/a", "https:no-host"])
def test_a_url_that_is_not_http_is_not_a_link(url):
    assert escape.safe_url(url) is None
    assert "<a" not in escape.link("paper", url)


def test_a_url_keeps_no_character_markdown_reads_as_syntax():
    url = "HTTPS://e.example/a)[x](javascript:alert(1))$m$`c`*e*_u_~s~<b>\"q\"'s'\\{a}|^"
    assert escape.safe_url(url) == ("HTTPS://e.example/a%29%5Bx%5D%28javascript:alert%281%29%29%24m%24%60c%60%2Ae%2A"
                                    "%5Fu%5F%7Es%7E%3Cb%3E%22q%22%27s%27%5C%7Ba%7D%7C%5E")


def test_a_url_keeps_its_delimiters_escapes_and_ipv6_host():
    assert escape.safe_url("https://e.example/a?b=1&c=%20#frag") == "https://e.example/a?b=1&c=%20#frag"
    assert escape.safe_url("https://[::1]:8080/x") == "https://[::1]:8080/x"
    assert escape.safe_url("doi:10.1016/S0167(98)1") == "https://doi.org/10.1016/S0167%2898%291"

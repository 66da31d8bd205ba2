"""The template `icon new` writes and the "Entry format" page (icon_registry/authoring.py): both
generated from the schema and the registries, so they list every kind and render as written."""

from __future__ import annotations

import re

from icon_registry.authoring import _markdown, entry_format_markdown, template
from icon_registry.distributions import DISTRIBUTION_CLASSES
from icon_registry.kernels import KERNELS


def test_the_template_lists_every_kernel_and_distribution_kind():
    text = " ".join(line.lstrip("# ") for line in template("my_method").splitlines() if line.startswith("#"))
    listed = set(re.findall(r"[a-z_]+", text[text.index("kinds: normalize"):]))
    kinds = {*KERNELS, *(cls.model_fields["kind"].annotation.__args__[0] for cls in DISTRIBUTION_CLASSES)}
    assert kinds - listed == set()


def test_stars_in_the_entry_format_are_literal_not_emphasis():
    assert _markdown("T**2 and m*scale*log(2), `a*b` and ``c**d``") == \
        "T\\*\\*2 and m\\*scale\\*log(2), `a*b` and ``c**d``"
    page = entry_format_markdown()
    assert "parameter\\*\\*power" in page and "m\\*scale\\*log(2)" in page
    prose = re.sub(r"(`+)[^`]*?\1", "", page)  # code spans show their stars as written
    assert "*" not in prose.replace("\\*", "")

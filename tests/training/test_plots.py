"""Figures are written like every other file: a temporary file renamed into place, so a symlink
at the figure's name is replaced, its target never written, and the file gets ordinary permissions."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from icon_registry.training import plots

pytest.importorskip("matplotlib")

DRAW = {
    "scatter": lambda path: plots.scatter(np.random.default_rng(0).normal(size=(20, 2)), np.arange(20) % 3, path, "t"),
    "bars": lambda path: plots.bars(["a", "b"], [0.5, 0.7], [0.1, 0.0], path, "t", reference={"target": 0.6}),
    "loss_curve": lambda path: plots.loss_curve([3.0, 2.0, 1.5], path, "t"),
}


@pytest.mark.parametrize("kind", DRAW)
def test_a_symlink_at_the_figures_name_is_replaced_not_written_through(tmp_path, kind):
    precious = tmp_path / "precious.txt"
    precious.write_text("precious")
    path = tmp_path / "figure.png"
    path.symlink_to(precious)
    old_umask = os.umask(0o022)
    try:
        assert DRAW[kind](str(path)) == str(path)
    finally:
        os.umask(old_umask)
    assert precious.read_text() == "precious"
    assert not path.is_symlink() and path.read_bytes().startswith(b"\x89PNG")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(os.listdir(tmp_path)) == ["figure.png", "precious.txt"]  # no temporary file left


def test_an_unlabelled_map_draws_without_a_colormap_warning(tmp_path, recwarn):
    assert plots.scatter(np.zeros((4, 2)), None, str(tmp_path / "f.png"), "t") == str(tmp_path / "f.png")
    assert [str(w.message) for w in recwarn] == []
    assert plots.written_here(str(tmp_path / "f.png"))
    (tmp_path / "g.png").write_bytes((tmp_path / "f.png").read_bytes()[:8])
    assert not plots.written_here(str(tmp_path / "g.png"))


def test_control_characters_and_dollars_in_a_title_are_shown_escaped(tmp_path, recwarn):
    """A --data file named with ESC (or "$", which starts mathtext) draws without a missing-glyph or parse
    warning: the text shows the escape and the dollars as they are."""
    hostile = "icon fit pca on \x1b[31mred $x^$ \u202eevil"
    assert plots.plot_text(hostile) == "icon fit pca on \\x1b[31mred \\$x^\\$ \\u202eevil"
    for draw in (lambda path: plots.scatter(np.zeros((4, 2)), None, path, hostile),
                 lambda path: plots.bars([hostile, "b"], [0.5, 0.7], [0.1, 0.0], path, hostile, ylabel=hostile,
                                         reference={hostile: 0.6}, series=None),
                 lambda path: plots.loss_curve([3.0, 2.0], path, hostile)):
        path = str(tmp_path / "f.png")
        assert draw(path) == path
    assert [str(w.message) for w in recwarn] == []

"""`icon fit` on data it cannot embed: said before training, in one line, never a numpy warning."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("argv", [["simclr", "--mapper", "lookup"], ["tsne"]], ids=" ".join)
def test_identical_rows_are_refused_before_training(tmp_path, monkeypatch, capsys, argv):
    from icon_registry.cli import main

    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "same.npy", np.ones((30, 4)))
    code = main(["fit", *argv, "--data", "same.npy", "--epochs", "2", "--out", "out"])
    captured = capsys.readouterr()
    assert (code, captured.out) == (2, "")
    assert captured.err == ("icon fit: error: argument --data: same.npy: every row holds the same values (the features do "
                            "not vary), so there is nothing to embed: the lookup mapper starts from the data's PCA (see "
                            "'icon fit --help')\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.npy"]


def test_the_plot_of_a_collapsed_embedding_needs_no_pca():
    import warnings

    from icon_registry.commands.fit import _plane

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "invalid value encountered in divide" would fail here
        shown = _plane(np.full((10, 16), 0.5, dtype=np.float32))
        spread = _plane(np.random.default_rng(0).normal(size=(10, 16)).astype(np.float32))
    assert shown.shape == (10, 2) and np.isfinite(shown).all() and (shown == 0.5).all()
    assert spread.shape == (10, 2) and np.isfinite(spread).all() and spread[:, 0].std() > 0

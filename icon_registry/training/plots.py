"""PNG figures (matplotlib, Agg backend: no display needed).

matplotlib is optional (the ``repro`` and ``site`` extras install it). Without it, or when a
figure fails to draw, each function prints a one-line note and returns None instead of the
path: callers write their results BEFORE plotting, so a plot never costs a training run.
"""

from __future__ import annotations

import functools
import inspect
import io
import os
import struct

import numpy as np

from icon_registry.errors import one_line
from icon_registry.files import write_file
from icon_registry.training.progress import note


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_text(text) -> str:
    """``text`` (a file or entry name in it) for a matplotlib title or label: one line, its control
    characters escaped (``one_line``: the font has no glyph for ESC), and every "$" escaped (a pair would
    start mathtext; matplotlib shows an escaped one as "$", and a backslash outside mathtext as itself)."""
    return one_line(text).replace("$", r"\$")


#: The PNG ``Software`` text of every figure written here: how :func:`written_here` recognizes them.
SOFTWARE = "icon-registry"


def _save(plt, fig, path):
    """Render the figure in memory and write it with ``write_file``: a file or symlink at ``path``
    is replaced, never written through. The PNG says ``Software: icon-registry``."""
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=110, metadata={"Software": SOFTWARE})
    plt.close(fig)
    write_file(path, png.getvalue(), replace=True)
    return path


def written_here(path) -> bool:
    """Whether ``path`` is a regular file (not a link) holding a PNG figure of this module: one whose
    ``Software`` text chunk, before the image data, is :data:`SOFTWARE`."""
    if os.path.islink(path) or not os.path.isfile(path):
        return False
    with open(path, "rb") as stream:
        if stream.read(8) != b"\x89PNG\r\n\x1a\n":
            return False
        while True:
            head = stream.read(8)
            if len(head) < 8:
                return False
            size, kind = struct.unpack(">I4s", head)
            if kind in (b"IDAT", b"IEND") or size > 1 << 16:
                return False
            body = stream.read(size)
            stream.seek(4, os.SEEK_CUR)  # the CRC
            if kind == b"tEXt" and body == b"Software\x00" + SOFTWARE.encode():
                return True


def _optional(draw):
    """``draw(..., path, ...)`` that notes and returns None when matplotlib is missing or fails;
    ``shown_as``: the name notes give the figure (its final path, when ``path`` is a staging one)."""

    @functools.wraps(draw)
    def wrapper(*args, shown_as=None, **kwargs):
        path = shown_as or inspect.signature(draw).bind(*args, **kwargs).arguments["path"]
        try:
            return draw(*args, **kwargs)
        except ImportError as err:
            if getattr(err, "name", "") and not str(err.name).startswith("matplotlib"):
                raise
            note(f"note: matplotlib is not installed: {path} not drawn (pip install matplotlib)")
        except Exception as err:  # noqa: BLE001 - a figure is never worth the results
            note(one_line(f"note: {path} could not be drawn ({type(err).__name__}: {err}); the results are written"))
        return None

    return wrapper


@_optional
def scatter(embedding, labels, path, title: str = "", pair=None):
    """A 2-D map coloured by label; ``pair``: (embedding2, title2) drawn side by side."""
    plt = _plt()
    panels = [(np.asarray(embedding), title)] + ([(np.asarray(pair[0]), pair[1])] if pair else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 5), squeeze=False)
    for ax, (emb, ttl) in zip(axes[0], panels):
        if emb.shape[1] < 2:
            emb = np.concatenate([emb, np.zeros((emb.shape[0], 1))], 1)
        c = None if labels is None else np.asarray(labels)
        colours = {} if c is None else {"c": c, "cmap": "tab10"}  # a cmap without c: matplotlib warns
        sc = ax.scatter(emb[:, 0], emb[:, 1], s=4, linewidths=0, **colours)
        ax.set_title(plot_text(ttl), fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        if c is not None and np.unique(c).size <= 20:
            handles, names = sc.legend_elements(num=None)
            ax.legend(handles, names, fontsize=6, markerscale=0.7, loc="best", frameon=False)
    return _save(plt, fig, path)


BAR_COLORS = ("#4C72B0", "#8172B3", "#55A868", "#937860")  # none of them a reference line's C1.. colour


@_optional
def bars(names, means, stds, path, title: str = "", ylabel: str = "", reference: dict | None = None, ylim=None,
         series=None):
    """Bar chart with error bars; ``reference``: {label: value} drawn as dashed lines.

    ``series``: labels of several sets of bars drawn side by side at each name (grouped bars);
    ``means`` and ``stds`` then hold one list per series."""
    plt = _plt()
    if series is None:
        means, stds = [means], [stds]
    groups = len(means)
    width = 0.8 / groups
    fig, ax = plt.subplots(figsize=(1.4 * len(names) * (1 + 0.4 * (groups - 1)) + 2.5, 4))
    pos = np.arange(len(names))
    for g, (label, ms, ss) in enumerate(zip(series or [None], means, stds)):
        at = pos + (g - (groups - 1) / 2) * width
        ax.bar(at, ms, width, yerr=ss, capsize=4, color=BAR_COLORS[g % len(BAR_COLORS)],
               label=None if label is None else plot_text(label))
        for p, m, s in zip(at, ms, ss):
            # Above the error bar, on a white box so that lines never cross the figure.
            ax.text(p, m + (s or 0.0) + 0.01, f"{m:.3f}", ha="center", va="bottom", fontsize=8 if groups == 1 else 7,
                    bbox=dict(facecolor="white", edgecolor="none", pad=1))
    for i, (label, value) in enumerate((reference or {}).items()):
        ax.axhline(value, ls="--", color=f"C{i + 1}", lw=1, label=plot_text(f"{label} ({value:.3f})"))
    if reference or series:
        ax.legend(fontsize=8, loc="lower right", framealpha=0.95)
    ax.set_xticks(pos)
    ax.set_xticklabels([plot_text(name) for name in names], fontsize=8, rotation=15)
    ax.set_ylabel(plot_text(ylabel))
    ax.set_title(plot_text(title), fontsize=10)
    if ylim:
        ax.set_ylim(*ylim)
    return _save(plt, fig, path)


@_optional
def loss_curve(history, path, title: str = ""):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(np.arange(1, len(history) + 1), history)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(plot_text(title), fontsize=10)
    return _save(plt, fig, path)

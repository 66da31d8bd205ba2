"""Which cells of the periodic table an entry's p and q can sit in.

A row of the table is a kind of learned q, a column a kind of supervisory p
(``catalog/table.yaml``). Both follow from the kernels an entry composes: q's kernel family
(Gaussian, Student-t, cluster assignments) and its limit give the row, p's kernel (positive
pairs, classes, kNN, ...) and support give the column. ``cell_problems`` compares the entry's
``cell`` with them, so that an entry cannot be drawn in a cell whose distributions it does not
have. Where a kernel fixes nothing (given triplet candidates, an indicator q), any cell passes,
and so does a row or column that a user's ``table.yaml`` adds (a kind named by its author).
"""

from __future__ import annotations

from typing import Optional

#: q kernel kind -> the rows its softmax sits in (before a limit moves a Gaussian row)
_Q_ROWS = {
    "gaussian": {"gaussian"},
    "gaussian_dot": {"gaussian"},
    "logits": {"gaussian"},  # a temperature softmax of z's outputs
    "student_t": {"student_t"},
    "distance_power": {"student_t"},  # the harmonic loss's inverse distance power
}
#: p kernel kind -> the columns it sits in (same_id and same_label: see ``_p_columns``)
_P_COLUMNS = {
    "gaussian": {"gaussian"},
    "gaussian_dot": {"gaussian"},
    "student_t": {"student_t"},
    "identity": {"identity"},
    "graph_weights": {"graph_weights"},
    "degree_softmax": {"graph_weights"},
    "knn": {"knn"},
    "own_key": {"positive_pairs"},
    "logits": {"teacher"},
    "teacher_probabilities": {"teacher"},
}
#: kernels that modify the weights of the kernels beside them in a product (no family of their own)
_MODIFIERS = {"label_margin"}
#: the row a Gaussian q moves to in each limit of its width
_LIMIT_ROWS = {"infinity": "gaussian_sigma_inf", "zero": "gaussian_sigma_zero"}
#: the rows and columns of the built-in table that kernels determine
KNOWN = {
    "row": set().union(*_Q_ROWS.values(), _LIMIT_ROWS.values(), {"uniform_clusters"}),
    "column": set().union(*_P_COLUMNS.values(), {"positive_pairs", "cross_modal", "classes", "data_label"}),
}


def _kernel_families(kernel, leaf) -> Optional[set]:
    """The families ``leaf`` gives the kernels of ``kernel``, through products, unions and class
    pools; None where one of them fixes none."""
    if kernel.kind in ("product", "any_of"):
        parts = [_kernel_families(child, leaf) for child in kernel.kernels if child.kind not in _MODIFIERS]
        if not parts or any(part is None for part in parts):
            return None
        return set().union(*parts)
    if kernel.kind == "class_pool":
        return _kernel_families(kernel.of, leaf)
    return leaf(kernel)


def _p_columns(dist) -> Optional[set]:
    if dist.kind in ("symmetrize", "mix_uniform", "propagate"):
        return _p_columns(dist.of)
    if dist.kind != "normalize":
        return None
    support = dist.support

    def columns(kernel):
        if kernel.kind == "same_id":
            # views of one instance; across modalities CLIP's image-text pairs, or MoCo v3's two
            # views taken as the query and key modalities
            return {"positive_pairs", "cross_modal"} if support == "other_modality" else {"positive_pairs"}
        if kernel.kind == "same_label":
            return {"data_label"} if support in ("prototypes", "outputs") else {"classes"}
        return _P_COLUMNS.get(kernel.kind)

    return _kernel_families(dist.kernel, columns)


def _q_rows(dist, limit) -> Optional[set]:
    if dist.kind == "cluster":
        return {"uniform_clusters"}
    if dist.kind in ("symmetrize", "mix_uniform", "propagate"):
        return _q_rows(dist.of, limit)
    if dist.kind != "normalize":
        return None
    rows = _kernel_families(dist.kernel, lambda kernel: _Q_ROWS.get(kernel.kind))
    if rows is not None and limit is not None and "gaussian" in rows:
        rows = (rows - {"gaussian"}) | {_LIMIT_ROWS[limit.to]}
    return rows


def cell_problems(entry) -> list[tuple[tuple, str]]:
    """(loc, message) where the entry's cell is not one its q (row) or p (column) sits in."""
    problems = []
    for field, allowed, side in (("row", _q_rows(entry.q, entry.limit), "q"),
                                 ("column", _p_columns(entry.p), "p")):
        declared = getattr(entry.cell, field)
        # a row or column that a table.yaml beside the entries adds is a kind this module does not know
        if allowed is not None and declared in KNOWN[field] and declared not in allowed:
            reason = ("kernel and support put" if field == "column" else
                      "kernel and limit put" if entry.limit is not None else "kernel puts")
            problems.append((("cell", field), f"'{declared}' is not the {field} of this entry's {side}: its {reason} "
                             f"it in {_listed(allowed)}"))
    return problems


def _listed(names: set) -> str:
    quoted = [f"'{name}'" for name in sorted(names)]
    return quoted[0] if len(quoted) == 1 else "one of " + ", ".join(quoted)

"""An entry's cell of the periodic table follows from its p and q (``icon_registry.table_cell``)."""

from __future__ import annotations

import pytest

from icon_registry.catalog import load_catalog
from icon_registry.errors import IconError
from icon_registry.schema import Entry
from icon_registry.table_cell import cell_problems
from icon_registry.yaml_io import dump_yaml

CATALOG = load_catalog()


def _moved(entry, **cell) -> Entry:
    """The entry with its cell moved (a copy is not validated again: the check is what is tested)."""
    return entry.model_copy(update={"cell": entry.cell.model_copy(update=cell)})


@pytest.mark.parametrize("entry_id", [entry.id for entry in CATALOG])
def test_every_entry_sits_in_its_own_cell_and_in_no_other_the_kernels_rule_out(entry_id):
    entry = CATALOG.get(entry_id)
    assert cell_problems(entry) == []
    refused_rows = [row.id for row in CATALOG.table.rows if cell_problems(_moved(entry, row=row.id))]
    refused_columns = [column.id for column in CATALOG.table.columns
                       if cell_problems(_moved(entry, column=column.id))]
    assert entry.cell.row not in refused_rows and entry.cell.column not in refused_columns
    # every q kernel of the catalog fixes its row (an indicator q would not)
    assert len(refused_rows) == len(CATALOG.table.rows) - 1
    # every p fixes its column but given triplet candidates; same_id across modalities is either
    # cross_modal (CLIP) or positive_pairs (MoCo v3's views as query and key); a union of kernels
    # sits in the columns of its parts
    allowed_columns = {column.id for column in CATALOG.table.columns} - set(refused_columns)
    if entry.id == "triplet":
        assert refused_columns == []
    elif entry.id == "debiased_infonce_clustering":  # any_of: same ids or given neighbours
        assert allowed_columns == {"positive_pairs", "knn"}
    elif entry.p.kind == "normalize" and entry.p.support == "other_modality":
        assert allowed_columns == {"cross_modal", "positive_pairs"}
    else:
        assert allowed_columns == {entry.cell.column}


@pytest.mark.parametrize("entry_id, cell, problem", [
    ("simclr", {"row": "student_t"},
     "cell.row: 'student_t' is not the row of this entry's q: its kernel puts it in 'gaussian'"),
    ("tsne", {"column": "classes"},
     "cell.column: 'classes' is not the column of this entry's p: its kernel and support put it in 'gaussian'"),
    ("pca", {"row": "gaussian"},
     "cell.row: 'gaussian' is not the row of this entry's q: its kernel and limit put it in 'gaussian_sigma_inf'"),
    ("clip", {"column": "classes"}, "cell.column: 'classes' is not the column of this entry's p: its kernel and support "
     "put it in one of 'cross_modal', 'positive_pairs'"),
    ("kmeans", {"row": "gaussian"},
     "cell.row: 'gaussian' is not the row of this entry's q: its kernel puts it in 'uniform_clusters'"),
])
def test_a_cell_the_kernels_rule_out_is_a_problem_of_the_entry(entry_id, cell, problem):
    data = CATALOG.get(entry_id).model_dump()
    data["cell"].update(cell)
    with pytest.raises(IconError) as info:
        Entry.from_yaml(dump_yaml(data), file="entry.yaml")
    assert [text.split(": ", 1)[1] for text in info.value.problems] == [problem]


def test_a_row_or_column_a_users_table_adds_is_the_authors_to_name():
    entry = CATALOG.get("simclr")
    assert cell_problems(_moved(entry, row="laplace", column="augmentation_graph")) == []
    assert [loc for loc, _ in cell_problems(_moved(entry, row="student_t", column="augmentation_graph"))] == [
        ("cell", "row")]

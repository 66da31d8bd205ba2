import pytest
import torch

from icon_registry.errors import IconError
from icon_registry.kernels import SameLabel

from .helpers import torch_inputs, weights


def test_same_class_others():
    w = weights(SameLabel(kind="same_label"), torch_inputs(n=4, labels=torch.tensor([2, 2, 2, 5])))
    assert w.mask.sum(1).tolist() == [2, 2, 2, 0]


def test_data_label_pairs_on_prototypes():
    inputs = torch_inputs(n=3, labels=torch.tensor([1, 0, 1]), prototypes=torch.zeros(2, 3, dtype=torch.float64))
    w = weights(SameLabel(kind="same_label"), inputs, "prototypes")
    assert w.mask.tolist() == [[False, True], [True, False], [False, True]]


def test_on_prototypes_the_column_is_the_label_and_the_mask_is_deferred():
    labels = torch.tensor([1, 0, 1])
    inputs = torch_inputs(n=3, labels=labels, prototypes=torch.zeros(2, 3, dtype=torch.float64))
    w = weights(SameLabel(kind="same_label"), inputs, "prototypes")
    assert w.column is labels
    assert callable(w.deferred_mask)  # not built until asked for
    shared = w.deferred_mask()  # a distribution's copy reads it through the weights: built once
    assert shared.tolist() == [[False, True], [True, False], [False, True]]
    assert w.mask is shared


def test_a_negative_label_gives_no_column_and_an_empty_row():
    inputs = torch_inputs(n=3, labels=torch.tensor([1, -100, -1]), prototypes=torch.zeros(2, 3, dtype=torch.float64))
    w = weights(SameLabel(kind="same_label"), inputs, "prototypes")
    assert w.column is None
    assert w.mask.tolist() == [[False, True], [False, False], [False, False]]


def test_a_label_past_the_last_class_is_an_error():
    inputs = torch_inputs(n=3, labels=torch.tensor([1, 2, 0]), prototypes=torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(IconError) as info:
        weights(SameLabel(kind="same_label"), inputs, "prototypes")
    assert info.value.argument == "labels"
    assert "argument 'labels' must name the classes 0..1 (one per prototype), found 2" in str(info.value)


def test_between_items_there_is_no_column():
    w = weights(SameLabel(kind="same_label"), torch_inputs(n=4, labels=torch.tensor([2, 2, 2, 5])))
    assert w.column is None


def test_between_items_the_pairs_are_found_without_the_mask(monkeypatch):
    from icon_registry.backends import torch_backend

    monkeypatch.setattr(torch_backend, "_SORTED_PAIRS_FROM", 0)  # sorted at this small size too
    labels = torch.tensor([2, 5, 2, 2, 5, 9])
    w = weights(SameLabel(kind="same_label"), torch_inputs(n=6, labels=labels))
    assert callable(w.deferred_mask)  # made only if asked for
    rows, cols = w.pairs_index
    assert list(zip(rows.tolist(), cols.tolist())) == [(0, 2), (0, 3), (1, 4), (2, 0), (2, 3), (3, 0), (3, 2), (4, 1)]
    assert w.mask.nonzero().tolist() == [list(pair) for pair in zip(rows.tolist(), cols.tolist())]

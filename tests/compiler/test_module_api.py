"""compile_loss's module as a user holds it: prototypes in any dtype, pickling and saving, the
compile_loss options and call arguments checked with exact messages."""

from __future__ import annotations

import copy
import io
import pickle

import networkx as nx
import numpy as np
import pytest
import torch

from icon_registry import IconError, compile_loss

from . import conformance as C
from .test_stress import _batch as stress_batch


def _message(fn):
    with pytest.raises(IconError) as info:
        fn()
    return info.value, str(info.value)


# --- class prototypes take the call's dtype --------------------------------------------------

def _prototype_loss_and_gradient(loss, z, labels):
    loss.zero_grad()
    value = loss(z, labels=labels)
    value.backward()
    return value.detach(), loss.prototypes.grad


@pytest.mark.parametrize(("module_dtype", "z_dtype", "tolerance"), [
    (torch.float32, torch.float64, 1e-6),  # a default module called with float64 z
    (torch.float64, torch.float32, 1e-5),  # a .double() module called with float32 z
    (torch.float16, torch.float16, 3e-2),  # a .half() module: the math runs in float32
])
def test_prototypes_take_the_calls_dtype(module_dtype, z_dtype, tolerance):
    torch.manual_seed(0)
    loss = compile_loss("cross_entropy", num_classes=3, dim=4).to(module_dtype)
    z, labels = torch.randn(8, 4).to(z_dtype), torch.arange(8) % 3
    value, grad = _prototype_loss_and_gradient(loss, z, labels)
    assert value.dtype == z_dtype and grad.dtype == module_dtype
    reference = copy.deepcopy(loss).double()
    expected, expected_grad = _prototype_loss_and_gradient(reference, z.double(), labels)
    assert abs(float(value) - float(expected)) <= tolerance * max(1.0, abs(float(expected)))
    torch.testing.assert_close(grad.double(), expected_grad, rtol=tolerance, atol=tolerance)


# --- pickling and torch.save after a call ----------------------------------------------------

def _called(entry_id):
    """A module called once (its caches filled) and the call's arguments."""
    torch.manual_seed(0)
    if entry_id == "simclr":
        _, _, z, ids = C.two_views()
        return compile_loss("simclr", tau=0.2), (z,), {"ids": ids}
    if entry_id == "supcon":
        z, labels = C.supcon_data()
        return compile_loss("supcon", tau=0.2), (z,), {"labels": labels}
    if entry_id == "tsne":
        x, y = C.sne_data()
        return compile_loss("tsne", perplexity=4.0), (y,), {"x": x}
    return compile_loss("cross_entropy", num_classes=3, dim=4), (torch.randn(8, 4),), {"labels": torch.arange(8) % 3}


def _round_trips(loss):
    yield pickle.loads(pickle.dumps(loss))
    buffer = io.BytesIO()
    torch.save(loss, buffer)
    buffer.seek(0)
    yield torch.load(buffer, weights_only=False)


@pytest.mark.parametrize("entry_id", ["simclr", "supcon", "tsne", "cross_entropy"])
def test_pickle_and_torch_save_after_a_call(entry_id):
    loss, args, kwargs = _called(entry_id)
    value = loss(*args, **kwargs)
    for copied in _round_trips(loss):
        assert copied.state_dict().keys() == loss.state_dict().keys()
        assert all(torch.equal(copied.state_dict()[k], v) for k, v in loss.state_dict().items())
        # the copy's cache starts empty: its loss is computed afresh, and equal
        caches = [v for v in vars(copied).values() if type(v).__name__ == "SupervisoryCache"]
        assert caches and all(cache.key is None and cache.dist is None for cache in caches)
        assert torch.equal(copied(*args, **kwargs), value)


def test_a_pickled_formula_loss_drops_its_beta_cache():
    x, y = C.sne_data()
    loss = compile_loss("tsne", source="formula", perplexity=4.0)
    loss(y, x=x)
    assert loss._beta_cache.key is not None
    copied = pickle.loads(pickle.dumps(loss))
    assert copied._beta_cache.key is None and copied._beta_cache.dist is None


@pytest.mark.parametrize("copy_of", [lambda loss: pickle.loads(pickle.dumps(loss)), copy.deepcopy])
def test_a_copied_formula_loss_computes_the_same_loss(copy_of):
    """The formula's plan is keyed by its nodes: a copy (pickle, deepcopy) re-keys its own tree."""
    x, y = C.sne_data()
    loss = compile_loss("tsne", source="formula", perplexity=4.0)
    value = loss(y, x=x)
    assert torch.equal(copy_of(loss)(y, x=x), value)


# --- compile_loss's options ------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "text", "argument"), [
    ({"num_classes": -1, "dim": 4}, "cross_entropy: num_classes must be a positive integer, got -1", "num_classes"),
    ({"num_classes": 0, "dim": 4}, "cross_entropy: num_classes must be a positive integer, got 0", "num_classes"),
    ({"num_classes": 2.7, "dim": 4}, "cross_entropy: num_classes must be a positive integer, got 2.7", "num_classes"),
    ({"num_classes": "3", "dim": 4}, "cross_entropy: num_classes must be a positive integer, got '3'", "num_classes"),
    ({"num_classes": True, "dim": 4}, "cross_entropy: num_classes must be a positive integer, got True", "num_classes"),
    ({"num_classes": 3, "dim": 0}, "cross_entropy: dim must be a positive integer, got 0", "dim"),
    ({"num_classes": 3, "dim": 4.0}, "cross_entropy: dim must be a positive integer, got 4.0", "dim"),
])
def test_num_classes_and_dim_must_be_positive_integers(kwargs, text, argument):
    err, message = _message(lambda: compile_loss("cross_entropy", **kwargs))
    assert message == text and err.argument == argument


def test_numpy_integers_are_fine_for_num_classes_and_dim():
    loss = compile_loss("cross_entropy", num_classes=np.int64(3), dim=np.int32(4))
    assert loss.prototypes.shape == (3, 4)


@pytest.mark.parametrize("source", ["objective", "formula"])
@pytest.mark.parametrize(("kwargs", "argument"), [({"num_classes": 3, "dim": 4}, "num_classes"), ({"dim": 4}, "dim")])
def test_an_entry_without_prototypes_refuses_num_classes_and_dim(source, kwargs, argument):
    err, text = _message(lambda: compile_loss("simclr", source=source, **kwargs))
    assert text == ("simclr: this entry has no class prototypes: num_classes= and dim= apply only to the entries "
                    "with support 'prototypes' (cross_entropy, for one)")
    assert err.argument == argument


@pytest.mark.parametrize("value", ["no", 1, None])
def test_distributed_must_be_a_bool(value):
    err, text = _message(lambda: compile_loss("simclr", distributed=value))
    assert text == f"simclr: distributed must be True or False, got {value!r}"
    assert err.argument == "distributed"


# --- call arguments --------------------------------------------------------------------------

def _graph_call(graph):
    return lambda: compile_loss("sne_graph")(torch.randn(6, 2), graph=graph)


def _weights(value):
    graph = torch.ones(6, 6, dtype=torch.float64) - torch.eye(6, dtype=torch.float64)
    graph[0, 1] = value
    return graph


@pytest.mark.parametrize("graph", [_weights(float("nan")), _weights(float("inf")), nx.complete_graph(6)],
                         ids=["nan", "inf", "networkx_nan"])
def test_graph_weights_must_be_finite(graph):
    if isinstance(graph, nx.Graph):
        graph[0][1]["weight"] = float("nan")
    err, text = _message(_graph_call(graph))
    assert text == "sne_graph: argument 'graph' has non-finite weights (NaN or inf)"
    assert err.argument == "graph"


def test_complex_graph_is_refused():
    err, text = _message(_graph_call(torch.ones(6, 6, dtype=torch.complex64)))
    assert text == "sne_graph: argument 'graph' must hold real weights, got torch.complex64"
    assert err.argument == "graph"


def test_complex_neighbors_are_refused():
    err, text = _message(lambda: compile_loss("triplet")(torch.randn(4, 2),
                                                         neighbors=torch.ones(4, 2, dtype=torch.complex64)))
    assert text == "triplet: argument 'neighbors' must hold integer indices, got torch.complex64"
    assert err.argument == "neighbors"


def test_numpy_string_ids_are_refused():
    err, text = _message(lambda: compile_loss("simclr")(torch.randn(8, 3), ids=np.array(list("aabbccdd"))))
    assert text == "simclr: argument 'ids' must hold integers, got a numpy array of <U1"
    assert err.argument == "ids"


def test_triplet_needs_a_candidate_beside_the_positive():
    """One column: p and q are both 1 on the positive, a loss of 0 whatever z."""
    one_column = torch.tensor([[1], [0], [3], [2]])
    err, text = _message(lambda: compile_loss("triplet")(torch.randn(4, 2), neighbors=one_column))
    assert text == ("triplet: argument 'neighbors' must have shape (n, k) = (4, k) with k >= 2 (this entry weighs "
                    "neighbors[i, 0] against the other candidates), got (4, 1)")
    assert err.argument == "neighbors"


def test_candidate_columns_follow_the_entrys_kernels():
    """The column count comes from the entry's candidate_position kernels, not from its id."""
    from icon_registry.catalog import load_catalog
    from icon_registry.schema import Entry

    data = load_catalog().get("triplet").model_dump()
    data["p"]["kernel"]["position"] = 2
    moved = Entry.model_validate(data)
    neighbors = torch.tensor([[1, 2], [0, 2], [3, 0], [2, 1]])
    _, text = _message(lambda: compile_loss(moved)(torch.randn(4, 2), neighbors=neighbors))
    assert text == ("triplet: argument 'neighbors' must have shape (n, k) = (4, k) with k >= 3 (this entry weighs "
                    "neighbors[i, 2] against the other candidates), got (4, 2)")
    compile_loss(moved)(torch.randn(4, 2), neighbors=torch.cat([neighbors, neighbors[:, :1]], dim=1))


@pytest.mark.parametrize("source", ["objective", "formula"])
@pytest.mark.parametrize("entry_id", ["cross_entropy", "cosface", "harmonic", "mlm", "proxy_nca"])
def test_a_label_past_the_last_class_is_an_error_naming_the_labels(entry_id, source):
    """A label C or above (a wrong num_classes, or labels counted from 1) names no prototype: an
    error in both sources, not an anchor silently dropped or an index error deep in torch."""
    loss = compile_loss(entry_id, source=source, num_classes=3, dim=4)
    err, text = _message(lambda: loss(torch.randn(6, 4), labels=torch.tensor([0, 1, 2, 9, 2, 1])))
    assert err.argument == "labels"
    if source == "objective":
        assert text == (f"{entry_id}: argument 'labels' must name the classes 0..2 (one per prototype), found 9; a "
                        "negative value marks an anchor without a class (it adds nothing)")
    else:
        assert text == (f"{entry_id}: argument 'labels' must name the classes 0..2 (one per prototype), found 9 (the "
                        "formula indexes the prototypes by each label)")


def test_a_negative_label_marks_an_anchor_without_a_class_in_the_objective_and_is_an_error_in_the_formula():
    """The objective: its row has no mass (torch's ignore_index -100 is such a label), so the mean
    is over the other anchors. The published formula indexes w by the label: there it is an error."""
    loss = compile_loss("cross_entropy", num_classes=3, dim=4).double()
    z = torch.randn(6, 4, dtype=torch.float64)
    labels = torch.tensor([0, -100, 2, -1, 2, 1])
    kept = labels >= 0
    expected = torch.nn.functional.cross_entropy(z[kept] @ loss.prototypes.T, labels[kept])
    torch.testing.assert_close(loss(z, labels=labels), expected, rtol=1e-12, atol=0)
    formula = compile_loss("cross_entropy", source="formula", num_classes=3, dim=4)
    err, text = _message(lambda: formula(torch.randn(6, 4), labels=labels))
    assert err.argument == "labels"
    assert text == ("cross_entropy: argument 'labels' must name the classes 0..2 (one per prototype), found -100 (the "
                    "formula indexes the prototypes by each label)")


def test_a_batch_whose_every_label_is_negative_has_no_supervision_and_says_which_classes_exist():
    err, text = _message(lambda: compile_loss("cross_entropy", num_classes=3, dim=4)(
        torch.randn(6, 4), labels=torch.tensor([-5, -3, -9, -3, -4, -5])))
    assert text == ("cross_entropy: no anchor has any supervisory mass (p is empty for all 6 anchors of the batch); "
                    "p reads labels: 'labels' must name the classes 0..2 (one per prototype), found labels in -9..-3")
    assert err.argument == "labels"


# --- the documented relation of the two objectives -------------------------------------------

@pytest.mark.filterwarnings("ignore::icon_registry.errors.IconWarning")
def test_reverse_entries_kl_and_cross_entropy_differ_by_a_term_of_z():
    """compile_loss's docstring: for direction: reverse, H(q, p) - KL(q || p) = H(q), not a constant."""
    torch.manual_seed(0)
    x, z = torch.randn(12, 3, dtype=torch.float64), torch.randn(12, 3, dtype=torch.float64)
    differences = []
    for scale in (1.0, 3.0):
        kl = compile_loss("kmeans", reduction="sum")(z * scale, x=x)
        ce = compile_loss("kmeans", reduction="sum", objective="cross_entropy")(z * scale, x=x)
        differences.append(float(ce - kl))
    assert abs(differences[0] - differences[1]) > 1e-3
    assert "direction: reverse" in compile_loss.__doc__ and "entropy of q" in compile_loss.__doc__


# --- a batch of one item ---------------------------------------------------------------------

@pytest.mark.parametrize("source", ["objective", "formula"])
def test_a_classifier_takes_a_batch_of_one_item(source):
    """The last batch of an epoch may hold one item: a classifier's anchor needs no other item (its
    candidates are the prototypes), and torch's cross entropy takes n = 1. Was: "argument 'z' must
    have shape (n, d) with n >= 2"."""
    torch.manual_seed(0)
    loss = compile_loss("cross_entropy", source=source, num_classes=3, dim=4).double()
    z = C.randn(1, 4, seed=8).requires_grad_(True)
    labels = torch.tensor([2])
    value = loss(z, labels=labels)
    value.backward()
    w = loss.prototypes.detach().clone().requires_grad_(True)
    z_ref = z.detach().clone().requires_grad_(True)
    want = torch.nn.functional.cross_entropy(z_ref @ w.T, labels)
    want.backward()
    assert abs(value.item() - want.item()) <= 1e-12 * want.item()
    assert torch.allclose(z.grad, z_ref.grad, rtol=1e-12, atol=1e-15)
    assert torch.allclose(loss.prototypes.grad, w.grad, rtol=1e-12, atol=1e-15)
    _, text = _message(lambda: loss(z[:0], labels=labels[:0]))
    assert text == "cross_entropy: argument 'z' must have shape (n, d) with n >= 1 and d >= 1, got (0, 4)"


@pytest.mark.parametrize("entry_id", ["knowledge_distillation", "moco_v2", "instance_discrimination"])
def test_one_item_against_a_teacher_or_a_bank_is_its_row_of_a_larger_batch(entry_id):
    """Candidates outside the batch (z's outputs, a bank): an anchor's term does not depend on the
    batch's other items, so one item alone gives its row of reduction='none'."""
    batch = stress_batch(8)
    loss = compile_loss(entry_id, reduction="none")
    given = {name: batch[name] for name in loss.requires}
    rows = loss(batch["z"], **given)
    alone = {name: value[:1] if name in ("ids", "teacher", "keys") else value for name, value in given.items()}
    assert torch.allclose(loss(batch["z"][:1], **alone), rows[:1], rtol=1e-12)


@pytest.mark.parametrize("entry_id", ["supcon", "tsne", "kmeans", "triplet"])
def test_an_entry_over_the_batch_needs_two_items(entry_id):
    batch = stress_batch(2)
    loss = compile_loss(entry_id)
    one = {name: batch[name][:1] for name in loss.requires}
    err, text = _message(lambda: loss(batch["z"][:1], **one))
    assert text == f"{entry_id}: argument 'z' must have shape (n, d) with n >= 2 and d >= 1, got (1, 4)"
    assert err.argument == "z"


# --- inputs made under torch.inference_mode --------------------------------------------------

def test_labels_made_under_inference_mode_give_the_cross_entropy():
    """Labels from a loader or a frozen model run under torch.inference_mode: was torch's
    RuntimeError "Inference tensors cannot be saved for backward" (the loss gathers with them)."""
    torch.manual_seed(0)
    loss = compile_loss("cross_entropy", num_classes=3, dim=4).double()
    z = C.randn(6, 4, seed=9).requires_grad_(True)
    with torch.inference_mode():
        labels = torch.tensor([0, 1, 2, 2, 1, 0])
    value = loss(z, labels=labels)
    value.backward()
    z_ref = z.detach().clone().requires_grad_(True)
    want = torch.nn.functional.cross_entropy(z_ref @ loss.prototypes.detach().T, labels.clone())
    want.backward()
    assert abs(value.item() - want.item()) <= 1e-12 * want.item()
    assert torch.allclose(z.grad, z_ref.grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("entry_id", ["triplet", "npair", "knowledge_distillation"])
def test_inputs_made_under_inference_mode_are_as_any_others(entry_id):
    """neighbors (triplet), a bank with its ids (npair), a teacher's logits: the same value and
    gradient as the same inputs made outside inference_mode."""
    batch = stress_batch(8)
    loss = compile_loss(entry_id)
    given = {name: batch[name] for name in loss.requires}
    with torch.inference_mode():
        frozen = {name: value.clone() for name, value in given.items()}
    found, want = batch["z"].clone().requires_grad_(True), batch["z"].clone().requires_grad_(True)
    value = loss(found, **frozen)
    value.backward()
    expected = loss(want, **given)
    expected.backward()
    assert value.item() == expected.item() and torch.equal(found.grad, want.grad)

"""What a user sees for wrong calls: exact messages naming the argument and the entry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from icon_registry import IconError, compile_loss

from .entries import entry
from .test_stress import _batch as stress_batch


def _message(fn):
    with pytest.raises(IconError) as info:
        fn()
    return info.value, str(info.value)


def test_missing_labels_names_argument_and_entry():
    err, text = _message(lambda: compile_loss(entry("supcon"))(torch.randn(8, 4)))
    assert text == "supcon: missing argument 'labels': this entry reads labels; call loss(z, labels=...)"
    assert err.argument == "labels" and err.entry == "supcon"


def test_missing_one_of_several_arguments():
    _, text = _message(lambda: compile_loss(entry("debiased_infonce_clustering"))(torch.randn(8, 3), ids=torch.arange(8)))
    assert text == (
        "debiased_infonce_clustering: missing argument 'neighbors': this entry reads ids, neighbors; "
        "call loss(z, ids=..., neighbors=...)"
    )


@pytest.mark.parametrize("shape", [(8,), (8, 0)])
def test_bad_z_shape(shape):
    _, text = _message(lambda: compile_loss(entry("supcon"))(torch.randn(shape)))
    assert text == f"supcon: argument 'z' must have shape (n, d) with n >= 2 and d >= 1, got {shape}"


def test_z_on_the_meta_device_holds_no_values():
    err, text = _message(lambda: compile_loss(entry("supcon"))(torch.randn(8, 4, device="meta"),
                                                               labels=torch.zeros(8, dtype=torch.long)))
    assert text == "supcon: argument 'z' is on the meta device, which holds no values"
    assert err.argument == "z"


@pytest.mark.parametrize("source", ["objective", "formula"])
@pytest.mark.parametrize(("entry_id", "name"), [("supcon", "labels"), ("tsne", "x"), ("triplet", "neighbors"),
                                                ("sne_graph", "graph"), ("knowledge_distillation", "teacher")])
def test_an_input_on_the_meta_device_holds_no_values(entry_id, name, source):
    """Was torch's NotImplementedError "Cannot copy out of meta tensor; no data!"."""
    batch = stress_batch(8)
    loss = compile_loss(entry_id, source=source)
    given = {key: batch[key] for key in loss.requires} | {name: batch[name].to("meta")}
    err, text = _message(lambda: loss(batch["z"], **given))
    assert text == f"{entry_id}: argument '{name}' is on the meta device, which holds no values"
    assert err.argument == name


@pytest.mark.parametrize("source", ["objective", "formula"])
def test_inputs_after_z_by_position_or_by_an_unknown_name(source):
    loss, z, ids = compile_loss(entry("simclr"), source=source), torch.randn(8, 4), torch.arange(4).repeat(2)
    err, text = _message(lambda: loss(z, ids))
    assert text == "simclr: the inputs after z are passed by name: call loss(z, ids=...) (got 1 more positional argument(s))"
    assert err.argument == "ids"
    err, text = _message(lambda: loss(z, idss=ids))
    assert text == "simclr: unknown argument 'idss'; did you mean 'ids'?; this entry reads ids: call loss(z, ids=...)"
    assert err.argument == "idss"
    _, text = _message(lambda: loss(z, ids=ids, **{"w\x1b[31m": ids}))
    assert text == "simclr: unknown argument 'w\\x1b[31m'; this entry reads ids: call loss(z, ids=...)"
    _, text = _message(lambda: loss())
    assert text == "simclr: argument 'z' must be a torch.Tensor, got NoneType"


def test_bad_labels_shape():
    _, text = _message(lambda: compile_loss(entry("supcon"))(torch.randn(8, 4), labels=torch.zeros(5, dtype=torch.long)))
    assert text == "supcon: argument 'labels' must have shape (n,) = (8,), got (5,)"


def test_float_labels():
    _, text = _message(lambda: compile_loss(entry("supcon"))(torch.randn(8, 4), labels=torch.zeros(8)))
    assert text == "supcon: argument 'labels' must hold integers, got torch.float32"


@pytest.mark.parametrize("make", [lambda: torch.randn(8, 3, dtype=torch.complex64),
                                  lambda: np.ones((8, 3), dtype=np.complex128)], ids=["torch", "numpy"])
def test_complex_x_is_refused_not_cast(make):
    """A cast to float would drop the imaginary part with only torch's warning."""
    err, text = _message(lambda: compile_loss(entry("tsne"))(torch.randn(8, 2), x=make()))
    assert text == f"tsne: argument 'x' must hold real features, got {torch.as_tensor(make()).dtype}"
    assert err.argument == "x"


def test_unknown_override_suggests_near_name():
    err, text = _message(lambda: compile_loss(entry("supcon"), tua=0.1))
    assert text == "supcon: unknown parameter 'tua'; did you mean 'tau'? (this entry's parameters: tau)"
    assert err.argument == "tua"


def test_unknown_override_without_near_name():
    _, text = _message(lambda: compile_loss(entry("supcon"), banana=1))
    assert text == "supcon: unknown parameter 'banana' (this entry's parameters: tau)"


def test_out_of_range_override():
    _, text = _message(lambda: compile_loss(entry("supcon"), tau=-1))
    assert text == "supcon: parameter 'tau' = -1 is outside its range [0.0001, 100.0]"


@pytest.mark.parametrize("bounds, shown", [({"min": 0.001}, "[0.001, inf]"), ({"max": 2.0}, "[-inf, 2.0]")])
def test_an_open_range_is_shown_with_its_infinite_end(bounds, shown):
    from icon_registry.schema import Parameter

    with pytest.raises(ValueError) as info:
        Parameter(default=1.0, description="a bandwidth", **bounds).check("sigma", 0 if "min" in bounds else 3)
    assert str(info.value) == f"parameter 'sigma' = {0 if 'min' in bounds else 3} is outside its range {shown}"


def test_non_number_override():
    _, text = _message(lambda: compile_loss(entry("supcon"), tau="0.1"))
    assert text == "supcon: parameter 'tau' must be a number, got str"


def test_non_integer_override_for_integer_parameter():
    _, text = _message(lambda: compile_loss(entry("debiased_infonce_clustering"), steps=1.5))
    assert text == "debiased_infonce_clustering: parameter 'steps' must be an integer, got 1.5"


def test_prototype_entry_needs_num_classes():
    _, text = _message(lambda: compile_loss(entry("cross_entropy")))
    assert text == "cross_entropy: this entry owns class prototypes: pass num_classes= and dim= to compile_loss"


def test_neighbors_out_of_range():
    _, text = _message(
        lambda: compile_loss(entry("triplet"))(torch.randn(4, 2), neighbors=torch.tensor([[1, 9]] * 4))
    )
    assert text == "triplet: argument 'neighbors' has indices outside [0, 4)"


def test_pca_with_support_others_is_an_infinite_kl():
    """Errata: PCA as printed (S(i) = k != i with p = identity) has KL = +inf."""
    from icon_registry.schema import Entry

    data = entry("pca").model_dump()
    data["q"]["support"] = "others"
    broken = Entry.model_validate(data)
    _, text = _message(lambda: compile_loss(broken)(torch.randn(4, 2)))
    assert text.startswith("pca: p puts mass on the pair (0, 0) but q gives it none: the KL divergence is +infinity")


# --- arguments of the entries beyond the paper: a teacher's scores, a bank, keys -----------------


def test_teacher_must_match_z_outputs():
    _, text = _message(lambda: compile_loss("knowledge_distillation")(torch.randn(6, 4), teacher=torch.randn(6, 3)))
    assert text == ("knowledge_distillation: argument 'teacher' must have shape (n, K) = (6, 4), one row per anchor "
                    "over z's 4 outputs, got (6, 3)")


def test_integer_teacher_is_refused():
    _, text = _message(lambda: compile_loss("knowledge_distillation")(torch.randn(6, 4), teacher=torch.ones(6, 4, dtype=torch.long)))
    assert text == "knowledge_distillation: argument 'teacher' must be a floating-point tensor, got torch.int64"


def test_center_shape():
    _, text = _message(lambda: compile_loss("dino")(torch.randn(6, 4), teacher=torch.randn(6, 4), center=torch.zeros(3)))
    assert text == "dino: argument 'center' must have shape (K,) = (4,), got (3,)"


def test_missing_keys_of_moco():
    err, text = _message(lambda: compile_loss("moco_v2")(torch.randn(6, 4), bank=torch.randn(9, 4)))
    assert text == "moco_v2: missing argument 'keys': this entry reads bank, keys; call loss(z, bank=..., keys=...)"
    assert err.argument == "keys"


def test_bank_width_must_match_z():
    _, text = _message(lambda: compile_loss("moco_v2")(torch.randn(6, 4), keys=torch.randn(6, 4), bank=torch.randn(9, 3)))
    assert text == "moco_v2: argument 'bank' must have shape (m, d) with m >= 1 and d = 4 (z's features), got (9, 3)"


def test_bank_ids_length_names_the_bank():
    _, text = _message(lambda: compile_loss("npair")(torch.randn(6, 4), bank=torch.randn(9, 4), ids=torch.arange(6),
                                                  bank_ids=torch.arange(6)))
    assert text == "npair: argument 'bank_ids' must have shape (m,) = (9,), m the rows of 'bank', got (6,)"


def test_bank_ids_without_bank():
    _, text = _message(lambda: compile_loss("nca")(torch.randn(6, 4), labels=torch.arange(6) % 2, bank_ids=torch.arange(6)))
    assert text == "nca: argument 'bank_ids' describes the bank's rows: pass bank= too"


def test_no_positive_in_the_bank_says_what_bank_ids_must_hold():
    _, text = _message(lambda: compile_loss("npair")(torch.randn(4, 3), bank=torch.randn(5, 3), ids=torch.arange(4),
                                                  bank_ids=torch.arange(5) + 10))
    assert text == ("npair: no anchor has any supervisory mass (p is empty for all 4 anchors of the batch); p reads "
                    "bank, bank_ids, ids: 'bank_ids' must hold the anchors' ids (a bank row with an anchor's id is its "
                    "positive)")


def test_all_zero_teacher_probabilities():
    _, text = _message(lambda: compile_loss("swav")(torch.randn(4, 3), teacher=torch.zeros(4, 3)))
    assert text == ("swav: no anchor has any supervisory mass (p is empty for all 4 anchors of the batch); p reads "
                    "teacher: 'teacher' must give each anchor some positive probability (a row of zeros is an empty p)")


@pytest.mark.parametrize("source", ["objective", "formula"])
def test_x_whose_values_make_p_nan_is_refused(source):
    """A NaN or inf in x, or values whose squared distances overflow z's dtype, would make every p
    NaN: the loss says which, instead of returning NaN."""
    g = torch.Generator().manual_seed(0)
    loss, z, x = compile_loss(entry("tsne"), source=source, perplexity=5.0), torch.randn(40, 2, generator=g), \
        torch.randn(40, 5, generator=g)
    x[3, 1] = float("nan")
    err, text = _message(lambda: loss(z, x=x))
    assert text == "tsne: argument 'x' has non-finite values (NaN or inf)" and err.argument == "x"
    big = torch.full((40, 5), 1e30).double()
    big[0] = 0
    err, text = _message(lambda: loss(z, x=big))
    assert text == ("tsne: argument 'x' is too large for torch.float32: its values reach 1e+30, whose squared "
                    "distances overflow; scale x down, or pass z in float64")
    assert torch.isfinite(loss(z.double(), x=big))


@pytest.mark.parametrize("source", ["objective", "formula"])
def test_a_graph_without_edges_carries_no_supervision(source):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = compile_loss(entry("normalized_cuts"), source=source)
    err, text = _message(lambda: loss(torch.randn(6, 3), graph=torch.zeros(6, 6)))
    assert text == "normalized_cuts: argument 'graph' has no edge (every weight is 0): it carries no supervision"
    assert err.argument == "graph"

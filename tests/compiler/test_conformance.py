"""Every compiled entry against an independent slow reference or a peer library (float64).

The table of cases lives in ``conformance.py`` (``python -m tests.compiler.conformance``
prints it with the measured differences).
"""

from __future__ import annotations

import pytest
import torch

from . import conformance as C
from .entries import entry


@pytest.mark.parametrize("case", C.all_cases(), ids=[c.name for c in C.all_cases()])
def test_matches_reference(case):
    try:
        ours, theirs = case.run()
    except C.Skip as why:
        pytest.skip(str(why))
    found = C.compare(ours, theirs)
    assert C.within(case, found), f"{case.name}: {found}"


def test_every_published_entry_beyond_the_paper_is_checked_with_gradients():
    """Each published entry beyond the paper's table has a case whose value AND gradients are
    compared (the cases themselves are asserted by test_matches_reference)."""
    from tests.catalog.test_entries import BEYOND_IDS

    from .conformance_beyond import CASES

    published = {entry_id for entry_id in BEYOND_IDS if entry(entry_id).status == "published"}
    measured = set()
    for case in CASES:
        try:
            ours, _ = case.run()
        except C.Skip:
            continue
        if isinstance(ours, C.Measured) and ours.grads:
            measured.add(case.entry)
    assert published <= measured, sorted(published - measured)


def test_lightly_hand_reference_is_lightlys_convention_without_torchvision():
    """lightly can not be imported here (its package __init__ needs torchvision, which breaks
    beside the CPU torch wheel). ``conformance.load_lightly_ntxent`` executes lightly's own
    loss/ntx_ent_loss.py from its sources with the torchvision-only module stubbed; when those
    sources are absent (set ICON_LIGHTLY_SRC to an unpacked lightly wheel) the hand-written
    restatement ``conformance.lightly_convention`` is the reference."""
    root = C.lightly_source_dir()
    if root is None:
        pytest.skip("lightly's sources are not available")
    NTXentLoss = C.load_lightly_ntxent(root)
    z0, z1, _, _ = C.two_views(n=5, d=3, seed=7)
    assert torch.allclose(NTXentLoss(temperature=0.3)(z0, z1), C.lightly_convention(z0, z1, 0.3), rtol=1e-12)


# --- gradients: the fused torch path against autograd through the generic expression ------------


def _generic(monkeypatch):
    import icon_registry.objective as objective

    monkeypatch.setattr(objective, "_fused_terms", lambda *a, **k: None)


GRAD_CASES = {
    "simclr": lambda: (C.compiled("simclr", tau=0.2), C.two_views(n=5, d=4, seed=3)[2], {"ids": torch.arange(5).repeat(2)}),
    "supcon": lambda: (C.compiled("supcon", tau=0.3), C.supcon_data()[0], {"labels": C.supcon_data()[1]}),
    "supcon_dense": lambda: (C.compiled("supcon", tau=0.3), C.randn(6, 3, seed=4), {"labels": torch.tensor([0, 0, 0, 0, 1, 1])}),
    "tsne": lambda: (C.compiled("tsne", perplexity=3.0, reduction="sum"), C.sne_data(8)[1], {"x": C.sne_data(8)[0]}),
    "simclr_three_views": lambda: (C.compiled("simclr", tau=0.2), C.randn(9, 4, seed=7), {"ids": torch.arange(3).repeat(3)}),
    "cross_entropy": lambda: (C.compiled("cross_entropy", num_classes=3, dim=4).double(), C.randn(7, 4, seed=8), {"labels": torch.tensor([0, 1, 2, 0, 1, 2, 0])}),
    "cross_entropy_unlabelled": lambda: (C.compiled("cross_entropy", num_classes=3, dim=4).double(), C.randn(5, 4, seed=9), {"labels": torch.tensor([0, -7, 2, -1, 1])}),
    "harmonic": lambda: (C.compiled("harmonic", num_classes=3, dim=4, power=2.0).double(), C.randn(7, 4, seed=5), {"labels": torch.tensor([0, 1, 2, 0, 1, 2, 0])}),
    "debiased": lambda: (
        C.compiled("debiased_infonce_clustering"),
        C.randn(8, 3, seed=6),
        {"ids": torch.arange(4).repeat(2), "neighbors": torch.stack([(torch.arange(8) + 1) % 8, (torch.arange(8) + 3) % 8], 1)},
    ),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
@pytest.mark.parametrize("objective", ["kl", "cross_entropy"])
@pytest.mark.parametrize("uniform_p", ["dense", "pairs"])
def test_fused_path_matches_generic_value_and_gradient(name, objective, uniform_p, monkeypatch):
    """``uniform_p``: a small batch's uniform p is prepared dense from its mask; "pairs" forces the
    form larger batches take (its pairs searched for, index form or dense by their share)."""
    import icon_registry.objective as objective_module

    if uniform_p == "pairs":
        monkeypatch.setattr(objective_module, "_DENSE_UNIFORM_PAIRS", 0)
    loss, z, kw = GRAD_CASES[name]()
    loss.objective = objective
    z = z.clone().requires_grad_(True)
    fused = loss(z, **kw)
    (g_fused,) = torch.autograd.grad(fused, z)
    _generic(monkeypatch)
    loss._p_cache.key = None  # evaluate p afresh on the generic path
    generic = loss(z, **kw)
    (g_generic,) = torch.autograd.grad(generic, z)
    assert torch.allclose(fused, generic, rtol=1e-12, atol=1e-14)
    assert torch.allclose(g_fused, g_generic, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", ["simclr", "supcon", "tsne"])
def test_gradcheck(name):
    loss, z, kw = GRAD_CASES[name]()
    z = z.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: loss(v, **kw), (z,), eps=1e-6, atol=1e-6, rtol=1e-5, fast_mode=True)


@pytest.mark.parametrize("uniform_p", ["dense", "pairs"])
def test_one_positive_per_row_is_prepared_as_a_target_column(uniform_p, monkeypatch):
    """SimCLR's p (the other view, one per row) becomes one column per row in either preparation, and a
    row without its positive keeps no mass (then p is not one-hot everywhere: no column)."""
    import icon_registry.objective as objective_module

    if uniform_p == "pairs":
        monkeypatch.setattr(objective_module, "_DENSE_UNIFORM_PAIRS", 0)
    z = C.randn(6, 3, seed=2)
    for ids, one_hot in ((torch.tensor([0, 1, 2, 0, 1, 2]), True), (torch.tensor([0, 1, 2, 0, 1, 5]), False)):
        loss = C.compiled("simclr", tau=0.5)
        loss(z, ids=ids)
        fixed = loss._p_cache.dist.fixed[1]
        assert (fixed.target is not None) == one_hot
        if one_hot:
            assert fixed.target.tolist() == [3, 4, 5, 0, 1, 2]
        else:
            assert fixed.has_mass.tolist() == [True, True, False, True, True, False]


def test_supervisory_cache_reused_and_invalidated():
    """p is evaluated once while the same tensors come back; an in-place edit or a new tensor
    invalidates it (the result then matches a fresh loss)."""
    x, y = C.sne_data(9)
    loss = C.compiled("tsne", perplexity=3.0, reduction="sum")
    first = loss(y, x=x)
    cached = loss._p_cache.dist
    assert cached is not None and loss(y, x=x) == first and loss._p_cache.dist is cached
    x.mul_(2.0)  # in place: version counter changes
    fresh = C.compiled("tsne", perplexity=3.0, reduction="sum")(y, x=x)
    assert loss(y, x=x) == fresh and loss._p_cache.dist is not cached
    other = x.clone() + 1.0
    assert loss(y, x=other) == C.compiled("tsne", perplexity=3.0, reduction="sum")(y, x=other)


def test_an_equal_new_tensor_reuses_p_and_a_stored_one_edited_in_place_does_not():
    """ids built anew every step (as in a training loop) hold the same values: p is reused; the
    tensor p was computed from, edited in place, no longer does; p is kept with a copy of the
    values it was computed from, so those values passed again reuse it."""
    z, labels = C.supcon_data()
    loss = C.compiled("supcon", tau=0.2)
    first = loss(z, labels=labels)
    cached = loss._p_cache.dist
    assert loss(z, labels=labels.clone()) == first and loss._p_cache.dist is cached
    old_values = labels.clone()
    labels.fill_(0)
    assert loss(z, labels=old_values.clone()) == first and loss._p_cache.dist is cached
    shuffled = old_values.flip(0)
    labels.copy_(shuffled)
    assert torch.allclose(loss(z, labels=labels), C.compiled("supcon", tau=0.2)(z, labels=shuffled), rtol=1e-14)
    assert loss._p_cache.dist is not cached
    converted = old_values.to(torch.int32)  # equal values, another dtype: evaluated afresh, same loss
    assert torch.allclose(loss(z, labels=converted), first, rtol=1e-14)


def test_labels_change_between_calls():
    z, labels = C.supcon_data()
    loss = C.compiled("supcon", tau=0.2)
    loss(z, labels=labels)
    shuffled = labels.flip(0)
    assert torch.allclose(loss(z, labels=shuffled), C.compiled("supcon", tau=0.2)(z, labels=shuffled), rtol=1e-14)


def test_entries_source_is_reported():
    from .entries import source

    for entry_id in ("simclr", "tsne", "kmeans"):
        assert source(entry_id) in ("catalog", "fixture")
        assert entry(entry_id).id == entry_id


def test_support_check_is_skipped_only_for_a_structurally_identical_q(monkeypatch):
    """A cached p passes the (p covered by q) check once per q structure: the same call again
    skips it, a different batch shape checks again."""
    from icon_registry import objective

    checks = []
    real = objective.check_supports
    monkeypatch.setattr(objective, "check_supports", lambda *a: checks.append(1) or real(*a))
    x, y = C.sne_data(9)
    loss = C.compiled("tsne", perplexity=3.0, reduction="sum")
    first = loss(y, x=x)
    assert loss(y, x=x) == first and len(checks) == 1
    loss(y[:7], x=x[:7])  # new p-side tensors and a new shape: evaluated and checked afresh
    assert len(checks) == 2


def _reaches(start, kind, depth=16):
    """Whether an object of type ``kind`` is reachable from ``start`` within ``depth`` references
    (through closures, not through a function's module globals)."""
    import gc
    import types

    seen, frontier = {id(start)}, [start]
    for _ in range(depth):
        following = []
        for obj in frontier:
            refs = obj.__closure__ or () if isinstance(obj, types.FunctionType) else gc.get_referents(obj)
            for ref in refs:
                if isinstance(ref, kind):
                    return True
                if id(ref) not in seen and not isinstance(ref, (str, int, float, torch.Tensor, type, types.ModuleType)):
                    seen.add(id(ref))
                    following.append(ref)
        frontier = following
    return False


@pytest.mark.parametrize("sorted_from", [0, None])
@pytest.mark.parametrize("name, argument", [("supcon", "labels"), ("simclr", "ids")])
def test_a_cached_p_keeps_no_batch_of_the_call_that_made_it(name, argument, sorted_from, monkeypatch):
    """p is kept for the next call; the batch of the call that made it (z, its graph, the n x n
    logits it cached) must not stay reachable through it, whether its pairs were found by sorting
    the values or in the n x n mask."""
    from icon_registry.backends import torch_backend
    from icon_registry.pairs import Inputs, Pairs

    if sorted_from is not None:
        monkeypatch.setattr(torch_backend, "_SORTED_PAIRS_FROM", sorted_from)

    z, labels = C.supcon_data()
    values = labels if argument == "labels" else torch.arange(z.shape[0]) // 2
    loss = C.compiled(name, tau=0.2)
    loss(z.clone().requires_grad_(True), **{argument: values}).backward()
    cached = loss._p_cache.dist
    assert cached is not None
    assert not _reaches(cached, (Inputs, Pairs))


@pytest.mark.parametrize("name, argument, classes", [("supcon", "labels", 7), ("supcon", "labels", 40),
                                                     ("simclr", "ids", 20)])
def test_pairs_found_by_sorting_give_the_loss_of_the_mask(name, argument, classes, monkeypatch):
    """The same loss and gradient whether p's pairs come from sorting the values or from the n x n
    mask (classes of every size, singletons without positives included)."""
    from icon_registry.backends import torch_backend

    g = torch.Generator().manual_seed(classes)
    n = 60
    values = torch.randint(0, classes, (n,), generator=g) if argument == "labels" else torch.arange(n) % classes
    results = []
    for sorted_from in (0, n * n + 1):  # sorted; then the mask
        monkeypatch.setattr(torch_backend, "_SORTED_PAIRS_FROM", sorted_from)
        z = torch.randn(n, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64, requires_grad=True)
        value = C.compiled(name, tau=0.2)(z, **{argument: values})
        value.backward()
        results.append((value.detach(), z.grad))
    (a, ga), (b, gb) = results
    assert torch.allclose(a, b, rtol=1e-13, atol=0) and torch.allclose(ga, gb, rtol=1e-12, atol=1e-15)

"""torch.compile: the compiled loss traces as plain ops (no graph break, no recompile for a fixed
shape) and gives the eager loss's values and gradients."""

from __future__ import annotations

import pytest
import torch
import torch._dynamo

from icon_registry import compile_loss

N, D = 12, 5


def _case(entry_id, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(N, D, generator=g, dtype=dtype)
    if entry_id == "simclr":
        return compile_loss("simclr", tau=0.2), z, lambda: {"ids": torch.arange(N // 2).repeat(2)}
    if entry_id == "supcon":
        return compile_loss("supcon", tau=0.3), z, lambda: {"labels": torch.arange(N) % 3}
    if entry_id == "cross_entropy":
        loss = compile_loss("cross_entropy", num_classes=4, dim=D).to(dtype)
        return loss, z, lambda: {"labels": torch.arange(N) % 4}
    if entry_id == "cross_entropy_unknown_label":  # label -1 names no class: its row has no mass
        loss = compile_loss("cross_entropy", num_classes=4, dim=D).to(dtype)
        return loss, z, lambda: {"labels": torch.arange(N) % 5 - 1}
    if entry_id == "tsne":
        x = torch.randn(N, 3, generator=g, dtype=dtype)
        return compile_loss("tsne", perplexity=3.0, reduction="sum"), z[:, :2].contiguous(), lambda: {"x": x}
    if entry_id in ("tsne_far_clusters", "tsne_nearest"):
        # P in index form, prepared outside the graph: three clusters of four whose P between them
        # is 0 (a quarter of the pairs have mass), or the k = 4 nearest (P held as its pairs)
        x = torch.randn(N, 3, generator=g, dtype=dtype) + 100.0 * (torch.arange(N) % 3)[:, None].to(dtype)
        nearest = 4 if entry_id == "tsne_nearest" else 0
        loss = compile_loss("tsne", perplexity=2.0, nearest=nearest, reduction="sum")
        return loss, z[:, :2].contiguous(), lambda: {"x": x}
    raise ValueError(entry_id)


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("entry_id", ["simclr", "supcon", "cross_entropy"])
def test_traces_without_graph_breaks(entry_id):
    loss, z, inputs = _case(entry_id)
    explained = torch._dynamo.explain(loss)(z.requires_grad_(), **inputs())
    assert explained.graph_break_count == 0, [b.reason for b in explained.break_reasons]
    assert explained.graph_count == 1
    # as a user compiles it (the module, wrapped): fullgraph raises at any graph break, which explain
    # did not report for a dict method Dynamo cannot trace
    torch.compile(loss, backend="eager", fullgraph=True)(z, **inputs()).backward()


def test_one_graph_where_automatic_chunking_asks_for_the_free_memory():
    """n = 4,096 needs more than the always-dense threshold: the free memory is read once, at trace
    time (a constant of the graph), not as a graph break."""
    from icon_registry.compiler import chunked

    n = 4096
    assert n * n * 4 * chunked.DENSE_BUFFERS > chunked._NEVER_CHUNK_BYTES
    z = torch.randn(n, 4, generator=torch.Generator().manual_seed(0))
    explained = torch._dynamo.explain(compile_loss("simclr", tau=0.2))(z, ids=torch.arange(n // 2).repeat(2))
    assert explained.graph_break_count == 0, [b.reason for b in explained.break_reasons]
    assert explained.graph_count == 1


def test_a_calibrated_p_is_evaluated_outside_the_graph():
    """t-SNE's perplexity calibration is a data-dependent search: one graph break, before q."""
    loss, z, inputs = _case("tsne")
    explained = torch._dynamo.explain(loss)(z.requires_grad_(), **inputs())
    assert explained.graph_break_count == 1 and explained.graph_count == 2


@pytest.mark.parametrize("entry_id", ["simclr", "cross_entropy", "tsne"])
def test_no_recompile_for_a_fixed_shape(entry_id):
    """Fresh ids / labels tensors every call, as in a training loop: one compilation."""
    loss, z, inputs = _case(entry_id)
    compiled = torch.compile(loss, backend="aot_eager")
    with torch._dynamo.config.patch(error_on_recompile=True):
        for step in range(3):
            leaf = (z + step).requires_grad_()
            compiled(leaf, **inputs()).backward()


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-10), (torch.float32, 1e-5)], ids=["float64", "float32"])
@pytest.mark.parametrize("entry_id", ["simclr", "supcon", "cross_entropy", "cross_entropy_unknown_label", "tsne",
                                      "tsne_far_clusters", "tsne_nearest"])
def test_compiled_equals_eager(entry_id, dtype, tolerance):
    loss, z, inputs = _case(entry_id, dtype)
    compiled = torch.compile(loss)
    results = []
    for fn in (loss, compiled):
        leaf = z.clone().requires_grad_()
        value = fn(leaf, **inputs())
        value.backward()
        grads = [leaf.grad] + ([loss.prototypes.grad.clone()] if loss.prototypes is not None else [])
        if loss.prototypes is not None:
            loss.prototypes.grad = None
        results.append((value.detach(), grads))
    (eager, eager_grads), (traced, traced_grads) = results
    torch.testing.assert_close(traced, eager, rtol=tolerance, atol=tolerance)
    for got, want in zip(traced_grads, eager_grads):
        torch.testing.assert_close(got, want, rtol=tolerance, atol=tolerance * float(want.abs().max()))


def _classifiers():
    from icon_registry.catalog import load_catalog
    from icon_registry.objective import labelled_classes

    return sorted(entry.id for entry in load_catalog() if labelled_classes(entry))


@pytest.mark.filterwarnings("ignore::icon_registry.errors.IconWarning")
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("entry_id", _classifiers())
def test_a_compiled_classifier_equals_eager_with_labels_outside_the_classes(entry_id, reduction):
    """Traced, a classifier reads its target off the labels without the eager range check: the
    anchors whose label (-1, -7, -100: torch's own ignore_index) names no class have no mass there
    too, and every value and gradient is the eager loss's."""
    loss = compile_loss(entry_id, num_classes=4, dim=D, reduction=reduction).double()
    z = torch.randn(N, D, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 3, -1, -7, 2, 1, -100, 0, 3, 3])
    results = []
    for fn in (loss, torch.compile(loss, backend="aot_eager", fullgraph=True)):
        leaf = z.clone().requires_grad_()
        value = fn(leaf, labels=labels)
        value.sum().backward()
        results.append((value.detach(), leaf.grad, loss.prototypes.grad.clone()))
        loss.prototypes.grad = None
    for traced, eager in zip(*results):
        torch.testing.assert_close(traced, eager, rtol=1e-10, atol=1e-12)


def test_a_compiled_classifier_builds_no_mask_of_its_pairs():
    """The traced cross entropy is the logits and torch's cross entropy on the labels: no n x C
    tensor that anything reads besides the logits (the generic path's one-hot mask of p is not
    built; the kernel's full support is traced but dead, which the compiler drops)."""
    graphs = []

    def capture(gm, example_inputs):
        graphs.append(gm)
        return gm

    loss = compile_loss("cross_entropy", num_classes=4, dim=D)
    torch.compile(loss, backend=capture, fullgraph=True)(torch.randn(N, D), labels=torch.arange(N) % 4)
    shapes = [tuple(node.meta["example_value"].shape) for node in graphs[0].graph.nodes
              if isinstance(node.meta.get("example_value"), torch.Tensor) and node.users]
    assert shapes.count((N, 4)) == 1, shapes


def _eager_and_compiled(losses, calls):
    """For each call (loss index, n): the compiled loss's value and z gradient, and the eager ones."""
    compiled = [torch.compile(loss, backend="aot_eager") for loss in losses]
    for which, n in calls:
        g = torch.Generator().manual_seed(n)
        z = torch.randn(n, 4, generator=g, dtype=torch.float64)
        ids = torch.arange(n) // 2
        results = []
        for loss in (compiled[which], losses[which]):
            leaf = z.clone().requires_grad_()
            value = loss(leaf, ids=ids)
            value.backward()
            results.append((value.detach(), leaf.grad))
        yield (which, n), results


@pytest.mark.parametrize("options, calls", [
    ([{"chunk_size": 16}], [(0, 40), (0, 11), (0, 11), (0, 17), (0, 11)]),
    ([{"chunk_memory": 10_000}], [(0, 40), (0, 11), (0, 11), (0, 40), (0, 11)]),  # blocks at 40 rows only
    ([{"chunk_size": 16}, {"chunk_size": 16}], [(0, 40), (1, 11), (0, 11), (1, 11), (1, 40), (0, 11)]),
], ids=["chunk_size", "chunk_memory", "two_losses"])
def test_the_p_cache_survives_a_forward_that_falls_back_to_eager(options, calls):
    """A chunked call breaks the graph inside forward's try block, so Dynamo runs that forward
    eagerly from then on while still tracing the frames it calls: the p cache must never be read
    or stored in such a traced frame (a weak reference replayed by Dynamo is the tensor itself).
    Varying n, chunked and dense calls, two losses of one entry: the eager values and gradients."""
    losses = [compile_loss("simclr", **option).double() for option in options]
    for call, ((value, grad), (want, want_grad)) in _eager_and_compiled(losses, calls):
        torch.testing.assert_close(value, want, rtol=1e-12, atol=0, msg=lambda m, call=call: f"{call}: {m}")
        torch.testing.assert_close(grad, want_grad, rtol=1e-10, atol=1e-14, msg=lambda m, call=call: f"{call}: {m}")

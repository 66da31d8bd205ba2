"""The runnable "use it" snippet on every method page: compile_loss on random tensors."""

from __future__ import annotations

import math

from icon_registry.schema import Entry

_INPUT_LINES = {
    "x": "x = torch.randn(n, 5)                       # input features (data-space kernels)",
    "labels": "labels = torch.arange(n) % 3                 # class labels",
    "ids": "ids = torch.arange(n) % (n // 2)            # two views per source instance",
    "modality": "modality = torch.arange(n) // (n // 2)      # two modalities (e.g. image, text)",
    "neighbors": "neighbors = torch.stack([(torch.arange(n) + s) % n for s in (1, 2)], 1)  # (n, 2) indices",
    "graph": "graph = torch.rand(n, n); graph = (graph + graph.T) / 2; graph.fill_diagonal_(0)",
    "teacher": "teacher = torch.rand(n, d)                   # a teacher's scores over z's d outputs (logits or probabilities)",
    "center": "center = torch.zeros(d)                     # the teacher's centre (DINO)",
    "bank": "bank = torch.randn(16, d)                   # a memory bank / queue / support set passed in the call",
    "bank_ids": "bank_ids = torch.arange(16) % (n // 2)       # the source id of each bank row",
    "bank_labels": "bank_labels = torch.arange(16) % 3            # the label of each bank row",
    "keys": "keys = torch.randn(n, d)                     # each anchor's own key (momentum encoder)",
}


def _uses_support(node, support: str) -> bool:
    if getattr(node, "support", None) == support:
        return True
    inner = getattr(node, "of", None)
    return inner is not None and _uses_support(inner, support)


#: the largest batch a snippet builds: an example, not a benchmark (a perplexity beyond it keeps its warning)
MAX_BATCH = 256


def batch_size(entry: Entry) -> int:
    """8 items, or the smallest even batch in which every row has more candidates than the
    entry's perplexity at its default (at most MAX_BATCH): with fewer, p cannot reach it (the
    loss warns and p is uniform whatever x), so a copied snippet would start with a warning."""
    given = [node.perplexity for side in (entry.p, entry.q) for node in side.nodes()
             if getattr(node, "perplexity", None) is not None]
    perplexities = [entry.parameters[value].default if isinstance(value, str) else value
                    for value in given if not isinstance(value, str) or value in entry.parameters]
    reachable = min(math.floor(max(perplexities, default=0)) + 2, MAX_BATCH)
    return max(8, reachable + reachable % 2)


def snippet(entry: Entry, requires: frozenset | set | None = None, catalog_dir: str | None = None) -> str:
    """Python source that compiles ``entry`` and evaluates it once, with gradients.

    ``requires`` is ``compile_loss(entry).requires`` (the keyword inputs the loss reads);
    ``catalog_dir`` is set for entries from a user's folder (they are loaded from it).
    """
    if requires is None:
        requires = entry.p.inputs_used() | entry.q.inputs_used()
    requires = sorted(requires)
    prototypes = _uses_support(entry.p, "prototypes") or _uses_support(entry.q, "prototypes")
    cluster = entry.mapper == "cluster_head"
    lines = ["import torch", ""]
    if catalog_dir:
        lines += ["from icon_registry import compile_loss, load_catalog", ""]
        target = f"load_catalog({catalog_dir!r}).get({entry.id!r})"
    else:
        lines += ["from icon_registry import compile_loss", ""]
        target = repr(entry.id)
    extra = ", num_classes=3, dim=d" if prototypes else ""
    lines += ["torch.manual_seed(0)", f"n, d = {batch_size(entry)}, 4" + ("                                 # d = number of clusters" if cluster else "")]
    lines.append(f"loss = compile_loss({target}{extra})")
    lines.append("z = torch.randn(n, d, requires_grad=True)" + ("   # cluster-head logits" if cluster else "      # learned representations"))
    for name in requires:
        lines.append(_INPUT_LINES.get(name, f"{name} = None  # see loss.requires"))
    kwargs = "".join(f", {name}={name}" for name in requires)
    lines += [f"value = loss(z{kwargs})", "value.backward()", 'print(f"{value.item():.4f}", loss.requires)']
    return "\n".join(lines) + "\n"

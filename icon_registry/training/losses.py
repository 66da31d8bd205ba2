"""THE SEAM between training and the catalog: entry id -> ``loss_fn(z, **inputs)``.

Every production loss is the compiled catalog entry (``icon_registry.compile_loss``); there is no
second, hand-written path. The returned module carries ``requires`` (the per-batch argument names
it reads), ``source`` ('catalog', recorded in metrics.json and the results file) and, for
prototype entries, ``prototypes`` (trained with the mapper).
"""

from __future__ import annotations

from icon_registry.training._errors import IconError


def compiled_loss(entry_id: str, **overrides):
    from icon_registry import compile_loss

    try:
        loss = compile_loss(entry_id, **overrides)
    except IconError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise IconError(f"cannot compile '{entry_id}': {exc}", entry=entry_id) from None
    loss.source = "catalog"
    return loss


resolve_loss = compiled_loss

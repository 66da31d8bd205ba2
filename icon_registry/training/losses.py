"""THE SEAM between training and the catalog: a resolved entry -> ``loss_fn(z, **inputs)``.

Every production loss is a compiled catalog entry (``icon_registry.compile_loss``); there is no
second, hand-written path. ``compiled_loss`` takes the ``Entry`` itself, loaded by the caller
from the catalog it was given (``--catalog``, ``$ICON_CATALOG``), so a user's entry is never
looked up again in the default catalog. The returned module carries ``requires`` (the per-batch
argument names it reads), ``source`` ('catalog' for the I-Con objective, 'formula' for the
published loss.formula; recorded in metrics.json and the results file) and, for prototype
entries, ``prototypes`` (trained with the mapper).
"""

from __future__ import annotations

from icon_registry.training._errors import IconError


def compiled_loss(entry, *, source: str = "objective", **overrides):
    """The compiled loss of ``entry`` (an ``icon_registry.schema.Entry``)."""
    from icon_registry import compile_loss

    try:
        loss = compile_loss(entry, source=source, **overrides)
    except IconError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise IconError(f"cannot compile '{entry.id}': {exc}", entry=entry.id) from None
    loss.source = source  # "objective" or "formula", as --source names them (reported as loss_source)
    return loss


def builtin_entry(entry_id: str):
    """An entry of the built-in catalog, for the recipes that reproduce the paper's experiments."""
    from icon_registry.catalog import load_catalog

    return load_catalog(use_env=False).get(entry_id)

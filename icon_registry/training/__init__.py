"""Training, evaluation and reproduction of catalog entries (``icon fit``, ``icon cluster``,
``icon reproduce``).

The trainer never depends on how a loss is built: it takes any ``loss_fn(z, **inputs)`` callable
with an optional ``requires`` attribute (the set of per-batch argument names it reads). The one
place that turns an entry into such a callable is :func:`icon_registry.training.losses.compiled_loss`.
"""

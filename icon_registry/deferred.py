"""``Deferred``: an attribute that may be set to a zero-argument callable, computed on first read.

Masks, logits, normalizers and per-anchor values are often never needed on a fused path; holding
the callable instead of the array skips their work. One descriptor serves every such attribute
(the value lives in ``_<name>``, where the owner may also read the callable itself). ``once`` shares
one deferred value between two such attributes without either holding its owner.
"""

from __future__ import annotations


class Deferred:
    def __set_name__(self, owner, name):
        self.slot = f"_{name}"

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        held = obj.__dict__
        try:
            value = held[self.slot]
        except KeyError:  # never set: what getattr would say
            raise AttributeError(f"{type(obj).__name__!r} object has no attribute {self.slot!r}") from None
        if callable(value):
            value = held[self.slot] = value()
        return value

    def __set__(self, obj, value):
        obj.__dict__[self.slot] = value


def once(compute):
    """``compute`` as a zero-argument callable that runs it on the first call and returns that
    value on every call after (a deferred quantity two deferred attributes both read: a closure
    over the owner instead would be a reference cycle, freed only by the garbage collector)."""
    value = []

    def read():
        if not value:
            value.append(compute())
        return value[0]

    return read

"""``Deferred``: an attribute that may be set to a zero-argument callable, computed on first read.

Masks, logits, normalizers and per-anchor values are often never needed on a fused path; holding
the callable instead of the array skips their work. One descriptor serves every such attribute
(the value lives in ``_<name>``, where the owner may also read the callable itself).
"""

from __future__ import annotations


class Deferred:
    def __set_name__(self, owner, name):
        self.slot = f"_{name}"

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        value = getattr(obj, self.slot)
        if callable(value):
            value = value()
            setattr(obj, self.slot, value)
        return value

    def __set__(self, obj, value):
        setattr(obj, self.slot, value)

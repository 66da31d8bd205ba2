"""icon_registry.deferred: a callable is computed once, on first read; ``once`` shares that value."""

from icon_registry.deferred import Deferred, once


class _Holder:
    value = Deferred()


def test_a_callable_is_computed_once_on_first_read_and_a_plain_value_kept():
    calls = []
    holder = _Holder()
    holder.value = lambda: calls.append("computed") or 42
    assert calls == []
    assert holder.value == 42 and holder.value == 42
    assert calls == ["computed"]
    holder.value = 7
    assert holder.value == 7


def test_once_computes_on_the_first_call_and_two_attributes_share_the_value():
    calls = []
    shared = once(lambda: calls.append("computed") or [1, 2])
    holder, other = _Holder(), _Holder()
    holder.value, other.value = shared, lambda: len(shared())
    assert calls == []
    assert other.value == 2 and holder.value is shared()
    assert calls == ["computed"]

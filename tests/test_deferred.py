"""icon_registry.deferred.Deferred: a callable is computed once, on first read."""

from icon_registry.deferred import Deferred


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

"""Claims checking: every claim an entry makes is checked symbolically and numerically.

    import icon_registry
    for result in icon_registry.verify("simclr"):     # an id, or an Entry
        print(result.claim, result.status, result.detail)
        print("\\n".join(result.steps))          # the proof sketch

``icon_registry.verify`` is this module, and calling it calls ``verify`` below (the results
``icon verify`` prints). See ``icon_registry.claims`` for what each claim kind means and
``icon verify --help``.
"""

import sys
import types
from pathlib import Path
from typing import Sequence, Union

from icon_registry.verify.cache import ResultCache, default_cache_dir
from icon_registry.verify.results import ClaimResult
from icon_registry.verify.runner import verify_entries, verify_entry

__all__ = ["ClaimResult", "ResultCache", "default_cache_dir", "verify", "verify_entries", "verify_entry"]


def verify(entry_or_id, *, catalog: Sequence[Union[str, Path]] = (), cache: Union[bool, str, Path] = True,
           ) -> list[ClaimResult]:
    """Check every claim of one entry: one ``ClaimResult`` per claim, in order, as ``icon verify``
    prints them (``result.to_json()`` is its ``--json`` row).

    ``entry_or_id``: an ``Entry`` (e.g. ``Entry.from_yaml(text)``), or an id or alias looked up in
    the built-in catalog, the ``catalog`` folders and ``$ICON_CATALOG``. ``cache``: True (the
    result cache in ``$ICON_CACHE_DIR`` or ``~/.cache/icon-registry``), False, or a folder.
    """
    from icon_registry.schema import Entry

    if not isinstance(entry_or_id, Entry):
        from icon_registry.catalog import load_catalog

        entry_or_id = load_catalog(*catalog).get(entry_or_id)
    store = None if cache is False else ResultCache(None if cache is True else cache)
    return verify_entry(entry_or_id, cache=store)


class _Callable(types.ModuleType):
    """``icon_registry.verify(...)``: the package is callable (it stays a package for its submodules)."""

    def __call__(self, *args, **kwargs):
        return verify(*args, **kwargs)


sys.modules[__name__].__class__ = _Callable

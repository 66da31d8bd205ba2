"""Claims checking: every claim an entry makes is checked symbolically and numerically.

    from icon_registry.verify import verify_entry
    for result in verify_entry(entry):
        print(result.claim, result.status, result.detail)
        print("\\n".join(result.steps))          # the proof sketch

See ``icon_registry.claims`` for what each claim kind means and ``icon verify --help``.
"""

from icon_registry.verify.cache import ResultCache, default_cache_dir
from icon_registry.verify.results import ClaimResult
from icon_registry.verify.runner import verify_entries, verify_entry

__all__ = ["ClaimResult", "ResultCache", "default_cache_dir", "verify_entries", "verify_entry"]

"""Mutation testing of ``icon verify``: wrong variants of catalog entries, neutral rewrites,
and an independent oracle that decides which variants are really wrong.

    from tests.verify.mutations import wrong_variants, neutral_rewrites, judge_group
    python -m tests.verify.mutations --report
"""

from .neutral import neutral_rewrites
from .oracle import Decision, judge_group
from .variants import Variant
from .wrong import wrong_variants

__all__ = ["Decision", "Variant", "judge_group", "neutral_rewrites", "wrong_variants"]

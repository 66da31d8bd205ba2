"""What a claim check returns: status, timing, a detail a user can act on, and a proof sketch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal, Optional

Status = Literal["pass", "fail", "unproved", "error"]


@dataclass
class ClaimResult:
    """One claim of one entry, checked.

    ``status``: pass (the claim holds), fail (it does not: ``detail`` says where and gives a
    counterexample), unproved (an ``unproved`` claim, never counted as verified), error (the
    check itself could not run, e.g. a formula that does not parse).
    ``method``: how the symbolic side was decided: "proved" (the residual simplified to 0),
    "numeric" (simplification was inconclusive; equal at several random points at 30 digits),
    "exact-points" (exact arithmetic at several rational points), or "" (no symbolic decision).
    ``steps``: the proof sketch, one human-readable sentence per step (the docs site shows it).
    """

    entry: str
    claim: str  # label: the claim kind, with "#k" when an entry has several of that kind
    kind: str
    status: Status
    seconds: float = 0.0
    detail: str = ""
    method: str = ""
    steps: list[str] = field(default_factory=list)
    residual: Optional[str] = None  # the simplified residual (symbolic), for failures
    counterexample: Optional[dict] = None  # {"point": {...}, "lhs": .., "rhs": .., "residual": ..}
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.status in ("pass", "unproved")

    def to_json(self) -> dict:
        out = asdict(self)
        out["id"] = out.pop("entry")
        return out

    @classmethod
    def from_json(cls, data: dict) -> "ClaimResult":
        data = dict(data)
        data["entry"] = data.pop("id")
        return cls(**data)

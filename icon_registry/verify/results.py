"""What a claim check returns: status, timing, a detail a user can act on, and a proof sketch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal, Optional

Status = Literal["pass", "fail", "unproved", "error"]


#: how a passing claim was shown, strongest first
PROOF_LABELS = {
    "all_n": "proved for every batch",
    "instances": "checked exactly on instances",
    "numeric": "checked numerically",
}


@dataclass
class ClaimResult:
    """One claim of one entry, checked.

    ``status``: pass (the claim holds), fail (it does not: ``detail`` says where and gives a
    counterexample), unproved (an ``unproved`` claim, never counted as verified), error (the
    check itself could not run, e.g. a formula that does not parse).
    ``proof`` (for a passing claim): "all_n" (a derivation by rewriting that holds for every
    batch, in ``derivation``; the instance checks agree), "instances" (not derived for every
    batch, but exact on the symbolic instances and numerically equal on the float64 batches),
    "numeric" (equal numerically only: e.g. a limit checked at small parameters). Empty for
    fail, error and unproved.
    ``steps``: the proof sketch, one human-readable sentence per step (the docs site shows it).
    ``derivation``: the prover's attempt (``prover.Proof.to_json``), proved or not, or None.
    """

    entry: str
    claim: str  # label: the claim kind, with "#k" when an entry has several of that kind
    kind: str
    status: Status
    seconds: float = 0.0
    detail: str = ""
    proof: str = ""
    steps: list[str] = field(default_factory=list)
    derivation: Optional[dict] = None
    residual: Optional[str] = None  # the simplified residual (symbolic), for failures
    counterexample: Optional[dict] = None  # {"point": {...}, "lhs": .., "rhs": .., "residual": ..}
    cached: bool = False
    #: ``verify.cache.entry_hash`` of the entry as checked: a results file read later (the docs site's
    #: results/verify.json) shows the verdict only for that version of the entry
    entry_digest: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("pass", "unproved")

    @property
    def label(self) -> str:
        """What was shown, in words: 'proved for every batch', 'fails', ..."""
        if self.status == "pass":
            return PROOF_LABELS.get(self.proof, self.proof)
        return {"fail": "fails", "error": "could not be checked", "unproved": "not proved (stated only)"}[self.status]

    def to_json(self) -> dict:
        out = asdict(self)
        out["id"] = out.pop("entry")
        return out

    @classmethod
    def from_json(cls, data: dict) -> "ClaimResult":
        data = dict(data)
        data["entry"] = data.pop("id")
        return cls(**data)

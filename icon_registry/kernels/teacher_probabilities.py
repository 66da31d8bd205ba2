"""A distribution given in the call: w(i, c) = teacher[i, c], the caller's probabilities over the
K outputs (SwAV's Sinkhorn codes, a teacher's softmax computed elsewhere)."""

from __future__ import annotations

from typing import ClassVar, Literal

from icon_registry.kernels.base import Kernel, Weights


class TeacherProbabilities(Kernel):
    kind: Literal["teacher_probabilities"]
    summary: ClassVar[str] = r"P^{\mathrm{teacher}}_{ic}"

    def weights(self, pairs):
        given = pairs.outputs("teacher")
        # zeros leave the support; anything else stays, so a NaN or negative code makes the loss NaN
        # (as a teacher's NaN does in every teacher entry) instead of silently dropping it
        mask = (given != 0) & pairs.support
        B = pairs.backend
        return Weights(B.log(B.where(mask, given, 1.0)), mask)

    def inputs_used(self):
        return {"teacher"}

"""The claims an entry makes about its I-Con objective, each checked by ``icon verify``.

Formulas are strings in the safe math language (``icon_registry.formula``; see
``grammar_reference()``); the verifier parses them, never evaluates them as Python. Every
formula may use the entry's parameters by name and ``n`` (the batch size).

Conventions every claim shares (catalog authors: follow these):

- "objective" means the entry's I-Con objective evaluated by the SAME code the compiled loss
  runs: per anchor, KL(p_i || q_i) (``objective: kl``) or the cross entropy H(p_i, q_i)
  (``objective: cross_entropy``); for ``direction: reverse`` entries, KL(q_i || p_i). Joint
  distributions (t-SNE, ``over: joint``) give the joint KL.
- The anchors are combined as the entry's ``loss.reduction`` says: ``sum`` = sum over anchors
  (the default), ``mean`` = divided by the number of anchors whose left distribution is
  non-empty (what ``compile_loss(reduction="mean")`` does). An anchor whose p(.|i) is empty
  (an id with a single view, a class of one item) contributes nothing: write a formula that
  averages over the anchors as ``mean(i, anchors_with(positives), ...)``. The verifier always
  checks batches with such anchors, so ``mean(i, anchors, mean(j, positives(i), ...))`` fails
  there ("mean over an empty set").
- Limit rows: the compiled loss multiplies by ``param**scale_power`` (``Entry.limit``); claims do
  NOT see that factor — they state their own ``scale``.
- ``Entry.prefactor`` (distillation's T^2): the compiled loss multiplies the objective by
  ``parameter**power`` and claims DO see that factor: it is part of the published loss.
- How a claim is checked, and the label its result carries (``ClaimResult.proof``):
  ``all_n``: the prover (``icon_registry.prover``) rewrites the objective — computed by the
  kernels' own code for a batch of any size — and the formula to one normal form with named
  rules (``icon verify --explain`` prints the derivation); ``instances``: exact (SymPy) equality
  on the symbolic instances (n = 4 where every anchor has one positive, and n = 6 with an id of
  three views, a single view, classes of sizes 1, 2 and 3, unequal modality groups);
  ``numeric``: agreement at random points at 30 digits only. Every claim is also checked on
  float64 batches (the n = 6 one and seeded random ones with 7 to 12 items) against the compiled
  torch loss; a mismatch anywhere is a failure, whatever the prover said.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal, Optional, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


#: What a claim's ``objective`` field selects.
_OBJECTIVE = ("the objective the claim is about: kl, sum_i KL(p_i || q_i), or cross_entropy, sum_i H(p_i, q_i) "
              "(KL(q_i || p_i) and H(q_i, p_i) for direction: reverse)")


@dataclass(frozen=True)
class FormulaField:
    """Marks a claim field that holds a formula: ``icon validate`` parses it against the entry
    (its parameters, its ``loss.where`` definitions and the data its p and q provide).
    ``learnables=False``: the formula may not read z, w or phi (a constant)."""

    learnables: bool = True


#: A claim field holding a formula; ``ConstantFormula`` one that may not read learned quantities.
def _number_as_formula(value):
    """``offset: 0`` or ``factor: 2`` written as a YAML number is the formula of that number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


_AsText = BeforeValidator(_number_as_formula)
Formula = Annotated[str, _AsText, FormulaField()]
OptionalFormula = Annotated[Optional[str], _AsText, FormulaField()]
ConstantFormula = Annotated[str, _AsText, FormulaField(learnables=False)]


class _Claim(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    note: str = Field("", description="free text shown next to the verdict (e.g. which theorem)")
    #: Whether a passing claim of this kind means that training the I-Con objective trains the
    #: published loss (equal, equal up to a constant, or equal in the stated limit). An entry
    #: with no such claim gets a warning from compile_loss (it computes the objective).
    ties_objective_to_loss: ClassVar[bool] = False

    def static_problems(self, entry) -> list:
        """(field, message) for what can be checked without running the verifier, beyond the
        formula fields (those are parsed by ``icon_registry.static_check``)."""
        return []


class IdentityClaim(_Claim):
    """The objective equals ``loss.formula`` exactly, on every batch.

    ``objective``: ``kl`` (default) or ``cross_entropy``. With a deterministic p (one positive
    per anchor, one-hot labels) both coincide; with uniform p over several positives they
    differ by H(p): then state an ``up_to_constant`` claim instead (or as well).
    Fails with the simplified residual objective - loss, a counterexample point, and hints:
    a parameter used by p/q but missing from the formula, a flipped sign, a constant factor
    (mean vs sum), or a learnable-free difference (i.e. an up_to_constant claim).
    """

    kind: Literal["identity"]
    objective: Literal["kl", "cross_entropy"] = Field("kl", description=_OBJECTIVE)
    ties_objective_to_loss: ClassVar[bool] = True


class UpToConstantClaim(_Claim):
    """objective - loss.formula = ``constant``, and ``constant`` contains no learnable quantity.

    ``constant``: a formula that may use data (x, g, W, labels, ids, candidates, beta) and
    parameters but never z, w or phi (checked syntactically on the symbolic instance).
    Sign convention: constant = objective - loss (e.g. SupCon with ``objective: kl``:
    ``-sum(i, anchors, log(count(same_class(i))))``; SNE with loss = KL and
    ``objective: cross_entropy``: H(p)).
    ``constant_name``: the constant in words, shown in the docs (e.g. "H(p)").
    """

    kind: Literal["up_to_constant"]
    objective: Literal["kl", "cross_entropy"] = Field("kl", description=_OBJECTIVE)
    constant: ConstantFormula = Field(description="the constant objective - loss, as a formula (no z, w or phi in it)")
    constant_name: str = Field(description="what the constant is, in words, shown in the docs (e.g. H(p))")
    ties_objective_to_loss: ClassVar[bool] = True


class LimitClaim(_Claim):
    """As ``parameter`` -> ``to``, scale * (objective - offset) tends to factor * equals.

    ``equals``: the limit as a formula; omitted, it is ``loss.formula`` (the published loss is the
    limit). When given without ``equals_name`` it must equal ``loss.formula`` on every batch (the
    verifier checks it); with ``equals_name`` it is a limit of another quantity (named in words),
    and the docs do not call the published loss a limit.
    ``to: infinity``: the parameter is replaced by t**(-1/2) (t = 1/sigma**2; or t = 1/param when
    the objective is not a function of param**2) and scale*(objective - offset) is expanded in t
    to order 0. Every divergent term (t**-1, ...) must vanish exactly: a divergent constant is
    never dropped, so choose ``offset`` to remove it (e.g. ``count(anchors_with(positives)) *
    log(n)``); the t**0 term must EQUAL factor*equals.
    ``to: zero`` (triplet-like, softplus -> max): not a power series; the limit is checked at
    exact random rational points with sigma**2 = 1e-6 and 1e-12 at 40 digits, and numerically.
    ``objective``: default ``cross_entropy`` (for p with no entropy, e.g. identity p, KL = CE);
    ``error_probability``: per anchor 1 - exp(-H(p_i, q_i)), for a one-hot p the probability q
    puts off the target (the error rate is its sigma -> 0 limit).
    ``scale``: formula in the parameter, e.g. ``sigma**2``. ``offset``: e.g. ``n * log(n)``.
    ``factor``: a formula multiplying ``equals`` (e.g. 2 when the limit is twice the published loss).
    ``sandwich``: also check loss - m*scale*log(2) <= factor*equals <= loss at finite values,
    where loss = scale*(objective - offset) and m = the number of anchors (1 for reduction mean):
    the softplus bounds max(a, 0) <= softplus(a) <= max(a, 0) + log 2, per anchor (triplet).
    """

    kind: Literal["limit"]
    parameter: str = Field(description="the entry parameter that goes to 0 or infinity")
    to: Literal["infinity", "zero"] = Field(description="where the parameter goes: infinity (a series in "
                                            "t = parameter**-2) or zero (checked at tiny values)")
    objective: Literal["kl", "cross_entropy", "error_probability"] = Field(
        "cross_entropy", description=_OBJECTIVE + "; or error_probability, per anchor 1 - exp(-H(p_i, q_i))")
    scale: ConstantFormula = Field("1", description="formula multiplying the objective, e.g. sigma**2 (no z, w or phi "
                                   "in it)")
    offset: ConstantFormula = Field("0", description="constant subtracted before scaling, e.g. n * log(n) (no z, w or "
                                    "phi in it)")
    equals: OptionalFormula = Field(
        None, description="the limit, as a formula (without the limit parameter); omitted: loss.formula (the "
        "published loss is the limit). Given without equals_name, it is checked to equal loss.formula")
    equals_name: str = Field("", description="what `equals` is when it is NOT the published loss, in words "
                             "(then the limit is of that quantity, and the docs say so)")
    factor: ConstantFormula = Field("1", description="factor between the limit and `equals` (limit = factor * equals; "
                                    "no z, w or phi in it)")
    sandwich: bool = Field(
        False, description="also check loss - m*scale*log(2) <= factor*equals <= loss at finite values (triplet)"
    )
    ties_objective_to_loss: ClassVar[bool] = True

    def static_problems(self, entry) -> list:
        from icon_registry.errors import suggest

        if self.parameter not in entry.parameters:
            names = sorted(entry.parameters)
            return [("parameter", f"unknown parameter '{self.parameter}'{suggest(self.parameter, names)} "
                                  f"(this entry's parameters: {', '.join(names) or 'none'})")]
        from icon_registry.static_check import parse_entry_formula

        if self.equals is not None and self.parameter in parse_entry_formula(entry, self.equals).free_parameters:
            return [("equals", f"the limit may not depend on the limit parameter '{self.parameter}'")]
        return []

    @model_validator(mode="after")
    def _named_only_when_given(self):
        if self.equals_name and self.equals is None:
            raise ValueError("equals_name names a limit other than the published loss: give that limit as 'equals'")
        return self


class ReverseKlEntropyClaim(_Claim):
    """K-Means form (``direction: reverse``, q = the cluster kernel on the left):
    sum_i KL(q_i || p_i) = factor * cost - sum_i H(q_i) + const, const free of the cluster logits.

    ``cost``: formula in phi (soft assignments phi[i, c] = softmax(z_i / T)), x and parameters;
    omitted, it is ``loss.formula`` (the published loss is the cost); given, it must equal
    ``loss.formula``. E.g. the soft K-Means cost
    ``sum(i, anchors, sum(c, clusters, phi[i, c] * sqdist(x[i], sum(k, all, phi[k, c] * x[k]) / sum(k, all, phi[k, c]))))``.
    ``factor``: e.g. ``1 / sigma**2`` for a Gaussian p with scale 2 (exp(-d2 / (2 sigma**2))).
    When p's kernel is Gaussian on x, the verifier also checks sum_ij d2(x_i, x_j) q(j|i) =
    2 * cost (Cor 3 prints a wrong leading minus; Thm 13 has a sign slip: both are caught).
    """

    kind: Literal["reverse_kl_entropy"]
    cost: OptionalFormula = Field(None, description="the clustering cost, as a formula in phi, x and parameters; "
                                  "omitted: loss.formula (given: checked to equal loss.formula)")
    factor: ConstantFormula = Field(description="the factor in front of the cost, e.g. 1 / sigma**2 (no z, w or phi "
                                    "in it)")


class DecompositionClaim(_Claim):
    """loss.formula = objective + ``extra`` on every batch: the published loss is the I-Con
    objective plus a named term that may depend on the learnables (e.g. Decoupled Contrastive
    Learning = SimCLR's cross entropy + sum_i log(1 - q(i+|i))).

    Checked like an ``identity`` of the objective with loss.formula - extra (proved for every
    batch where the prover can, on instances otherwise).
    """

    kind: Literal["decomposition"]
    objective: Literal["kl", "cross_entropy"] = Field("cross_entropy", description=_OBJECTIVE)
    extra: Formula = Field(description="the term loss.formula - objective, as a formula (it may read z, w, phi)")
    extra_name: str = Field(min_length=1, description="the extra term in words, shown in the docs")


class BoundClaim(_Claim):
    """loss.formula ``relation`` objective + ``offset`` on every batch (an inequality, e.g. the
    soft nearest neighbour loss <= the SupCon objective, by Jensen's inequality).

    Checked on the symbolic instances at random points (30 digits) and on float64 batches
    through the compiled loss, at several draws of the learnables: labelled ``numeric``, since no
    derivation of an inequality is attempted; ``reason`` says why it holds.
    """

    kind: Literal["bound"]
    objective: Literal["kl", "cross_entropy"] = Field("kl", description=_OBJECTIVE)
    relation: Literal["<=", ">="] = Field(description="loss.formula <= objective + offset, or >=")
    offset: Formula = Field("0", description="a formula added to the objective (0 by default)")
    reason: str = Field(min_length=3, description="why the inequality holds, e.g. Jensen's inequality")


class UnprovedClaim(_Claim):
    """A statement from the paper with no derivation: listed with its reason, never counted as verified."""

    kind: Literal["unproved"]
    statement: str = Field(min_length=3, description="what the paper states")
    reason: str = Field(min_length=3, description="why no proof is given, e.g. 'by analogy in the paper'")


CLAIM_CLASSES = (IdentityClaim, UpToConstantClaim, DecompositionClaim, BoundClaim, LimitClaim, ReverseKlEntropyClaim,
                 UnprovedClaim)
ClaimSpec = Annotated[Union[CLAIM_CLASSES], Field(discriminator="kind")]

"""Every step of every derivation is sound: evaluated on random batches (ids with 1 to 4
views, classes of 1 to 4 items, unequal modality groups, isolated graph nodes), the objective
side equals the compiled torch loss and the formula side equals the formula evaluator,
before and after each rule. And every rule of the prover is exercised by some derivation."""

from __future__ import annotations

import functools

import pytest

from icon_registry.catalog import load_catalog
from icon_registry.prover import abstract, ir, prove_claim
from icon_registry.prover.evaluate import evaluate
from icon_registry.prover.rules import RULES
from tests.prover.batches import as_batch, close, compiled, formula_value, instances

CATALOG = load_catalog(include_builtin=True, use_env=False)
CLAIMS = [(entry.id, k) for entry in CATALOG.entries() for k, claim in enumerate(entry.claims)
          if claim.kind in ("identity", "up_to_constant")]
#: what the prover cannot represent yet (these claims are checked on instances by the verifier)
KNOWN_GAPS = ("a union of masks", "cluster logits")


@functools.lru_cache(maxsize=None)
def proof_of(entry_id, index):
    entry = CATALOG.get(entry_id)
    return prove_claim(entry, entry.claims[index])


def _target_values(entry, claim, batch_instances):
    """(objective, loss [+ constant]) on each batch, by the compiled loss and the formula evaluator."""
    out = []
    for instance in batch_instances:
        loss = formula_value(entry, entry.loss.formula, instance)
        if claim.kind == "up_to_constant":
            loss += formula_value(entry, claim.constant, instance)
        out.append((compiled(entry, instance, claim.objective), loss))
    return out


@pytest.mark.parametrize("entry_id,index", CLAIMS, ids=[f"{e}-{k}" for e, k in CLAIMS])
def test_every_step_keeps_the_value(entry_id, index):
    entry = CATALOG.get(entry_id)
    claim = entry.claims[index]
    proof = proof_of(entry_id, index)
    if not proof.steps:
        assert any(gap in proof.reason for gap in KNOWN_GAPS), proof.reason
        return
    batch_instances = instances(entry)
    targets = _target_values(entry, claim, batch_instances)
    for step in proof.steps:
        which = 0 if step.side == "objective" else 1
        for instance, target in zip(batch_instances, targets):
            batch = as_batch(instance)
            before, after = evaluate(step.before, batch), evaluate(step.after, batch)
            assert close(before, target[which]), (step.rule, step.side, before, target[which])
            assert close(after, target[which]), (step.rule, step.side, after, target[which], step.expression)


@pytest.mark.parametrize("entry_id", sorted({e for e, _ in CLAIMS}))
def test_abstract_objective_is_the_compiled_loss(entry_id):
    """The abstract backend runs the kernels' code for every batch: its expression, evaluated on a
    concrete batch, is what the compiled torch loss computes on that batch."""
    entry = CATALOG.get(entry_id)
    for objective in ("kl", "cross_entropy"):
        try:
            expression = abstract.objective(entry, objective).expr
        except ir.Unsupported:
            continue
        for instance in instances(entry):
            value, reference = evaluate(expression, as_batch(instance)), compiled(entry, instance, objective)
            assert close(value, reference), (objective, value, reference)


def test_most_identity_claims_are_proved_for_every_batch():
    proved = [(e, k) for e, k in CLAIMS if proof_of(e, k).proved]
    assert len(proved) >= 0.8 * len(CLAIMS), sorted(set(CLAIMS) - set(proved))
    for must in ("simclr", "supcon", "clip", "cross_entropy", "tsne"):
        assert any(e == must for e, _ in proved), must


def test_every_rule_is_used_by_some_derivation():
    used = set()
    for entry_id, index in CLAIMS:
        used |= {step.rule for step in proof_of(entry_id, index).steps}
    unused = {rule.name for rule in RULES} - used
    # rules that the catalog's derivations do not need are exercised by test_rules.py's own examples
    assert unused <= {"one-point sets", "an indicator restricts the set", "zero weights add nothing",
                      "constants out of logsumexp", "anchors_with(S) where S is never empty",
                      "cosine from a dot product and norms", "sizes of index sets", "exponentials of sums",
                      "a logsumexp out of a logarithm"}, unused


LIMITS = [(entry.id, k) for entry in CATALOG.entries() for k, claim in enumerate(entry.claims)
          if claim.kind == "limit" and claim.objective in ("kl", "cross_entropy")]


@pytest.mark.parametrize("entry_id,index", LIMITS, ids=[f"{e}-{k}" for e, k in LIMITS])
def test_limit_steps_before_the_expansion_keep_the_value(entry_id, index):
    """Up to the logsumexp expansion, a limit derivation rewrites scale * (objective - offset) at a
    finite parameter exactly: each step equals the compiled loss there (sigma = t^(-+1/2), t = 0.37)."""
    from icon_registry.prover import prove_limit_claim
    from icon_registry.verify.instances import torch_call

    entry = CATALOG.get(entry_id)
    claim = entry.claims[index]
    proof = prove_limit_claim(entry, claim)
    if not proof.steps:
        assert "not expressible" in proof.reason, proof.reason
        return
    t = 0.37
    sigma = t ** (-0.5 if claim.to == "infinity" else 0.5)
    for instance in instances(entry)[:2]:
        params = {**instance.params, claim.parameter: sigma}
        objective = torch_call(entry, instance, claim.objective, params, reduction=entry.loss.reduction)
        objective /= sigma ** entry.limit.scale_power  # the compiled limit row's factor; claims carry their own
        sub = type(instance)(**{**instance.__dict__, "params": params})
        expected = formula_value(entry, claim.scale, sub) * (objective - formula_value(entry, claim.offset, sub))
        batch = as_batch(sub)
        batch.params["t"] = t
        for step in proof.steps:
            if step.rule.startswith("logsumexp"):
                break  # an expansion in t: from here on the value is the limit's, not the finite one
            assert close(evaluate(step.after, batch), expected, 1e-8), (step.rule, step.expression)

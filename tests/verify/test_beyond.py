"""The entries beyond the paper's table: their claims pass as shipped, and a deliberately wrong
formula or constant (the mistakes a transcription makes) fails, so a pass can be a failure."""

from __future__ import annotations

import pytest

from icon_registry.catalog import load_catalog
from icon_registry.verify import verify_entry

CATALOG = load_catalog(use_env=False)


def with_changes(entry_id: str, formula: str | None = None, claim: int = 0, **claim_fields):
    """The catalog entry with its loss formula and/or one claim's fields replaced (only that claim kept)."""
    entry = CATALOG.get(entry_id)
    loss = entry.loss.model_copy(update={"formula": formula}) if formula else entry.loss
    changed = entry.claims[claim].model_copy(update=claim_fields)
    return entry.model_copy(update={"loss": loss, "claims": [changed]})


def status_of(entry) -> tuple:
    (result,) = verify_entry(entry)
    return result.status, result.detail


KD = CATALOG.get("knowledge_distillation").loss.formula
DINO = CATALOG.get("dino").loss.formula
MOCO = CATALOG.get("moco_v2").loss.formula
NPAIR = CATALOG.get("npair").loss.formula
SMOOTH = CATALOG.get("label_smoothing").loss.formula

WRONG = {
    # the T^2 prefactor forgotten: a constant factor between the loss and the objective
    "kd without T^2": with_changes("knowledge_distillation", KD.replace("T**2*", "", 1)),
    # the teacher not centred in the formula (the kernel centres it)
    "dino without its centre": with_changes("dino", DINO.replace("(teacher[i, c] - center[c])", "teacher[i, c]")),
    # MoCo's normalizer without the positive key (the decoupled form is not MoCo's)
    "moco without its key in the normalizer": with_changes(
        "moco_v2", MOCO.replace("log(exp(cos(z[i], key[i])/tau) + sum(", "log(sum(")),
    # N-pair normalized over the anchor's own positives only
    "npair normalized over its positives": with_changes(
        "npair", NPAIR.replace("logsumexp(m, bank, ", "logsumexp(m, bank_positives(i), ")),
    # label smoothing with eps/(K - 1) on the other classes (a common variant), not torch's eps/K
    "label smoothing over the other classes": with_changes(
        "label_smoothing",
        "-mean(i, anchors, (1 - eps)*(dot(z[i], w[y[i]])/tau - logsumexp(c, classes, dot(z[i], w[c])/tau)) + "
        "eps*sum(c, classes, indicator(c != y[i])*(dot(z[i], w[c])/tau - logsumexp(e, classes, dot(z[i], w[e])/tau)))"
        "/(count(classes) - 1))"),
    # PMI with the marginal's n dropped on the wrong side
    "pmi with log(n - 1)": with_changes("pmi_clustering", constant="log(n - 1)"),
    # DCL's extra term with the wrong sign
    "dcl extra with a flipped sign": with_changes(
        "dcl", extra="-" + CATALOG.get("dcl").claims[0].extra),
    # Proxy-NCA's inequality the wrong way round
    "proxy-nca bound reversed": with_changes("proxy_nca", claim=1, relation=">="),
    # NCA written as SupCon's mean of logs (Jensen: a different, larger quantity)
    "nca as a mean of logs": with_changes(
        "nca", "-mean(i, anchors_with(same_class), mean(j, same_class(i), -sqdist(z[i], z[j]) - "
               "logsumexp(k, others(i), -sqdist(z[i], z[k]))))"),
    # the E step's constant without the log evidence
    "em without the evidence": with_changes("variational_em", constant="0"),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_wrong_claim_fails(name):
    status, detail = status_of(WRONG[name])
    assert status == "fail", detail


@pytest.mark.parametrize("entry_id", ["knowledge_distillation", "swav", "npair", "cosface", "dcl"])
def test_shipped_claims_pass_with_a_proof_for_every_batch(entry_id):
    for result in verify_entry(CATALOG.get(entry_id)):
        if result.kind in ("identity", "up_to_constant", "decomposition"):
            assert result.status == "pass" and result.proof == "all_n", (result.claim, result.detail)

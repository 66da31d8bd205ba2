"""The verifier: correct fixtures pass, deliberately wrong ones fail pointing at the wrong part."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from icon_registry.errors import IconError
from icon_registry.schema import Entry
from icon_registry.verify import ClaimResult, ResultCache, verify_entry

FIXTURES = Path(__file__).parent / "fixtures"


def load(kind: str, name: str) -> Entry:
    return Entry.model_validate(yaml.safe_load((FIXTURES / kind / f"{name}.yaml").read_text()))


def statuses(results):
    return {r.claim: r.status for r in results}


# --- the correct versions pass -------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["simclr", "supcon", "pca", "cohesion", "triplet", "kmeans", "cross_entropy", "clip", "tsimclr", "sne"]
)
def test_correct_fixture_passes(name):
    results = verify_entry(load("good", name))
    assert results
    for r in results:
        assert r.status == "pass", f"{r.claim}: {r.detail}"
        assert r.proof in ("all_n", "instances", "numeric")
        assert r.steps and any("numeric" in step for step in r.steps), r.steps
        assert r.seconds >= 0


def test_identities_are_proved_for_every_batch():
    """Not on one instance: the derivation holds for any n and any ids / labels / modalities."""
    for name in ("simclr", "supcon", "cross_entropy", "clip", "tsimclr", "sne", "tsne"):
        for r in verify_entry(load("good", name)):
            if r.kind not in ("identity", "up_to_constant"):
                continue
            assert r.proof == "all_n", (name, r.claim, r.detail, r.derivation and r.derivation["reason"])
            assert r.derivation["proved"] and r.derivation["steps"]
            assert any(step.startswith("both sides have the normal form") for step in r.steps)


def test_limits_are_proved_for_every_batch_where_the_prover_can():
    for name in ("pca", "cohesion"):
        (r,) = verify_entry(load("good", name))
        assert r.proof == "all_n", (name, r.detail, r.derivation and r.derivation["reason"])
        assert any("logsumexp(t b) = log|S| + t mean(b) + O(t^2)" in step for step in r.steps)
    (r,) = verify_entry(load("good", "triplet"))  # triplet candidates: checked at exact points, numerically
    assert r.proof == "numeric" and not r.derivation["proved"]
    assert any("exact instance (rich)" in step for step in r.steps)


def test_unproved_claim_is_never_verified():
    (r,) = verify_entry(load("good", "spectral"))
    assert r.status == "unproved"
    assert "by analogy" in r.detail
    assert r.ok


# --- must catch ----------------------------------------------------------------------------
def only(results) -> ClaimResult:
    assert len(results) == 1
    return results[0]


def test_pca_with_support_others_diverges():
    r = only(verify_entry(load("wrong", "pca_others")))
    assert r.status == "fail"
    assert "KL diverges" in r.detail
    assert "(0,0)" in r.detail and "'others'" in r.detail and "use support 'all'" in r.detail


def test_infonce_without_temperature():
    r = only(verify_entry(load("wrong", "infonce_no_tau")))
    assert r.status == "fail"
    assert "the parameter 'tau' appears in the objective" in r.detail
    assert "the loss's term is the kernel raised to the power tau (an exponent differs)" in r.detail
    assert "residual" in r.detail and "tau=" in r.detail  # a counterexample in words
    assert r.counterexample and abs(r.counterexample["residual"]) > 1e-3


def test_infonce_with_flipped_sign():
    r = only(verify_entry(load("wrong", "infonce_sign")))
    assert r.status == "fail"
    assert "sign is flipped" in r.detail
    assert "per anchor" not in r.detail  # one factor for all anchors is a global sign, not a normalization


def test_supcon_normalized_by_positives_plus_one():
    r = only(verify_entry(load("wrong", "supcon_plus_one")))
    assert r.status == "fail"
    assert r.detail.startswith(
        "per anchor, the loss's term is the KL term times a factor, plus a constant: "
        "anchor 0 x 1/2 (p_0 has 1 target), anchor 1 x 1/2 (p_1 has 1 target), anchor 2 x 2/3 (p_2 has 2 targets), "
        "anchor 3 x 2/3 (p_3 has 2 targets), anchor 4 x 2/3 (p_4 has 2 targets); the loss normalizes each anchor's "
        "sum differently from p, whose weights are 1/(number of targets). ")
    assert "depends on the learnable" in r.detail and "not 0" in r.detail


def test_student_t_with_wrong_exponent():
    r = only(verify_entry(load("wrong", "tsimclr_exponent")))
    assert r.status == "fail"
    assert r.detail.startswith(
        "loss.formula is not sum_i KL(p_i || q_i): the loss's similarity term (1 + sqdist(z[i], z[k]) / nu) ** (-nu / 2) "
        "(over k) is not q's kernel 'student_t' up to a factor per anchor: for anchor 0 their log-ratio changes with "
        "the candidate; the loss's term is the kernel raised to the power nu/(nu + 1) (an exponent differs); ")


def test_kmeans_sign_slip():
    r = only(verify_entry(load("wrong", "kmeans_sign_slip")))
    assert r.status == "fail"
    assert "depends on the learnable" in r.detail and "sign slip" in r.detail


def test_kmeans_cor3_leading_minus():
    r = only(verify_entry(load("wrong", "kmeans_cor3_minus")))
    assert r.status == "fail"
    assert "not 2 x the cost" in r.detail and "sign is flipped" in r.detail


def test_bad_formula_never_reaches_the_verifier():
    """Formulas are checked when the entry is validated (icon validate): verify is about truth."""
    data = load("good", "simclr").model_dump(mode="json")
    data["loss"]["formula"] = "-sum(i, anchors, lgo(tau))"
    with pytest.raises(IconError) as info:
        Entry.model_validate(data)
    assert info.value.problems == [
        "loss.formula: unknown function 'lgo' at column 18; did you mean 'log'? (the functions are: log, exp, sqrt, "
        "softplus, abs, max, min, dot, cos, sqdist, dist, norm, sum, mean, logsumexp, count, indicator)"]


# --- cache -----------------------------------------------------------------------------------
def test_cache_hit_and_invalidation(tmp_path):
    cache = ResultCache(tmp_path)
    entry = load("good", "cross_entropy")
    first = verify_entry(entry, cache=cache)
    assert not any(r.cached for r in first)
    start = time.perf_counter()
    second = verify_entry(entry, cache=cache)
    assert time.perf_counter() - start < 0.5
    assert all(r.cached for r in second)
    assert [r.status for r in second] == [r.status for r in first]
    assert second[0].steps == first[0].steps
    data = entry.model_dump(mode="json")
    data["summary"] = "changed"
    changed = Entry.model_validate(data)
    assert cache.key(changed) != cache.key(entry)
    assert cache.get(changed) is None


# --- CLI ---------------------------------------------------------------------------------------
def icon(*argv, capsys):
    from icon_registry import cli

    if "verify" not in cli.COMMANDS:
        cli.COMMANDS.append("verify")
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_exit_codes_and_json(tmp_path, capsys):
    good = str(FIXTURES / "good")
    wrong = str(FIXTURES / "wrong")
    common = ["--no-builtin", "--cache-dir", str(tmp_path)]
    code, out, _ = icon("verify", "cross_entropy", "--catalog", good, *common, capsys=capsys)
    assert code == 0, out
    assert "cross_entropy identity" in out and "PASS" in out
    code, out, _ = icon("verify", "infonce_sign", "--catalog", wrong, *common, "--json", capsys=capsys)
    assert code == 1
    data = json.loads(out)
    assert isinstance(data, list) and len(data) == 1
    for key in ("id", "claim", "status", "seconds", "detail", "steps", "proof", "derivation"):
        assert key in data[0]
    assert data[0]["id"] == "infonce_sign" and data[0]["status"] == "fail"
    code, _, err = icon("verify", *common, "--catalog", good, capsys=capsys)
    assert code == 2 and "--all" in err
    # a cached run of the same entry says so
    code, out, _ = icon("verify", "cross_entropy", "--catalog", good, *common, capsys=capsys)
    assert code == 0 and "(cached)" in out


def test_cli_explain_prints_the_derivation(tmp_path, capsys):
    common = ["--no-builtin", "--catalog", str(FIXTURES / "good"), "--cache-dir", str(tmp_path)]
    code, out, _ = icon("verify", "supcon", "--explain", *common, capsys=capsys)
    assert code == 0
    assert "[proved for every batch]" in out and "proof for every batch:" in out
    assert "assume some anchor has supervisory mass: anchors_with(same_class) is not empty" in out
    assert "[loss] mean = sum / count" in out and "both sides have the normal form" in out
    assert "1 entry, 1 claim: 1 pass (1 proved for every batch), 0 fail" in out
    code, out, _ = icon("verify", "triplet", "--explain", *common, "--json", capsys=capsys)
    (result,) = json.loads(out)
    assert result["proof"] == "numeric" and not result["derivation"]["proved"]
    assert result["derivation"]["reason"].startswith("not expressible for every batch")


@pytest.mark.parametrize("ids, head", [(["vicreg_no_cov"], "1 entry, 1 claim: 1 pass"),
                                       (["vicreg_no_cov", "simclr"], "2 entries, 3 claims: 3 pass")])
def test_the_summary_line_counts_in_words(ids, head, capsys, tmp_path):
    from icon_registry.cli import main

    assert main(["verify", *ids, "--cache-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(head + " (")

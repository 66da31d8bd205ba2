"""site/verify-in-ci.md: the GitHub Actions workflow's `icon` steps and the pre-commit hooks, run
as written on a folder of entries (one that verifies, and one with a claim that fails)."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import yaml

from .follow_page import REPO, environment

PAGE = REPO / "site" / "verify-in-ci.md"
HOOKS = REPO / ".pre-commit-hooks.yaml"


def _block(title: str) -> dict:
    text = PAGE.read_text(encoding="utf-8")
    return yaml.safe_load(re.search(rf'```yaml title="{re.escape(title)}"\n(.*?)```', text, re.S).group(1))


def _shell(line: str, folder, env) -> subprocess.CompletedProcess:
    """Run a workflow line in bash (globs expand as on the runner) with `icon` the checkout's CLI."""
    script = f'icon() {{ "{sys.executable}" -m icon_registry.cli "$@"; }}\n{line}'
    return subprocess.run(["bash", "-c", script], cwd=folder, env=env, capture_output=True, text=True, timeout=600)


def _user_folder(tmp_path, broken: bool):
    env = environment()
    for entry_id in ("my_method", "my_other"):
        proc = _shell(f"icon new {entry_id} --like simclr --catalog my_methods", tmp_path, env)
        assert proc.returncode == 0, proc.stderr
    if broken:  # a temperature missing from the loss: the identity claim no longer holds
        path = tmp_path / "my_methods" / "my_other.yaml"
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("cos(z[i], z[j])/tau", "cos(z[i], z[j])"), encoding="utf-8")
    return env


def _icon_steps(workflow: dict) -> list[str]:
    steps = workflow["jobs"]["verify"]["steps"]
    return [step["run"] for step in steps if step.get("run", "").startswith("icon ")]


def test_workflow_steps_pass_on_good_entries_and_write_a_junit_report(tmp_path):
    env = _user_folder(tmp_path, broken=False)
    steps = _icon_steps(_block(".github/workflows/icon-verify.yml"))
    assert [step.split()[1] for step in steps] == ["validate", "verify", "site"]
    for line in steps:
        proc = _shell(line, tmp_path, env)
        assert proc.returncode == 0, f"`{line}`:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    report = ET.parse(tmp_path / "reports" / "icon-verify.xml").getroot()
    cases = [(case.get("classname"), case.get("name")) for case in report.iter("testcase")]
    assert cases == [("my_method", "identity"), ("my_method", "up_to_constant"),
                     ("my_other", "identity"), ("my_other", "up_to_constant")]
    assert report.get("tests") == "4" and report.get("failures") == "0"
    assert (tmp_path / "public" / "methods" / "my_other.html").is_file()


def test_a_false_claim_fails_the_job_and_the_report_says_why(tmp_path):
    env = _user_folder(tmp_path, broken=True)
    validate, verify = _icon_steps(_block(".github/workflows/icon-verify.yml"))[:2]
    assert _shell(validate, tmp_path, env).returncode == 0  # well-formed: only the verifier can tell
    proc = _shell(verify, tmp_path, env)
    assert proc.returncode == 1
    report = ET.parse(tmp_path / "reports" / "icon-verify.xml").getroot()
    failures = {case.get("classname") + " " + case.get("name"): case.find("failure")
                for case in report.iter("testcase") if case.find("failure") is not None}
    assert set(failures) == {"my_other identity", "my_other up_to_constant"}
    detail = failures["my_other identity"]
    assert detail.get("message") and "tau" in detail.text  # the missing parameter is named


def test_pre_commit_hooks_run_on_the_changed_files(tmp_path):
    env = _user_folder(tmp_path, broken=True)
    hooks = {hook["id"]: hook for hook in yaml.safe_load(HOOKS.read_text(encoding="utf-8"))}
    config = _block(".pre-commit-config.yaml")
    (repo,) = config["repos"]
    changed = ["my_methods/my_method.yaml", "my_methods/my_other.yaml"]
    outcomes = {}
    for use in repo["hooks"]:
        hook = hooks[use["id"]]  # the page names hooks this repository offers
        files = [f for f in changed if re.search(use["files"], f) and re.search(hook["files"], f)
                 and not re.search(hook["exclude"], f)]
        assert files == changed
        # pre-commit runs: entry + args + the changed files
        line = " ".join([hook["entry"], *use["args"], *files])
        outcomes[use["id"]] = _shell(line, tmp_path, env)
    assert outcomes["icon-validate"].returncode == 0, outcomes["icon-validate"].stderr
    assert outcomes["icon-validate"].stdout.strip() == "ok: 2 entries"
    assert outcomes["icon-verify"].returncode == 1
    assert "my_other identity" in outcomes["icon-verify"].stdout and "FAIL" in outcomes["icon-verify"].stdout

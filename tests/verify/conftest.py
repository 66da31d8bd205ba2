"""The mutation campaign's headline (catch rate, neutral pass rate, time) in the terminal summary."""

from __future__ import annotations

import pytest

CAMPAIGN_REPORT = pytest.StashKey[str]()
HEADLINE = ("mutation campaign", "catch rate", "neutral rewrites:", "time:")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    report = config.stash.get(CAMPAIGN_REPORT, None)
    if report is None:
        return
    terminalreporter.section("mutation testing of the verifier")
    for line in report.splitlines():
        if line.startswith(HEADLINE):
            terminalreporter.write_line(line)
    terminalreporter.write_line("counts by operator: python -m tests.verify.mutations --report [--full]")

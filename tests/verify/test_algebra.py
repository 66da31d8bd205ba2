"""The verifier's time boxes count this process's CPU time, not the wall clock."""

from __future__ import annotations

import time

import pytest

from icon_registry.verify import algebra


def test_a_time_box_ignores_time_the_process_does_not_run():
    # on the wall clock, a machine busy with other work (icon verify -j 4 on two cores) ran
    # simplifications out of time, and claims were labelled "numerically" instead of "exactly"
    with algebra.time_box(0.2):
        time.sleep(0.5)


def test_a_time_box_interrupts_work_past_its_cpu_seconds():
    start = algebra.cpu_seconds()
    with pytest.raises(algebra.OutOfTime):
        with algebra.time_box(0.2):
            while algebra.cpu_seconds() - start < 5.0:
                pass
    assert algebra.cpu_seconds() - start < 2.0

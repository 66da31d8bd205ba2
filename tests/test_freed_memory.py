"""``reuse_freed_memory`` (the training and bench commands call it for their own process): large
blocks freed and allocated again step after step are not faulted in again from the system."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, resource, sys
import torch
from icon_registry.commands import reuse_freed_memory
applied = reuse_freed_memory() if sys.argv[1] == "on" else False
def step():  # a training step's shape: 64 MB temporaries (above glibc's 32 MB mmap limit), all freed
    a = torch.ones(1 << 24) * 2.0
    b = a + 1.0
    return float((a * b).sum())
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(json.dumps({"applied": applied, "faults": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10}))
"""


def _probe(mode, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "LD_PRELOAD"}
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**clean, "PYTHONPATH": str(ROOT), **env})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator: Linux only")
def test_freed_blocks_are_reused_without_faulting_them_in_again():
    default, reused = _probe("off"), _probe("on")
    if not reused["applied"]:
        pytest.skip("this C library has no mallopt (not glibc)")
    assert default["faults"] > 50_000  # four 64 MB blocks per step, every page mapped afresh
    assert reused["faults"] < default["faults"] / 8


def test_the_users_allocator_choice_is_left_alone():
    assert _probe("on", MALLOC_ARENA_MAX="2")["applied"] is False

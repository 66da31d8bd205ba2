"""``reuse_freed_memory`` (the training and bench commands call it for their own process): a
large block freed and allocated again is not faulted in again from the system."""

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
def faults_of_a_64_mb_block():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(1 << 24).sum()  # allocated, touched, freed
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults_of_a_64_mb_block()
print(json.dumps({"applied": applied, "faults": min(faults_of_a_64_mb_block() for _ in range(3))}))
"""


def _probe(mode, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "LD_PRELOAD"}
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**clean, "PYTHONPATH": str(ROOT), **env})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator: Linux only")
def test_a_freed_block_is_reused_without_faults():
    default, reused = _probe("off"), _probe("on")
    if not reused["applied"]:
        pytest.skip("this C library has no mallopt (not glibc)")
    assert default["faults"] > 10_000  # 64 MB = 16,384 pages, mapped afresh each time
    assert reused["faults"] < 100


def test_the_users_allocator_choice_is_left_alone():
    assert _probe("on", MALLOC_ARENA_MAX="2")["applied"] is False

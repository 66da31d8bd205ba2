"""verify_entries(jobs=2) from a process whose torch already ran parallel code (a test session,
a notebook): the workers must not wait forever on a lock that one of the parent's threads held."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import torch
torch.set_num_threads(2)
x = torch.randn(1500, 1500)
for _ in range(3):
    (x @ x).sum(); torch.softmax(x, 1).sum()
from icon_registry.catalog import load_catalog
from icon_registry.verify import verify_entries
catalog = load_catalog(use_env=False)
results = verify_entries([catalog.get(i) for i in ("simclr", "supcon", "cross_entropy", "error_rate")], jobs=2)
print(sorted({r.status for r in results}))
"""


def test_pool_workers_after_parallel_torch_in_the_parent():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "2"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "['pass']", done.stdout

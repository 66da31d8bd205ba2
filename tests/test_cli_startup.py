"""The catalog commands start without torch (importing it is most of a second)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import contextlib, io, json, sys
from icon_registry.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "torch": "torch" in sys.modules, "printed": len(out.getvalue())}))
"""


@pytest.mark.parametrize("argv", [["list"], ["list", "*sne*"], ["show", "simclr"], ["validate"], ["table"]], ids=" ".join)
def test_catalog_commands_never_import_torch(argv):
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0 and result["printed"] > 0
    assert not result["torch"], f"icon {' '.join(argv)} imported torch"

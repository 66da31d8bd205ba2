"""Follow a docs page literally, in order: a ```yaml block titled "path" writes that file (a user
saving or editing it), a ```bash block runs each `icon ...` line, a ```console block runs each
`$ icon ...` line and compares the output with the lines shown under it, a ```python block runs
as a script. Everything runs in a fresh folder with the checkout importable."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r'^```(yaml|bash|console|python)([^\n]*)\n(.*?)^```', re.S | re.M)


def environment() -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    env.pop("ICON_CATALOG", None)
    return env


def icon_command(line: str) -> list[str]:
    argv = shlex.split(line)
    assert argv[0] == "icon", f"unexpected command on the page: {line}"
    return [sys.executable, "-m", "icon_registry.cli", *argv[1:]]


def run_icon(line: str, folder: Path, env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(icon_command(line), cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)


def follow(page: Path, folder: Path) -> list[str]:
    """Run the page in ``folder``; -> the steps taken (one line each). Fails on the first step
    that does not do what the page says."""
    text = page.read_text(encoding="utf-8")
    env = {**environment(), "ICON_CACHE_DIR": str(folder / ".icon-cache")}  # never the developer's cache
    steps = []
    for match in BLOCK.finditer(text):
        kind, info, body = match.groups()
        if kind == "yaml":
            title = re.search(r'title="([^"]+)"', info)
            if title:
                path = folder / title.group(1)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(body, encoding="utf-8")
                steps.append(f"wrote {title.group(1)}")
        elif kind == "python":
            proc = subprocess.run([sys.executable, "-c", body], cwd=folder, env=env, capture_output=True, text=True,
                                  timeout=300)
            assert proc.returncode == 0, f"the page's Python fails:\n{body}\n{proc.stderr[-3000:]}"
            steps.append("python")
        elif kind == "bash":
            for line in body.splitlines():
                line = line.split(" #", 1)[0].strip()
                if not line or line.startswith("#"):
                    continue
                proc = run_icon(line, folder, env)
                assert proc.returncode == 0, f"`{line}` fails (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
                steps.append(line)
        else:
            for command, shown in re.findall(r"^\$ (.*)\n((?:(?!\$ ).*\n)*)", body, re.M):
                proc = run_icon(command, folder, env)
                output = (proc.stdout + proc.stderr).strip()
                assert output == shown.strip(), f"`{command}` prints\n{output}\nbut the page shows\n{shown}"
                expected = 0 if shown.startswith("ok") else 1
                assert proc.returncode == expected, f"`{command}` exits {proc.returncode}, expected {expected}"
                steps.append(command)
    return steps

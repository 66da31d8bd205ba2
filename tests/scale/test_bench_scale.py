"""The scale bench's plumbing (the measurements themselves run in `icon bench`)."""

from __future__ import annotations

import json

import pytest
import torch

from icon_registry import bench_scale


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_gpu_suite_skips_clearly_without_cuda(tmp_path):
    out = tmp_path / "scale.json"
    results = bench_scale.run(["gpu"], output=out, quiet=True)
    assert "no CUDA device" in results["gpu"]["skipped"]
    assert json.loads(out.read_text())["gpu"]["skipped"] == results["gpu"]["skipped"]


def test_memory_suite_small_run_and_merge(tmp_path):
    out = tmp_path / "scale.json"
    out.write_text(json.dumps({"memory": {"rows": [{"n": 99, "chunked": True, "seconds": 1.0}]}, "core": {"kept": 1}}))
    results = bench_scale.run(["memory"], output=out, quiet=True, threads=1, sizes=(256,))
    rows = results["memory"]["rows"]
    steady = results["memory"]["steady_state"]
    assert steady["n"] == 256 and steady["steps"] == 30 and steady["peak_rss_gib_one_step"] > 0
    assert steady["growth"] == pytest.approx(steady["peak_rss_gib_after_steps"] / steady["peak_rss_gib_one_step"], abs=2e-3)
    assert [r["n"] for r in rows] == [99, 256]
    assert rows[1]["peak_rss_gib"] > 0 and rows[1]["seconds"] > 0
    assert json.loads(out.read_text())["core"] == {"kept": 1}  # other suites' results stay


def test_unknown_suite():
    with pytest.raises(ValueError, match="unknown bench suite"):
        bench_scale.run(["nope"], output="/dev/null", quiet=True)


def test_scaling_ratio():
    rows = [
        {"n": 8192, "chunked": True, "seconds": 2.0, "cpu_seconds": 1.0},
        {"n": 16384, "chunked": True, "seconds": 10.0, "cpu_seconds": 4.0},
    ]
    bench_scale._scaling(rows)
    assert rows[1]["time_over_n2_scaling"] == 1.25 and rows[1]["cpu_time_over_n2_scaling"] == 1.0

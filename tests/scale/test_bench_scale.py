"""The scale bench's plumbing (the measurements themselves run in `icon bench`)."""

from __future__ import annotations

import json

import pytest
import torch

from icon_registry import bench_scale
from icon_registry.errors import UsageError


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_gpu_suite_skips_clearly_without_cuda(tmp_path):
    out = tmp_path / "scale.json"
    results = bench_scale.run(["gpu"], output=out, quiet=True)
    assert "no CUDA device" in results["gpu"]["skipped"]
    assert json.loads(out.read_text())["gpu"]["skipped"] == results["gpu"]["skipped"]


def test_memory_suite_small_run_and_merge(tmp_path):
    out = tmp_path / "scale.json"
    earlier = {"measured_at": "2020-01-01T00:00:00Z", "rows": [{"n": 99, "chunked": True, "seconds": 1.0, "peak_rss_gib": 0.1}]}
    core = [{"case": "simclr", "n": 256, "kept": 1}]
    out.write_text(json.dumps({"memory": earlier, "core": core}))
    results = bench_scale.run(["memory"], output=out, quiet=True, threads=1, sizes=(256,))
    rows = results["memory"]["rows"]
    steady = results["memory"]["steady_state"]
    assert steady["n"] == 256 and steady["steps"] == 30 and steady["peak_rss_gib_one_step"] > 0
    assert steady["growth"] == pytest.approx(steady["peak_rss_gib_after_steps"] / steady["peak_rss_gib_one_step"], abs=2e-3)
    assert [r["n"] for r in rows] == [99, 256]
    assert rows[1]["peak_rss_gib"] > 0 and rows[1]["seconds"] > 0
    assert json.loads(out.read_text())["core"] == core  # other suites' results stay


@pytest.mark.parametrize("content", ["my notes\n", "[1, 2]", '{"compilerOptions": {"strict": true}}'])
def test_a_file_that_is_not_bench_results_is_never_replaced(tmp_path, content):
    out = tmp_path / "notes.txt"
    out.write_text(content)
    with pytest.raises(UsageError, match=f"argument --out: {out} exists and is not a bench results file"):
        bench_scale.run(["gpu"], output=out, quiet=True)
    assert out.read_text() == content and [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_only_well_formed_earlier_memory_rows_are_kept():
    row = {"n": 99, "chunked": True, "seconds": 1.0, "peak_rss_gib": 0.1}
    assert bench_scale._has_rows({"rows": [row]})
    for earlier in ([row], {"rows": [{**row, "seconds": None}]}, {"rows": [{"n": 99}]}, {"rows": {}}, "x", None):
        assert not bench_scale._has_rows(earlier), earlier


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

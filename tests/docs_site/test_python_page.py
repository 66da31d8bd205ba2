"""site/python.md runs as written (Entry.from_yaml / model_validate, compile_loss with both
sources, icon_registry.verify)."""

from __future__ import annotations

from .follow_page import REPO, follow


def test_python_page_runs_as_written(tmp_path):
    steps = follow(REPO / "site" / "python.md", tmp_path)
    assert steps == ["wrote my_student_t.yaml", "python", "python", "python"]

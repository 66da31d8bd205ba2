"""The project's one error type, with a stand-in while ``icon_registry.errors`` is not there yet."""

from __future__ import annotations

try:  # pragma: no cover - depends on the infra helper's module being present
    from icon_registry.errors import IconError
except ImportError:  # pragma: no cover

    class IconError(Exception):  # type: ignore[no-redef]
        def __init__(self, message, *, file=None, line=None, field=None, entry=None, argument=None, problems=None):
            super().__init__(message)
            self.message = message
            self.file, self.line, self.field = file, line, field
            self.entry, self.argument = entry, argument
            self.problems = problems or []

__all__ = ["IconError"]

"""Make ``icon_registry.formula`` importable while the rest of the package is being assembled.

If ``import icon_registry`` fails (a sibling module not written yet), register a bare package
so the formula subpackage, which depends on nothing else in the tree, can still be tested.
"""

import pathlib
import sys
import types
import warnings

try:
    import icon_registry  # noqa: F401
except Exception as error:  # pragma: no cover - depends on the tree state
    warnings.warn(f"icon_registry does not import ({error!r}); testing icon_registry.formula alone")
    package = types.ModuleType("icon_registry")
    package.__path__ = [str(pathlib.Path(__file__).resolve().parents[2] / "icon_registry")]
    sys.modules["icon_registry"] = package

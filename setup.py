"""Package layout for setuptools (metadata lives in pyproject.toml).

The built-in catalog is the top-level ``catalog/`` folder in a checkout; in a wheel it is
the package data ``icon_registry/_catalog`` (``package_dir`` maps one onto the other), so a
plain ``pip install .`` ships it. The docs site's sources (``site/``, vendored KaTeX included,
and ``mkdocs.yml``) are copied into the wheel as ``icon_registry/docs_site/_site`` (see
``icon_registry.docs_site.build.site_sources``), so ``icon site build`` works from a pip
install. Subpackages are found automatically, ``__init__.py`` or not.
"""

import shutil
from pathlib import Path

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithSite(build_py):
    """build_py, then the site sources into the built package (they live outside the package)."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "icon_registry" / "docs_site" / "_site"
        shutil.copytree(ROOT / "site", target / "site", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "generated"))
        shutil.copy2(ROOT / "mkdocs.yml", target / "mkdocs.yml")

DATA = ["*.yaml", "*.yml", "*.json", "*.css", "*.js", "*.html", "*.md", "*.txt", "*.j2", "*.svg", "py.typed"]

packages = [
    name
    for name in find_namespace_packages(include=["icon_registry", "icon_registry.*"])
    if "__pycache__" not in name.split(".")
]

setup(
    cmdclass={"build_py": BuildWithSite},
    packages=packages + ["icon_registry._catalog"],
    package_dir={"icon_registry._catalog": "catalog"},
    package_data={"": DATA, "icon_registry._catalog": ["*.yaml", "methods/*.yaml"]},
)

"""Package layout for setuptools (metadata lives in pyproject.toml).

The built-in catalog is the top-level ``catalog/`` folder in a checkout; in a wheel it is
the package data ``icon_registry/_catalog`` (``package_dir`` maps one onto the other), so a
plain ``pip install .`` ships it. Subpackages are found automatically, ``__init__.py`` or not.
"""

from setuptools import find_namespace_packages, setup

DATA = ["*.yaml", "*.yml", "*.json", "*.css", "*.js", "*.html", "*.md", "*.txt", "*.j2", "*.svg", "py.typed"]

packages = [
    name
    for name in find_namespace_packages(include=["icon_registry", "icon_registry.*"])
    if "__pycache__" not in name.split(".")
]

setup(
    packages=packages + ["icon_registry._catalog"],
    package_dir={"icon_registry._catalog": "catalog"},
    package_data={"": DATA, "icon_registry._catalog": ["*.yaml", "methods/*.yaml"]},
)

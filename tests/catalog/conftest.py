"""Fixtures over the whole built-in catalog (catalog/methods/*.yaml, catalog/table.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CATALOG_DIR = REPO / "catalog"
METHOD_FILES = sorted((CATALOG_DIR / "methods").glob("*.yaml"))


@pytest.fixture(scope="session")
def catalog():
    from icon_registry.catalog import load_catalog

    return load_catalog(CATALOG_DIR, include_builtin=False, use_env=False)


@pytest.fixture(scope="session")
def entries(catalog):
    return catalog.entries()

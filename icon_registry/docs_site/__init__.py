"""The docs site: pages generated from the catalog, built with mkdocs (Material) offline.

    from icon_registry.docs_site import build_site
    report = build_site(["my_methods"], out="public")     # built-in catalog + my_methods/
"""

from icon_registry.docs_site.build import BuildReport, build_site, generate_pages
from icon_registry.docs_site.catalog_view import SiteCatalog, load_fixture_catalog, load_site_catalog

__all__ = ["BuildReport", "SiteCatalog", "build_site", "generate_pages", "load_fixture_catalog", "load_site_catalog"]

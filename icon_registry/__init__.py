"""icon-registry: the I-Con periodic table of representation-learning losses, as software.

Public API::

    catalog = icon_registry.load_catalog()          # a Catalog: built-in + your own folders
    catalog.list("*sne*")                            # glob over ids and aliases
    entry = icon_registry.Entry.from_yaml(text)      # or Entry.model_validate(dict): validated, formulas too
    loss = icon_registry.compile_loss("simclr", tau=0.1)   # source="formula": the published loss.formula
    value = loss(z, ids=ids)
    results = icon_registry.verify(entry)            # one ClaimResult per claim, as `icon verify` prints
"""

from icon_registry.errors import IconError, IconWarning

__all__ = ["Catalog", "CompiledLoss", "Entry", "IconError", "IconWarning", "compile_loss", "load_catalog", "verify"]
__version__ = "0.1.0"


def __getattr__(name):
    # Imported on first use: the compiler pulls in torch (about a second), the catalog pydantic
    # (half a second); `import icon_registry` itself stays instant, so that the `icon` command
    # answers Ctrl-C from its first moments.
    if name in ("compile_loss", "CompiledLoss"):
        from icon_registry import compiler

        return getattr(compiler, name)
    if name in ("load_catalog", "Catalog"):  # Catalog: the type load_catalog returns
        from icon_registry import catalog

        return getattr(catalog, name)
    if name == "Entry":
        from icon_registry.schema import Entry

        return Entry
    if name == "verify":  # the verify package, callable: icon_registry.verify(entry_or_id)
        import icon_registry.verify

        return icon_registry.verify
    raise AttributeError(f"module 'icon_registry' has no attribute {name!r}")

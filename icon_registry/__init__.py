"""icon-registry: the I-Con periodic table of representation-learning losses, as software.

Public API::

    catalog = icon_registry.load_catalog()          # built-in + your own folders
    catalog.list("*sne*")                            # glob over ids and aliases
    loss = icon_registry.compile_loss("simclr", tau=0.1)
    value = loss(z, ids=ids)
"""

from icon_registry.errors import IconError

__all__ = ["CompiledLoss", "IconError", "compile_loss", "load_catalog"]
__version__ = "0.1.0"


def __getattr__(name):
    # Imported on first use: the compiler pulls in torch (about a second), the catalog pydantic
    # (half a second); `import icon_registry` itself stays instant, so that the `icon` command
    # answers Ctrl-C from its first moments.
    if name in ("compile_loss", "CompiledLoss"):
        from icon_registry import compiler

        return getattr(compiler, name)
    if name == "load_catalog":
        from icon_registry.catalog import load_catalog

        return load_catalog
    raise AttributeError(f"module 'icon_registry' has no attribute {name!r}")

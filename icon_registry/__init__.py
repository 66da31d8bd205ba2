"""icon-registry: the I-Con periodic table of representation-learning losses, as software.

Public API::

    catalog = icon_registry.load_catalog()          # built-in + your own folders
    catalog.list("*sne*")                            # glob over ids and aliases
    loss = icon_registry.compile_loss("simclr", tau=0.1)
    value = loss(z, ids=ids)
"""

from icon_registry.catalog import load_catalog
from icon_registry.errors import IconError

__all__ = ["CompiledLoss", "IconError", "compile_loss", "load_catalog"]
__version__ = "0.1.0"


def __getattr__(name):
    # The compiler pulls in torch (about a second); the CLI's catalog commands never need it.
    if name in ("compile_loss", "CompiledLoss"):
        from icon_registry import compiler

        return getattr(compiler, name)
    raise AttributeError(f"module 'icon_registry' has no attribute {name!r}")

"""compile_loss: any catalog entry, gap cells included, becomes a torch loss module."""

from icon_registry.compiler.module import CompiledLoss, compile_loss

__all__ = ["CompiledLoss", "compile_loss"]

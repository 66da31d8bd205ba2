"""Array backends that evaluate the ONE definition of every kernel.

Kernel and distribution code (``icon_registry.kernels``, ``icon_registry.distributions``)
is written once with Python operators plus the few primitives below. ``TorchBackend``
runs it on tensors for training; ``SympyBackend`` runs it on numpy object arrays of
SymPy expressions for the verifier. Nothing specific to a kernel lives in a backend:
backends only supply generic array primitives, so a proof about the SymPy evaluation
is a proof about the code the compiler executes.
"""

from icon_registry.backends.sympy_backend import SympyBackend
from icon_registry.backends.torch_backend import TorchBackend

__all__ = ["SympyBackend", "TorchBackend"]

"""Checking and converting what a caller passes to a compiled loss."""

from __future__ import annotations

import math
import numbers

import networkx as nx
import numpy as np
import torch

from icon_registry.errors import IconError, quote, suggest
from icon_registry.pairs import INPUT_NAMES


def option_number(entry_id, name, value, *, integer: bool, minimum, what: str, strict: bool = False):
    """A numeric compile_loss option (num_classes, dim, chunk_size, chunk_memory) as a Python
    int (``integer``) or float: a Python, numpy or 0-d torch scalar of that kind, at least
    ``minimum`` (above it with ``strict``). One check for every such
    option, so that np.int64(3) and torch.tensor(3) are accepted by all or by none. A bool is
    no number here (True would read as a count of 1); NaN fails every comparison."""
    number = value
    if isinstance(number, torch.Tensor):
        number = number.item() if number.dim() == 0 and number.dtype != torch.bool else None
    if isinstance(number, (bool, np.bool_)):
        number = None
    elif isinstance(number, numbers.Integral):
        number = int(number)
    elif not integer and isinstance(number, numbers.Real):
        number = float(number)
    else:
        number = None
    if number is None or not (number > minimum if strict else number >= minimum):
        raise IconError(f"{entry_id}: {name} must be {what}, got {value!r}", entry=entry_id, argument=name)
    return number


def _tensor(entry_id, name, value, device, holds="numbers"):
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc":  # strings, objects, dates: torch has no such tensor
            raise IconError(f"{entry_id}: argument '{name}' must hold {holds}, got a numpy array of {value.dtype}",
                            argument=name)
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        raise IconError(
            f"{entry_id}: argument '{name}' must be a torch.Tensor or numpy array, got {type(value).__name__}",
            argument=name,
        )
    if value.device.type == "meta":  # (moving it would raise torch's "Cannot copy out of meta tensor")
        raise IconError(f"{entry_id}: argument '{name}' is on the meta device, which holds no values", argument=name)
    return value.to(device)


def _dense(value):
    """A sparse tensor of any layout (COO, CSR, CSC, BSR, BSC) as its dense matrix."""
    return value if value.layout == torch.strided else value.to_dense()


def _fail_shape(entry_id, name, expected, value):
    raise IconError(
        f"{entry_id}: argument '{name}' must have shape {expected}, got {tuple(value.shape)}", argument=name
    )


def call_example(required) -> str:
    """``loss(z, ids=...)``: how to call a loss that reads the inputs ``required``."""
    return "loss(" + ", ".join(["z"] + [f"{name}=..." for name in required]) + ")"


def call_error(entry_id, required, positional: tuple, unknown: dict) -> IconError:
    """A call that passed inputs after z by position, or by a name no loss takes."""
    if positional:
        return IconError(f"{entry_id}: the inputs after z are passed by name: call {call_example(required)} (got "
                         f"{len(positional)} more positional argument(s))", entry=entry_id,
                         argument=required[0] if required else "z")
    name = next(iter(unknown))
    return IconError(f"{entry_id}: unknown argument {quote(name)}{suggest(name, INPUT_NAMES)}; this entry reads "
                     f"{', '.join(required) or 'z alone'}: call {call_example(required)}", entry=entry_id, argument=name)


def check_z(entry_id, z, *, distributed=False, min_rows=2):
    """z of shape (n, d) with n >= ``min_rows`` and d >= 1; a rank of a distributed batch may hold
    fewer rows (the global batch is checked once gathered: ``check_global_rows``)."""
    if not isinstance(z, torch.Tensor):
        raise IconError(f"{entry_id}: argument 'z' must be a torch.Tensor, got {type(z).__name__}", argument="z")
    if z.dim() != 2 or z.shape[0] < (0 if distributed else min_rows) or z.shape[1] < 1:
        _fail_shape(entry_id, "z", "(n, d) with d >= 1" if distributed else f"(n, d) with n >= {min_rows} and d >= 1", z)
    if z.device.type == "meta":
        raise IconError(f"{entry_id}: argument 'z' is on the meta device, which holds no values", argument="z")
    if not z.is_floating_point():
        raise IconError(f"{entry_id}: argument 'z' must be a floating-point tensor, got {z.dtype}", argument="z")
    return z


def _outside_inference(value):
    """``value``, or a copy when it was made under torch.inference_mode: autograd may not save an
    inference tensor for the backward (torch's RuntimeError), and the loss saves what it indexes
    with (labels, neighbours) or multiplies z by (a bank). Labels, neighbours and queues made under
    inference_mode are common; the copy is O(n) or O(m d), next to the loss's O(n m d)."""
    if torch.compiler.is_compiling():  # Dynamo cannot trace is_inference(): traced calls keep torch's behaviour
        return value
    return value.clone() if value.is_inference() and not torch.is_inference_mode_enabled() else value


def index_vector(entry_id, name, value, n, device, shape_text=None):
    if not (isinstance(value, torch.Tensor) and value.device == device):
        value = _tensor(entry_id, name, value, device, holds="integers")
    if value.dim() != 1 or value.shape[0] != n:
        _fail_shape(entry_id, name, shape_text or f"(n,) = ({n},)", value)
    if value.dtype == torch.int64:
        return _outside_inference(value)
    if value.is_floating_point() or value.is_complex():
        raise IconError(f"{entry_id}: argument '{name}' must hold integers, got {value.dtype}", argument=name)
    return value.long()


def neighbor_matrix(entry_id, value, n, device, position=None):
    """(n, k) indices into the batch. ``position``: the largest candidate position the entry's
    kernels read; it is weighed against the other candidates, so at least one more must exist (with
    one candidate, p and q are both 1 on it and the loss is 0 whatever z)."""
    value = _tensor(entry_id, "neighbors", value, device, holds="integer indices")
    columns = 1 if position is None else max(position + 1, 2)
    if value.dim() != 2 or value.shape[0] != n or value.shape[1] < columns:
        shape = f"(n, k) = ({n}, k)"
        if position is not None:
            shape += f" with k >= {columns} (this entry weighs neighbors[i, {position}] against the other candidates)"
        _fail_shape(entry_id, "neighbors", shape, value)
    if value.is_floating_point() or value.is_complex():
        raise IconError(f"{entry_id}: argument 'neighbors' must hold integer indices, got {value.dtype}", argument="neighbors")
    if value.numel() and (int(value.min()) < 0 or int(value.max()) >= n):
        raise IconError(f"{entry_id}: argument 'neighbors' has indices outside [0, {n})", argument="neighbors")
    return _outside_inference(value.long())


def features(entry_id, value, n, device, dtype):
    value = _dense(_tensor(entry_id, "x", value, device, holds="real features"))
    if value.is_complex():  # a cast would drop the imaginary part with only torch's warning
        raise IconError(f"{entry_id}: argument 'x' must hold real features, got {value.dtype}", argument="x")
    if value.dim() < 2 or value.shape[0] != n:
        _fail_shape(entry_id, "x", f"(n, ...) with n = {n}", value)
    value = value.flatten(1).to(dtype)  # not reshape(n, -1): a rank may hold n = 0 rows
    if value.numel() and not torch.compiler.is_compiling():  # (traced, reading the max would break the graph)
        # p is computed from x's squared distances or products: a NaN or inf in x, or values whose
        # squares overflow, would make every p NaN; one pass (a max, NaN included) finds both
        largest = float(value.abs().max())
        if not math.isfinite(largest):
            raise IconError(f"{entry_id}: argument 'x' has non-finite values (NaN or inf)", argument="x")
        if 4.0 * value.shape[1] * largest * largest > torch.finfo(dtype).max:
            raise IconError(f"{entry_id}: argument 'x' is too large for {dtype}: its values reach {largest:.3g}, whose "
                            "squared distances overflow; scale x down, or pass z in float64", argument="x")
    return value


def adjacency(entry_id, value, n, device, dtype):
    """A networkx graph on nodes 0..n-1, or a dense/sparse (n, n) weight matrix."""
    if isinstance(value, nx.Graph):
        missing = set(range(n)) - set(value.nodes)
        extra = set(value.nodes) - set(range(n))
        if missing or extra:
            raise IconError(
                f"{entry_id}: argument 'graph' must have the nodes 0..{n - 1} (one per batch row); "
                f"missing {sorted(missing)[:5]}, unexpected {sorted(map(str, extra))[:5]}",
                argument="graph",
            )
        value = torch.as_tensor(nx.to_numpy_array(value, nodelist=range(n), weight="weight"), device=device,
                                dtype=dtype)
    else:
        value = _dense(_tensor(entry_id, "graph", value, device, holds="real weights"))
        if tuple(value.shape) != (n, n):
            _fail_shape(entry_id, "graph", f"(n, n) = ({n}, {n})", value)
    if value.is_complex():
        raise IconError(f"{entry_id}: argument 'graph' must hold real weights, got {value.dtype}", argument="graph")
    if value.is_floating_point() and not bool(torch.isfinite(value).all()):
        # a NaN weight would read as a missing edge, an infinite one make p NaN
        raise IconError(f"{entry_id}: argument 'graph' has non-finite weights (NaN or inf)", argument="graph")
    if bool((value < 0).any()):
        raise IconError(f"{entry_id}: argument 'graph' has negative weights", argument="graph")
    if n and not torch.compiler.is_compiling() and not bool(value.any()):
        # p would be empty, or uniform and the same whatever the data
        raise IconError(f"{entry_id}: argument 'graph' has no edge (every weight is 0): it carries no supervision",
                        argument="graph")
    return value.to(dtype)


def _floats(entry_id, name, value, shape_text, dims, device, dtype):
    value = _tensor(entry_id, name, value, device)
    if value.dim() != dims:
        _fail_shape(entry_id, name, shape_text, value)
    if not value.is_floating_point():
        raise IconError(f"{entry_id}: argument '{name}' must be a floating-point tensor, got {value.dtype}", argument=name)
    return _outside_inference(value.to(dtype))


SCORE_AND_BANK_NAMES = ("teacher", "center", "bank", "bank_ids", "bank_labels", "keys")
#: The same names as a set: one membership test for a call (and one guard under torch.compile, not one per name).
SCORE_AND_BANK = frozenset(SCORE_AND_BANK_NAMES)


def given_scores_and_bank(inputs, given: dict, device, dtype) -> None:
    """Check and set the teacher's scores (teacher, center), the bank (bank, bank_ids,
    bank_labels) and the anchors' keys on ``inputs``; every shape is checked against z's.
    ``given`` maps the names of the arguments passed to them (one not passed may be absent)."""
    given = {name: given.get(name) for name in SCORE_AND_BANK_NAMES}
    entry_id, n, k = inputs.entry_id, inputs.n, inputs.z.shape[1]
    if given["teacher"] is not None:
        teacher = _floats(entry_id, "teacher", given["teacher"], f"(n, K) = ({n}, {k}), one row per anchor over z's "
                          f"{k} outputs", 2, device, dtype)
        if tuple(teacher.shape) != (n, k):
            _fail_shape(entry_id, "teacher", f"(n, K) = ({n}, {k}), one row per anchor over z's {k} outputs", teacher)
        inputs.teacher = teacher
    if given["center"] is not None:
        center = _floats(entry_id, "center", given["center"], f"(K,) = ({k},)", 1, device, dtype)
        if center.shape[0] != k:
            _fail_shape(entry_id, "center", f"(K,) = ({k},)", center)
        inputs.center = center
    if given["bank"] is not None:
        bank = _floats(entry_id, "bank", given["bank"], f"(m, d) with d = {k}", 2, device, dtype)
        if bank.shape[1] != k or bank.shape[0] < 1:
            _fail_shape(entry_id, "bank", f"(m, d) with m >= 1 and d = {k} (z's features)", bank)
        inputs.bank = bank
    m = None if inputs.bank is None else inputs.bank.shape[0]
    for name in ("bank_ids", "bank_labels"):
        if given[name] is not None:
            if m is None:
                raise IconError(f"{entry_id}: argument '{name}' describes the bank's rows: pass bank= too", argument=name)
            setattr(inputs, name, index_vector(entry_id, name, given[name], m, device,
                                               shape_text=f"(m,) = ({m},), m the rows of 'bank'"))
    if given["keys"] is not None:
        keys = _floats(entry_id, "keys", given["keys"], f"(n, d) = ({n}, {k})", 2, device, dtype)
        if tuple(keys.shape) != (n, k):
            _fail_shape(entry_id, "keys", f"(n, d) = ({n}, {k}), one key per anchor", keys)
        inputs.keys = keys

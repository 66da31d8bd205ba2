"""Datasets for ``icon fit`` / ``icon cluster``: scikit-learn's bundled sets and user feature files.

Every loader returns a :class:`Dataset` with float32 ``features`` (n, d), optional int64
``labels`` (n,), and, for image data, ``image_shape`` so that augmentations can work on pixels.
No loader downloads anything: digits, iris, wine and breast_cancer ship inside scikit-learn.

User files: ``.npy`` (a 2-D array of features; images (n, h, w) are flattened), ``.npz`` (keys
``features``/``labels`` or ``X``/``y``), ``.pt`` (a tensor, or a dict with the same keys, read
with ``torch.load(weights_only=True)``). Pickled objects are never loaded, sparse tensors never made
dense, complex numbers never cast to real. Anything else is an :class:`IconError` naming the file
and what is wrong with it, which ``load_dataset`` raises as a ``UsageError`` naming the option that
gave the file (``--data``, ``--features``, ``--labels``).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from dataclasses import dataclass, field

import numpy as np

from icon_registry.errors import IconError, UsageError, one_line, quote, shorten

BUILTIN = ("digits", "iris", "wine", "breast_cancer")
FEATURE_KEYS = ("features", "X", "x")
LABEL_KEYS = ("labels", "y")


@dataclass
class Dataset:
    name: str
    features: np.ndarray  # (n, d) float32
    labels: np.ndarray | None = None  # (n,) int64
    image_shape: tuple[int, int] | None = None
    info: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.features.shape[0])

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    @property
    def num_classes(self) -> int | None:
        return None if self.labels is None else int(self.labels.max()) + 1

    def subset(self, index) -> "Dataset":
        index = np.asarray(index)
        labels = None if self.labels is None else self.labels[index]
        return Dataset(self.name, self.features[index], labels, self.image_shape, dict(self.info))


def load_builtin(name: str) -> Dataset:
    from sklearn import datasets as skd

    if name == "digits":
        bunch = skd.load_digits()
        # Pixel intensities are 0..16; scale to [0, 1] so noise and shifts have a fixed meaning.
        x = bunch.data.astype(np.float32) / 16.0
        return Dataset("digits", x, bunch.target.astype(np.int64), (8, 8), {"source": "sklearn.datasets.load_digits"})
    loader = {"iris": skd.load_iris, "wine": skd.load_wine, "breast_cancer": skd.load_breast_cancer}[name]
    bunch = loader()
    x = bunch.data.astype(np.float64)
    # Tabular sets mix units: standardize each column.
    x = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)
    return Dataset(name, x.astype(np.float32), bunch.target.astype(np.int64), None, {"source": f"sklearn.datasets.load_{name}"})


def _as_numpy(value, path: str, what: str) -> np.ndarray:
    try:
        import torch

        if isinstance(value, torch.Tensor):
            return _tensor_as_numpy(value, path, what)
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (list, tuple)):
        try:
            return np.asarray(value)
        except Exception as exc:  # pragma: no cover - ragged lists
            raise IconError(f"{path}: {what} is not a rectangular array ({exc})", file=path) from None
    raise IconError(f"{path}: {what} must be an array or tensor, not {type(value).__name__}", file=path)


def _tensor_as_numpy(value, path: str, what: str) -> np.ndarray:
    """A strided tensor's values. A sparse one is refused rather than made dense: its dense form may
    not fit in memory, and the user knows whether it does (``tensor.to_dense()``)."""
    import torch

    if value.layout != torch.strided:
        raise IconError(f"{path}: the {what} are a sparse tensor ({str(value.layout).removeprefix('torch.')}); save "
                        "them dense (tensor.to_dense())", file=path)
    if value.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds each value exactly
        value = value.float()
    try:
        return value.detach().cpu().numpy()
    except (TypeError, RuntimeError) as exc:
        raise IconError(f"{path}: the {what} are a tensor of dtype {str(value.dtype).removeprefix('torch.')}, which "
                        f"cannot be read as numbers ({one_line(exc)}); save them as float32", file=path) from None


def _pick(mapping: dict, keys, path: str, what: str, required: bool):
    present = [k for k in keys if k in mapping]
    if len(present) > 1:
        raise IconError(f"{path}: both {present[0]!r} and {present[1]!r} given for the {what}; keep one", file=path)
    if present:
        return mapping[present[0]]
    if required:
        raise IconError(
            f"{path}: no {what} found; expected one of the keys {', '.join(map(repr, keys))} "
            f"(found: {', '.join(map(repr, mapping)) or 'nothing'})",
            file=path,
        )
    return None


#: float32's largest value: the features are used in float32, and squared distances between two rows
#: (each coordinate's difference squared, summed over the columns) must stay below it.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_features(x, path: str) -> np.ndarray:
    x = np.asarray(x)
    if np.iscomplexobj(x):  # a cast to float would drop the imaginary parts
        raise IconError(f"{path}: features must be real numbers, got complex ones (dtype {x.dtype}); save the real "
                        "part, the modulus, or both as separate columns", file=path)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise IconError(f"{path}: features must be numbers, got dtype {x.dtype}", file=path)
    if x.ndim == 1:
        raise IconError(f"{path}: features must be 2-D (n, d), got a 1-D array of shape {x.shape}; "
                        "one feature per row? reshape to (n, 1)", file=path)
    if x.ndim == 0:
        raise IconError(f"{path}: features must be 2-D (n, d), got a scalar", file=path)
    if x.ndim > 2:
        x = x.reshape(x.shape[0], -1)
    if x.shape[0] < 2 or x.shape[1] < 1:
        raise IconError(f"{path}: need at least 2 rows and 1 column of features, got shape {x.shape}", file=path)
    bad = ~np.isfinite(x)  # in the file's own dtype: a cast first would turn huge values into inf, with a warning
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise IconError(f"{path}: features contain {int(bad.sum())} NaN/inf values (first in row {row})", file=path)
    largest = max(abs(float(x.max())), abs(float(x.min())))
    limit = math.sqrt(FLOAT32_MAX / (4 * x.shape[1]))  # (2 * largest)^2 * d: the largest squared distance
    if largest > limit:
        raise IconError(f"{path}: features as large as {largest:.3g} in magnitude: squared distances between rows "
                        f"would overflow float32 (largest {FLOAT32_MAX:.3g}) past {limit:.3g} in {x.shape[1]} "
                        "columns; rescale them", file=path)
    return x.astype(np.float32)


def check_labels(y, n: int, path: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and 1 in y.shape:
        y = y.reshape(-1)
    if y.ndim != 1:
        raise IconError(f"{path}: labels must be 1-D (n,), got shape {y.shape}", file=path)
    if y.shape[0] != n:
        raise IconError(f"{path}: {y.shape[0]} labels for {n} feature rows", file=path)
    if np.iscomplexobj(y):
        raise IconError(f"{path}: labels must be integers (class ids), got complex numbers", file=path)
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise IconError(f"{path}: labels must be integers (class ids), got non-integer floats", file=path)
    elif not np.issubdtype(y.dtype, np.integer) and y.dtype != bool:
        # Strings or other categories: map to 0..C-1 in sorted order.
        try:
            _, y = np.unique(y.astype(str), return_inverse=True)
        except Exception:
            raise IconError(f"{path}: labels of dtype {y.dtype} cannot be read as classes", file=path) from None
    if y.min() < 0:
        raise IconError(f"{path}: labels must be >= 0 (found {int(y.min())})", file=path)
    # Relabel to 0..C-1 so that C = max + 1 is the number of classes actually present; in the labels' own
    # dtype (a cast of float or uint64 ids past int64's range would wrap them, with numpy's warning).
    _, y = np.unique(y, return_inverse=True)
    return y.astype(np.int64)


_TERMINAL_STYLE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: How each file type starts (a file that does not is not that type, whatever its name says), what that
#: start is, and what writes such files. torch.save writes a zip archive, or (legacy) a pickle.
_TORCH = ((b"PK\x03\x04", b"\x80"), "a zip archive or a pickle", "torch.save")
_KINDS = {".npy": ((b"\x93NUMPY",), "NumPy's header", "numpy.save"),
          ".npz": ((b"PK\x03\x04", b"PK\x05\x06"), "a zip archive", "numpy.savez"), ".pt": _TORCH, ".pth": _TORCH}


def _pickled(path: str, what: str, instead: str) -> IconError:
    """The file holds pickled objects: never loaded, since unpickling can run any code."""
    return IconError(f"{path}: it holds Python objects ({what}), which are never unpickled (that can run code); "
                     f"{instead}", file=path)


def _read_any(path: str):
    ext = os.path.splitext(path)[1].lower()
    if not os.path.exists(path):
        raise IconError(f"{path}: no such file", file=path)
    if os.path.isdir(path):
        raise IconError(f"{path}: is a directory, expected a .npy/.npz/.pt file", file=path)
    if ext not in _KINDS:
        raise IconError(f"{path}: unsupported file type {ext or '(none)'}; use .npy, .npz or .pt", file=path)
    starts, start, writer = _KINDS[ext]
    try:
        with open(path, "rb") as stream:
            if not stream.read(8).startswith(starts):
                raise IconError(f"{path}: not a {ext} file (it does not start with {start}); write it with {writer}",
                                file=path)
        if ext == ".npy":
            return np.load(path, allow_pickle=False)
        if ext == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        import torch

        return torch.load(path, map_location="cpu", weights_only=True)
    except IconError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever numpy or torch raise on a file they cannot read
        text = _TERMINAL_STYLE.sub("", str(exc))  # torch's messages carry terminal styling: dropped, not shown escaped
        if "allow_pickle" in text:  # numpy: an object array
            raise _pickled(path, "an object array", "save numeric arrays") from None
        refused = re.search(r"GLOBAL ([\w.]+)", text) if "weights_only" in text else None
        if refused:  # torch.load(weights_only=True) met an object that is not a tensor or a plain container
            raise _pickled(path, refused.group(1), "save tensors, or a dict of them") from None
        reason = text.splitlines()[0] if text.strip() else ""
        reason = f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
        raise IconError(f"{path}: cannot read this {ext} file ({shorten(reason, 200)})", file=path) from None


def load_file(path: str, labels_path: str | None = None) -> Dataset:
    raw = _read_any(path)
    labels = None
    if isinstance(raw, dict):
        x = _as_numpy(_pick(raw, FEATURE_KEYS, path, "features", True), path, "features")
        y = _pick(raw, LABEL_KEYS, path, "labels", False)
        x = check_features(x, path)
        if y is not None:
            labels = check_labels(_as_numpy(y, path, "labels"), x.shape[0], path)
    else:
        if getattr(raw, "dtype", None) is not None and getattr(raw.dtype, "names", None):
            raise IconError(f"{path}: structured arrays are not supported; save plain features", file=path)
        x = check_features(_as_numpy(raw, path, "features"), path)
    if labels_path is not None:
        if labels is not None:
            raise UsageError(f"argument --labels: {path} already holds labels; drop --labels {labels_path} or the "
                             "labels key", file=labels_path, argument="--labels")
        with _naming("--labels"):
            labels = load_labels(labels_path, x.shape[0])
    name = os.path.splitext(os.path.basename(path))[0]
    return Dataset(name, x, labels, None, {"source": os.path.abspath(path)})


def load_labels(path: str, n: int) -> np.ndarray:
    raw = _read_any(path)
    if isinstance(raw, dict):
        raw = _pick(raw, LABEL_KEYS, path, "labels", True)
    return check_labels(_as_numpy(raw, path, "labels"), n, path)


@contextlib.contextmanager
def _naming(option: str):
    """A problem with the file an option names as a usage error naming that option (exit 2)."""
    try:
        yield
    except UsageError:  # names its option already
        raise
    except IconError as err:
        raise UsageError(f"argument {option}: {err}", file=err.file, argument=option) from None


def load_dataset(name_or_path: str, labels_path: str | None = None, *, option: str = "--data") -> Dataset:
    """A built-in dataset by name (digits, iris, wine, breast_cancer) or a features file; ``option``
    names the command's option that gave it (icon cluster's is --features), and every problem is a
    UsageError naming it (--labels for the labels file)."""
    if name_or_path in BUILTIN:
        if labels_path is not None:
            raise UsageError(f"argument --labels: '{name_or_path}' has its own labels; --labels is for feature files",
                             argument="--labels")
        return load_builtin(name_or_path)
    if os.path.splitext(name_or_path)[1] == "" and not os.path.exists(name_or_path):
        import difflib

        close = difflib.get_close_matches(name_or_path, BUILTIN, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UsageError(
            f"argument {option}: unknown dataset {quote(name_or_path)}{hint} (built in: {', '.join(BUILTIN)}; or a "
            ".npy/.npz/.pt file)", argument=option,
        )
    with _naming(option):
        return load_file(name_or_path, labels_path)


def train_test_split_indices(labels: np.ndarray | None, n: int, test_fraction: float, seed: int):
    """Stratified when labels are given and each part can hold every class (each class has 2 rows or more,
    and both parts at least as many rows as there are classes); deterministic in ``seed``."""
    from sklearn.model_selection import train_test_split

    index = np.arange(n)
    test = math.ceil(test_fraction * n)  # scikit-learn's rounding of a fractional test_size
    counts = None if labels is None else np.bincount(labels)
    stratify = counts is not None and counts.min() >= 2 and min(test, n - test) >= counts.size
    strat = labels if stratify else None
    train, test = train_test_split(index, test_size=test_fraction, random_state=seed, stratify=strat)
    return np.sort(train), np.sort(test)

import os
import warnings

import numpy as np
import pytest
import torch

from icon_registry.errors import IconError, UsageError
from icon_registry.training import data


def test_digits_builtin():
    ds = data.load_dataset("digits")
    assert ds.features.shape == (1797, 64) and ds.labels.shape == (1797,)
    assert ds.features.max() <= 1.0 and ds.image_shape == (8, 8)


def test_unknown_builtin_suggests():
    with pytest.raises(IconError, match="did you mean 'digits'"):
        data.load_dataset("digit")


@pytest.mark.parametrize("labels", [True, False])
def test_npy_npz_pt(tmp_path, labels):
    x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    y = np.arange(20) % 4
    np.save(tmp_path / "f.npy", x)
    ds = data.load_dataset(str(tmp_path / "f.npy"))
    assert ds.features.shape == (20, 3) and ds.labels is None
    for keys in (("features", "labels"), ("X", "y")):
        arrays = {keys[0]: x, **({keys[1]: y} if labels else {})}
        np.savez(tmp_path / "f.npz", **arrays)
        ds = data.load_dataset(str(tmp_path / "f.npz"))
        assert np.allclose(ds.features, x)
        assert (ds.labels is not None) == labels
    torch.save({"features": torch.tensor(x), **({"labels": torch.tensor(y)} if labels else {})}, tmp_path / "f.pt")
    ds = data.load_dataset(str(tmp_path / "f.pt"))
    assert np.allclose(ds.features, x) and (ds.labels is not None) == labels
    torch.save(torch.tensor(x), tmp_path / "t.pt")
    assert data.load_dataset(str(tmp_path / "t.pt")).features.shape == (20, 3)


def test_separate_labels_file(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((5, 2)))
    np.save(tmp_path / "y.npy", np.array([0, 1, 0, 1, 1]))
    ds = data.load_dataset(str(tmp_path / "x.npy"), str(tmp_path / "y.npy"))
    assert ds.labels.tolist() == [0, 1, 0, 1, 1]


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: np.save(p / "bad.npy", np.zeros(5)), "2-D"),
        (lambda p: np.savez(p / "bad.npz", other=np.zeros((3, 2))), "no features found"),
        (lambda p: np.savez(p / "bad.npz", features=np.zeros((3, 2)), labels=np.zeros(4)), "4 labels for 3"),
        (lambda p: np.savez(p / "bad.npz", features=np.array([[1.0, np.nan], [0, 0]])), "NaN"),
        (lambda p: (p / "bad.npy").write_bytes(b"garbage"), "not a .npy file"),
        (lambda p: (p / "bad.npy").write_bytes(b"\x93NUMPY garbage"), "cannot read this .npy file"),
        (lambda p: (p / "bad.csv").write_text("1,2"), "unsupported file type"),
        (lambda p: np.savez(p / "bad.npz", features=np.zeros((3, 2)), labels=np.array([0.5, 1, 2])), "integers"),
    ],
)
def test_bad_files(tmp_path, make, message):
    make(tmp_path)
    path = next(tmp_path.iterdir())
    with pytest.raises(IconError, match=message):
        data.load_dataset(str(path))


def test_missing_file():
    with pytest.raises(IconError, match="no such file"):
        data.load_dataset("/nonexistent/f.npy")


def test_split_without_strata_when_a_part_cannot_hold_every_class():
    labels = np.repeat(np.arange(20), 2)
    train, test = data.train_test_split_indices(labels, 40, 0.3, 0)
    assert (train.size, test.size) == (28, 12) and np.array_equal(np.sort(np.concatenate([train, test])), np.arange(40))
    train, test = data.train_test_split_indices(np.arange(30) % 3, 30, 0.3, 0)
    assert np.bincount(np.arange(30)[test] % 3).tolist() == [3, 3, 3]  # stratified when it can be


def test_a_pt_file_torch_refuses_gives_a_message_without_terminal_styling(tmp_path):
    import datetime

    path = tmp_path / "f.pt"
    torch.save({"features": torch.zeros(3, 2), "when": datetime.datetime(2020, 1, 1)}, path)
    with pytest.raises(UsageError) as err:
        data.load_dataset(str(path))
    assert str(err.value) == (f"argument --data: {path}: it holds Python objects (datetime.datetime), which are never "
                              "unpickled (that can run code); save tensors, or a dict of them")


def _save_pickle_that_runs(path):
    import pickle

    class Runs:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path.write_bytes(pickle.dumps(Runs(), protocol=2))


@pytest.mark.parametrize("make, message", [
    (lambda p: torch.save(torch.ones(40, 3).to_sparse(), p / "f.pt"),
     "the features are a sparse tensor (sparse_coo); save them dense (tensor.to_dense())"),
    (lambda p: np.save(p / "f.npy", np.ones((40, 3), complex)),
     "features must be real numbers, got complex ones (dtype complex128); save the real part, the modulus, or both "
     "as separate columns"),
    (lambda p: torch.save({"features": torch.ones(40, 3, dtype=torch.complex64)}, p / "f.pt"),
     "features must be real numbers, got complex ones (dtype complex64)"),
    (lambda p: np.save(p / "f.npy", np.full((40, 3), 1e300)),
     "features as large as 1e+300 in magnitude: squared distances between rows would overflow float32 (largest "
     "3.4e+38) past 5.33e+18 in 3 columns; rescale them"),
    (lambda p: np.save(p / "f.npy", np.full((40, 3), 3e38, np.float32)), "features as large as 3e+38 in magnitude"),
    (lambda p: np.save(p / "f.npy", np.full((40, 3), np.iinfo(np.int64).max)), "features as large as 9.22e+18 in "
     "magnitude: squared distances"),
    (lambda p: (p / "f.npy").write_text("my notes"), "not a .npy file (it does not start with NumPy's header); write it "
     "with numpy.save"),
    (lambda p: np.save(p / "f.npy", np.array([[{"a": 1}], [None]], dtype=object), allow_pickle=True),
     "it holds Python objects (an object array), which are never unpickled (that can run code); save numeric arrays"),
    (lambda p: (p / "f.npz").write_text("my notes"), "not a .npz file (it does not start with a zip archive); write it "
     "with numpy.savez"),
    (lambda p: np.savez(p / "f.npz", features=np.array([[object()], [1]], dtype=object)),
     "it holds Python objects (an object array)"),
    (lambda p: (p / "f.pt").write_text("hello"), "not a .pt file (it does not start with a zip archive or a pickle); "
     "write it with torch.save"),
    (lambda p: _save_pickle_that_runs(p / "f.pt"), "it holds Python objects (posix.system), which are never unpickled "
     "(that can run code); save tensors, or a dict of them"),
])
def test_a_file_that_cannot_be_features_is_a_usage_error_naming_the_option(tmp_path, make, message):
    make(tmp_path)
    path = next(tmp_path.iterdir())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the check, not numpy's warning (a cast's overflow, a ComplexWarning)
        for option in ("--data", "--features"):
            with pytest.raises(UsageError) as err:
                data.load_dataset(str(path), option=option)
            assert str(err.value).startswith(f"argument {option}: {path}: {message}") and err.value.argument == option


def test_a_labels_file_is_named_by_labels(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((5, 2)))
    (tmp_path / "y.npy").write_text("my notes")
    with pytest.raises(UsageError, match=r"^argument --labels: .*y\.npy: not a \.npy file") as err:
        data.load_dataset(str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), option="--features")
    assert err.value.argument == "--labels"
    with pytest.raises(UsageError, match="^argument --labels: 'iris' has its own labels; --labels is for feature files$"):
        data.load_dataset("iris", str(tmp_path / "y.npy"))


def test_bfloat16_and_float16_tensors_are_read_exactly(tmp_path):
    x = torch.randn(20, 3).to(torch.bfloat16)
    torch.save(x, tmp_path / "b.pt")
    assert np.array_equal(data.load_dataset(str(tmp_path / "b.pt")).features, x.float().numpy())
    torch.save(x.half(), tmp_path / "h.pt")
    assert np.array_equal(data.load_dataset(str(tmp_path / "h.pt")).features, x.half().float().numpy())

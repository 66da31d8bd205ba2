import numpy as np
import pytest
import torch

from icon_registry.training import data
from icon_registry.training._errors import IconError


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
        (lambda p: (p / "bad.npy").write_bytes(b"garbage"), "cannot read"),
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
    with pytest.raises(IconError) as err:
        data.load_dataset(str(path))
    assert "\x1b" not in str(err.value) and str(err.value).startswith(f"{path}: cannot read this .pt file (")

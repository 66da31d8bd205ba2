import numpy as np
import torch

from icon_registry.training import augment, losses, mappers, trainer


def test_trainer_decreases_hand_written_loss():
    x = torch.randn(64, 5, generator=torch.Generator().manual_seed(0))

    def loss_fn(z, *, ids):
        zn = torch.nn.functional.normalize(z, dim=1)
        logits = (zn @ zn.T / 0.5).fill_diagonal_(-1e9)
        pos = (ids[:, None] == ids[None, :]).float().fill_diagonal_(0)
        return -(torch.log_softmax(logits, 1) * pos).sum(1).mean()

    loss_fn.requires = {"ids"}
    m = mappers.build_mapper("mlp", n=64, d_in=5, d_out=4, hidden=32)
    b = trainer.BatchBuilder(x, loss_fn.requires, views=2, augment=augment.FeatureAugment(0.1, 0.0),
                             generator=torch.Generator().manual_seed(0))
    r = trainer.train(loss_fn, m, b, n=64, epochs=30, batch_size=32, lr=1e-2)
    assert r.history[-1] < r.history[0]


def test_orthonormal_linear_stays_orthonormal_and_finds_pca():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)) * np.array([5, 3, 1, 0.5, 0.2, 0.1])
    xt = torch.tensor(x, dtype=torch.float32)
    loss = losses.compiled_loss(losses.builtin_entry("pca"), sigma=100.0)
    m = mappers.build_mapper("linear", n=200, d_in=6, d_out=2, x=x, orthonormal=True)
    trainer.train(loss, m, trainer.BatchBuilder(xt, set()), n=200, epochs=200, lr=5e-2)
    w = m.weight.detach().double()
    assert torch.allclose(w.T @ w, torch.eye(2, dtype=torch.float64), atol=1e-5)
    from icon_registry.training.metrics import largest_principal_angle

    assert largest_principal_angle(w.numpy(), np.eye(6)[:, :2]) < 0.05


def test_image_augment_shapes_and_range():
    x = torch.rand(10, 64)
    out = augment.ImageAugment((8, 8))(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(out, x)


class _Scale(torch.nn.Module):
    """z = x * w: one parameter the tests can watch."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1, 2))

    def forward(self, x, index):
        return x * self.w


def _train(loss_fn, lr=1e-2, epochs=5):
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    loss_fn.requires = set()
    return trainer.train(loss_fn, _Scale(), trainer.BatchBuilder(x, set()), n=8, epochs=epochs, lr=lr)


def _message(loss_fn, **kw):
    import pytest

    from icon_registry.errors import IconError

    with pytest.raises(IconError) as info:
        _train(loss_fn, **kw)
    return str(info.value)


def test_nan_loss_before_any_update_is_not_blamed_on_the_learning_rate():
    message = _message(lambda z: (z * float("nan")).sum())
    assert message.startswith("the loss is nan at epoch 1, step 1, before any update")
    assert "not a learning-rate problem" in message and "lower the learning rate" not in message


def test_nan_gradient_with_a_finite_loss_names_the_parameter():
    def loss_fn(z):  # a finite value; the unselected branch's sqrt(0) sends 0 * inf = NaN into the backward
        return torch.where(z > 1e9, torch.sqrt(z - z.detach()), z).sum()

    message = _message(loss_fn)
    assert message.startswith("the gradient of mapper.w has NaN or inf entries at epoch 1, step 1 (the loss is finite")
    assert "no update was applied" in message and "lower the learning rate" not in message


def test_steps_that_blow_the_parameters_up_suggest_a_lower_learning_rate():
    message = _message(lambda z: (z ** 2).sum().exp(), lr=1e3)
    assert message.startswith("the loss is inf at epoch 2, step 1, after 1 updates that grew the largest parameter")
    assert message.endswith("lower the learning rate (now 1000, --lr)")


def test_a_loss_that_breaks_with_parameters_in_range_is_not_the_step_size():
    calls = []

    def loss_fn(z):
        calls.append(1)
        return (z ** 2).sum() * (float("nan") if len(calls) == 3 else 1.0)

    message = _message(loss_fn)
    assert message.startswith("the loss is nan at epoch 3, step 1, after 2 updates, with parameters still in range")
    assert "not the step size" in message


def test_a_non_finite_loss_is_the_error_alone_without_a_warning():
    """float() of a loss that requires grad warns in torch, and the warning prints our source line
    (`raise IconError(...)`) on stderr; the check reads the value detached."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        message = _message(lambda z: (z * float("nan")).sum())
    assert message.startswith("the loss is nan at epoch 1, step 1, before any update")


def test_the_remainder_joins_the_last_batch_and_each_step_counts_for_its_items():
    """10 items in batches of 4: 4 and 6 (a batch of the 2 left over could hold no supervised pair:
    batch-local kNN lists), the epoch's loss weighted 4 : 6."""
    x = torch.randn(10, 2, generator=torch.Generator().manual_seed(0))

    def batch_size_as_loss(z):
        return (z * 0).sum() + z.shape[0]

    batch_size_as_loss.requires = set()
    result = trainer.train(batch_size_as_loss, _Scale(), trainer.BatchBuilder(x, set()), n=10, epochs=2,
                           batch_size=4, lr=1e-3)
    assert result.history == [(4 * 4 + 6 * 6) / 10] * 2 and result.steps == 4

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

"""Augmentations producing views for contrastive entries.

``ImageAugment`` works on flattened small images (digits: 8x8, intensities in [0, 1]): a random
shift of up to ``max_shift`` pixels (zero fill), a random crop of ``crop`` x ``crop`` pixels
resized back (bilinear), random erasing of a ``mask`` x ``mask`` square, and gaussian noise.
``FeatureAugment`` is for plain feature vectors: gaussian noise relative to the features' scale
and random feature dropout. Both are callables ``aug(x_batch, generator) -> x_batch'`` that run
on the batch's device, one independent draw per row.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class ImageAugment:
    def __init__(self, shape: tuple[int, int], *, max_shift: int = 1, crop_prob: float = 0.5, crop: int = 6,
                 mask_prob: float = 0.5, mask: int = 3, noise: float = 0.1, clip: tuple[float, float] = (0.0, 1.0)):
        self.shape = tuple(shape)
        self.max_shift, self.crop_prob, self.crop = max_shift, crop_prob, crop
        self.mask_prob, self.mask, self.noise, self.clip = mask_prob, mask, noise, clip

    def _rand(self, size, g, device, high=None):
        if high is not None:
            return torch.randint(0, high, size, generator=g, device="cpu").to(device)
        return torch.rand(size, generator=g, device="cpu").to(device)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        n = x.shape[0]
        h, w = self.shape
        dev = x.device
        img = x.reshape(n, 1, h, w)
        # Crop-and-resize and shifts as one affine sampling grid per image.
        scale = torch.ones(n, device=dev)
        if self.crop_prob > 0 and self.crop < h:
            use = self._rand((n,), generator, dev) < self.crop_prob
            scale = torch.where(use, torch.full_like(scale, self.crop / h), scale)
        # Shift in pixels, then to the [-1, 1] grid units (2 / size per pixel).
        s = self.max_shift
        tx = (self._rand((n,), generator, dev, 2 * s + 1).float() - s) * 2.0 / w if s > 0 else torch.zeros(n, device=dev)
        ty = (self._rand((n,), generator, dev, 2 * s + 1).float() - s) * 2.0 / h if s > 0 else torch.zeros(n, device=dev)
        # A crop of the (possibly shifted) window: offsets within the remaining margin.
        margin = 1.0 - scale
        ox = (self._rand((n,), generator, dev) * 2 - 1) * margin
        oy = (self._rand((n,), generator, dev) * 2 - 1) * margin
        theta = torch.zeros(n, 2, 3, device=dev, dtype=x.dtype)
        theta[:, 0, 0] = scale
        theta[:, 1, 1] = scale
        theta[:, 0, 2] = ox - tx
        theta[:, 1, 2] = oy - ty
        grid = F.affine_grid(theta, img.shape, align_corners=False)
        img = F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        if self.mask_prob > 0 and self.mask > 0:
            use = self._rand((n,), generator, dev) < self.mask_prob
            r0 = self._rand((n,), generator, dev, h - self.mask + 1)
            c0 = self._rand((n,), generator, dev, w - self.mask + 1)
            rows = torch.arange(h, device=dev)[None, :]
            cols = torch.arange(w, device=dev)[None, :]
            in_r = (rows >= r0[:, None]) & (rows < r0[:, None] + self.mask)
            in_c = (cols >= c0[:, None]) & (cols < c0[:, None] + self.mask)
            square = (in_r[:, :, None] & in_c[:, None, :]) & use[:, None, None]
            img = img.masked_fill(square[:, None], 0.0)
        out = img.reshape(n, h * w)
        if self.noise > 0:
            out = out + self.noise * torch.randn(out.shape, generator=generator, device="cpu").to(dev)
        if self.clip is not None:
            out = out.clamp(*self.clip)
        return out


class FeatureAugment:
    def __init__(self, noise: float = 0.1, dropout: float = 0.1, scale: float = 1.0):
        self.noise, self.dropout, self.scale = noise, dropout, scale

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        out = x
        if self.dropout > 0:
            keep = torch.rand(x.shape, generator=generator, device="cpu").to(x.device) >= self.dropout
            out = out * keep
        if self.noise > 0:
            out = out + self.noise * self.scale * torch.randn(x.shape, generator=generator, device="cpu").to(x.device)
        return out


def default_augment(dataset, strength: float = 1.0):
    """Image augmentations for image data (digits), feature noise otherwise."""
    if dataset.image_shape is not None:
        return ImageAugment(dataset.image_shape, noise=0.1 * strength)
    rms = float((dataset.features ** 2).mean() ** 0.5)
    return FeatureAugment(noise=0.1 * strength, dropout=0.1 * strength, scale=rms)

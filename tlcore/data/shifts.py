"""Corruption shifts: controlled domain shifts of one dataset, severity 0-5.

A shift turns a source domain into a target domain whose distance from the source the
user dials in ("mnist:rotate=3"), in the spirit of ImageNet-C / MNIST-C. Each shift has
one magnitude per severity; severity 0 returns the images unchanged, and the random
parts (rotation direction, noise, tint colours, which images invert) are drawn once
from ``seed`` and reused at every severity, so a higher severity moves every image
further from the original (tests check the distance grows).

Images are uint8 ``[N, C, H, W]`` in and out. ``colour`` turns grey images into RGB;
every other shift keeps the channel count. Geometric shifts fill the border by
replicating the edge, which keeps MNIST black and photo backgrounds plausible.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tlcore.registry import Registry

# torch is imported inside the functions that make tensors, not here: Home's first paint
# imports tlcore.data (for the registry of dataset and shift names) and must not wait
# seconds for torch. After the first call each local import is a dict lookup.
if TYPE_CHECKING:
    import torch

MAX_SEVERITY = 5
CHUNK = 8192  # images per batch of float work; fixed so results never depend on it

ShiftFn = Callable[["torch.Tensor", float, "torch.Generator"], "torch.Tensor"]


@dataclass(frozen=True)
class ShiftSpec:
    """``fn(x, magnitude, generator)`` works on float ``[n, C, H, W]`` in [0, 1];
    ``levels[s - 1]`` is the magnitude at severity ``s``."""

    name: str
    description: str
    levels: tuple[float, ...]
    fn: ShiftFn


SHIFTS: Registry[ShiftSpec] = Registry("shift")


def _affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    import torch.nn.functional as F

    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _rotate(x: torch.Tensor, degrees: float, g: torch.Generator) -> torch.Tensor:
    import torch

    sign = torch.randint(0, 2, (len(x),), generator=g).float() * 2 - 1
    a = sign * math.radians(degrees)
    cos, sin = torch.cos(a), torch.sin(a)
    zero = torch.zeros_like(a)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    return _affine(x, theta)


def _noise(x: torch.Tensor, std: float, g: torch.Generator) -> torch.Tensor:
    import torch

    return x + std * torch.randn(x.shape, generator=g)


def _px_scale(x: torch.Tensor) -> float:
    """Pixel magnitudes are given for 28 px images and grow with larger ones; smaller
    images (sklearn's 8x8 digits) keep the 28 px values, else low severities would round
    to nothing."""
    return max(x.shape[-1], 28) / 28


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    import torch

    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def _blur(x: torch.Tensor, sigma28: float, g: torch.Generator) -> torch.Tensor:
    import torch.nn.functional as F

    sigma = sigma28 * _px_scale(x)
    k = _gaussian_kernel(sigma)
    n, c, h, w = x.shape
    r = len(k) // 2
    y = x.reshape(n * c, 1, h, w)
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
    return y.reshape(n, c, h, w)


def _contrast(x: torch.Tensor, factor: float, g: torch.Generator) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return mean + factor * (x - mean)


def _invert(x: torch.Tensor, fraction: float, g: torch.Generator) -> torch.Tensor:
    import torch

    # One uniform draw per image: the inverted sets are nested as the fraction grows.
    u = torch.rand(len(x), generator=g)
    flip = (u < fraction).view(-1, 1, 1, 1)
    return torch.where(flip, 1.0 - x, x)


def _colour(x: torch.Tensor, amount: float, g: torch.Generator) -> torch.Tensor:
    """Blend towards a random two-colour tint: dark pixels -> c0, bright -> c1."""
    import torch

    n = len(x)
    c0 = torch.rand(n, 3, generator=g)
    c1 = torch.rand(n, 3, generator=g)
    luma = torch.tensor([0.299, 0.587, 0.114])
    weak = ((c1 - c0) @ luma).abs() < 0.3
    c1 = torch.where(weak[:, None], 1.0 - c0, c1)  # keep the tinted image readable
    x3 = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
    lum = x3.mean(dim=1, keepdim=True)
    tint = c0[:, :, None, None] + (c1 - c0)[:, :, None, None] * lum
    return (1 - amount) * x3 + amount * tint


def _scale(x: torch.Tensor, factor: float, g: torch.Generator) -> torch.Tensor:
    import torch

    n = len(x)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / factor
    return _affine(x, theta)


def _pixelate(x: torch.Tensor, block28: float, g: torch.Generator) -> torch.Tensor:
    import torch.nn.functional as F

    # Whole square blocks from the top-left corner (a partial last block averages what it
    # covers). Integer block sizes, not a resize factor: a factor like 0.5 aligns with the
    # pixel grid and looks *less* blocky than 0.6, breaking severity order. Images much
    # smaller than 28 px (8x8 digits) run out of distinct block sizes, so there severities
    # 3-5 are about equally strong.
    h, w = x.shape[-2:]
    b = max(1, round(block28 * _px_scale(x)))
    small = F.avg_pool2d(x, kernel_size=b, stride=b, ceil_mode=True)
    big = small.repeat_interleave(b, dim=-2).repeat_interleave(b, dim=-1)
    return big[..., :h, :w]


for _spec in (
    ShiftSpec("rotate", "rotate each image left or right by 10-60 degrees",
              (10.0, 20.0, 30.0, 45.0, 60.0), _rotate),
    ShiftSpec("noise", "add Gaussian pixel noise (std 4-26% of the range)",
              (0.04, 0.08, 0.12, 0.18, 0.26), _noise),
    ShiftSpec("blur", "Gaussian blur (sigma 0.5-2 px at 28 px)",
              (0.5, 0.8, 1.1, 1.5, 2.0), _blur),
    ShiftSpec("contrast", "squeeze contrast towards each image's mean (to 70%-12%)",
              (0.7, 0.5, 0.35, 0.22, 0.12), _contrast),
    ShiftSpec("invert", "turn a growing share of images into negatives (20%-100%)",
              (0.2, 0.4, 0.6, 0.8, 1.0), _invert),
    ShiftSpec("colour", "tint with random colour pairs (grey becomes RGB), 20%-100% strength",
              (0.2, 0.4, 0.6, 0.8, 1.0), _colour),
    ShiftSpec("scale", "zoom out: shrink the content to 90%-50% of its size",
              (0.9, 0.8, 0.7, 0.6, 0.5), _scale),
    ShiftSpec("pixelate", "average over square blocks of 2-7 px (at 28 px)",
              (2.0, 3.0, 4.0, 5.0, 7.0), _pixelate),
):
    SHIFTS.add(_spec)


def _generator(name: str, seed: int) -> torch.Generator:
    import torch

    # crc32, not hash(): stable across processes, and each shift gets its own stream.
    return torch.Generator().manual_seed(zlib.crc32(f"{name}:{seed}".encode()))


def apply_shift(images: torch.Tensor, name: str, severity: int, *, seed: int = 0) -> torch.Tensor:
    """Apply shift ``name`` at ``severity`` (0 = identity, 5 = strongest).

    images: uint8 ``[N, C, H, W]``; returns uint8 ``[N, C', H, W]`` (C' = 3 for
    ``colour``, else C), deterministic given ``(images, name, severity, seed)``.
    """
    import torch

    spec = SHIFTS.get(name)
    if isinstance(severity, bool) or not isinstance(severity, int) or not 0 <= severity <= MAX_SEVERITY:
        raise ValueError(f"severity must be an integer 0-{MAX_SEVERITY}, got {severity!r}")
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 [N, C, H, W], got {images.dtype} "
                         f"{tuple(images.shape)}")
    if severity == 0:
        return images.clone()
    magnitude = spec.levels[severity - 1]
    g = _generator(name, seed)
    out = []
    with torch.no_grad():
        for start in range(0, len(images), CHUNK):
            x = images[start:start + CHUNK].float() / 255.0
            y = spec.fn(x, magnitude, g)
            out.append((y * 255.0).round_().clamp_(0, 255).to(torch.uint8))
    if not out:
        c = 3 if name == "colour" else images.shape[1]
        return images.new_empty((0, c, *images.shape[2:]))
    return torch.cat(out)

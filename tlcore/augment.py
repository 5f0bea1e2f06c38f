"""The one augmentation the lab uses: a random shift by up to 2 pixels."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_shift(x: torch.Tensor, gen: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Translate a batch ``[N, C, H, W]`` by one random offset (replicate-pad, then crop):
    cheap, keeps digits legible, and deterministic given ``gen``."""
    p = max_shift
    pad = F.pad(x, (p, p, p, p), mode="replicate")
    i, j = torch.randint(0, 2 * p + 1, (2,), generator=gen).tolist()
    return pad[..., i:i + x.shape[-2], j:j + x.shape[-1]]

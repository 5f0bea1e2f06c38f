"""Input preprocessing that travels with the weights (torchvision ``Weights.transforms``).

Datasets hold uint8 ``[N, C, H, W]`` at native size; a backbone's weights say what size,
channel count and normalisation they expect. Grey images are repeated to 3 channels
(colour is then simply absent, which is what an ImageNet model sees in a grey photo);
colour images given to a 1-channel model are averaged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Preprocess:
    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels: int = 3

    def with_size(self, size: int) -> Preprocess:
        return Preprocess(size=size, mean=self.mean, std=self.std, channels=self.channels)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``[N, C, H, W]`` -> float ``[N, channels, size, size]``, normalised."""
        if images.dtype != torch.uint8:
            raise TypeError(f"expected uint8 images, got {images.dtype}")
        x = images.float().div_(255.0)
        c = x.shape[1]
        if c == 1 and self.channels == 3:
            x = x.expand(-1, 3, -1, -1)
        elif c == 3 and self.channels == 1:
            x = x.mean(dim=1, keepdim=True)
        if x.shape[-2:] != (self.size, self.size):
            # antialias whenever either side shrinks (a tall photo shrinks in height while
            # growing in width); for square dataset images this is the old rule exactly
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear",
                              align_corners=False, antialias=max(x.shape[-2:]) > self.size)
        mean = torch.tensor(self.mean, dtype=x.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype).view(1, -1, 1, 1)
        return (x - mean) / std

    def to_dict(self) -> dict:
        return {"size": self.size, "mean": list(self.mean), "std": list(self.std),
                "channels": self.channels}

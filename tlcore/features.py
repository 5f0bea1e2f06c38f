"""Computing (and caching) what frozen layers compute: the fast path's core.

When the first ``k`` groups of a network are a fixed function during a run (frozen,
BatchNorm statistics frozen, no augmentation), their output for each image never
changes, so it is computed once here, optionally kept on disk across runs under a key
naming everything it depends on, and training runs only groups ``k:``.
"""

from __future__ import annotations

import hashlib
import json
import os

import torch

from tlcore.models.base import GroupedNet
from tlcore.paths import cache_dir

MAX_CACHE_BYTES = 1 << 30  # beyond this, recomputing is the better trade on a laptop


@torch.no_grad()
def run_prefix(net: GroupedNet, x: torch.Tensor, k: int, batch: int = 64,
               device: torch.device | None = None) -> torch.Tensor:
    """Output of groups ``0:k`` for preprocessed inputs ``x`` (``k = 0`` returns ``x``).

    Batch 64, not larger: on a laptop CPU, batches of 256 run 2-3x slower per image
    because their activations no longer fit in cache (measured in bench/)."""
    if k == 0:
        return x
    was = net.training
    net.eval()
    outs = []
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        if device is not None:
            xb = xb.to(device)
        outs.append(net.forward_features(xb, 0, k).cpu())
    net.train(was)
    return torch.cat(outs)


def prefix_fits(net: GroupedNet, sample: torch.Tensor, k: int, n: int,
                device: torch.device | None = None) -> bool:
    """Whether ``n`` images' outputs of groups ``0:k`` stay within ``MAX_CACHE_BYTES``, judged
    from one preprocessed ``sample`` image (or batch) run through them."""
    if k == 0:
        return True
    out = run_prefix(net, sample[:1], k, device=device)
    return out[0].numel() * 4 * n <= MAX_CACHE_BYTES


def feature_key(parts: dict) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def cached_prefix(key_parts: dict | None, compute) -> torch.Tensor:
    """Disk cache for frozen-prefix outputs; ``key_parts`` None disables it."""
    if key_parts is None:
        return compute()
    folder = cache_dir() / "features"
    path = folder / f"{feature_key(key_parts)}.pt"
    if path.is_file():
        try:
            return torch.load(path, weights_only=True)
        except Exception:  # a damaged cache file is just recomputed
            path.unlink(missing_ok=True)
    out = compute()
    if out.numel() * out.element_size() <= MAX_CACHE_BYTES:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(out, tmp)
        os.replace(tmp, path)
    return out

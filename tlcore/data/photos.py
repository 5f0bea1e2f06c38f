"""Colour photos that ship inside installed packages, for MNIST-M's backgrounds.

Ganin et al. used BSDS500 photos, which are not on this machine. scikit-learn ships two
photos and scikit-image a handful of colour samples; both sets are read straight from the
package folders (no import of skimage, no pooch download), and any file that is missing
is skipped. Licences are quoted from scikit-learn's ``datasets/images/README.txt`` and
from the docstrings of the matching ``skimage.data`` functions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tlcore.data.cache import file_sha256
from tlcore.data.sources._common import module_dir

# (package, folder inside it, file, name, licence)
PHOTO_FILES = (
    ("sklearn", "datasets/images", "china.jpg", "china",
     "CC BY 2.0, danielbuechele on Flickr (scikit-learn images/README.txt)"),
    ("sklearn", "datasets/images", "flower.jpg", "flower",
     "CC BY 2.0, vultilion on Flickr (scikit-learn images/README.txt)"),
    ("skimage", "data", "astronaut.png", "astronaut",
     "public domain (NASA Great Images; skimage.data.astronaut)"),
    ("skimage", "data", "coffee.png", "coffee",
     "CC0, Rachel Michetti (skimage.data.coffee)"),
    ("skimage", "data", "chelsea.png", "chelsea",
     "CC0, Stefan van der Walt (skimage.data.chelsea)"),
    ("skimage", "data", "rocket.jpg", "rocket",
     "public domain (SpaceX; skimage.data.rocket)"),
    ("skimage", "data", "hubble_deep_field.jpg", "hubble_deep_field",
     "public domain (NASA; skimage.data.hubble_deep_field)"),
    ("skimage", "data", "ihc.png", "immunohistochemistry",
     "no known copyright restrictions (skimage.data.immunohistochemistry)"),
    ("skimage", "data", "retina.jpg", "retina",
     "CC0 1.0, Mikael Häggström (skimage.data.retina)"),
)


@dataclass(frozen=True, eq=False)
class Photo:
    name: str
    path: str
    sha256: str
    licence: str
    pixels: np.ndarray  # uint8 [H, W, 3]

    def to_dict(self) -> dict:
        h, w = self.pixels.shape[:2]
        return {"name": self.name, "path": self.path, "sha256": self.sha256,
                "licence": self.licence, "size": [w, h]}


def photo_paths() -> list[tuple[Path, str, str]]:
    """``(path, name, licence)`` of the listed photos present on this machine."""
    found = []
    for package, folder, file, name, licence in PHOTO_FILES:
        root = module_dir(package)
        if root is not None and (root / folder / file).is_file():
            found.append((root / folder / file, name, licence))
    return found


@functools.cache
def load_photos() -> tuple[Photo, ...]:
    """Decoded RGB photos (unreadable files are skipped)."""
    photos = []
    for path, name, licence in photo_paths():
        try:
            with Image.open(path) as im:
                pixels = np.asarray(im.convert("RGB"), dtype=np.uint8)
        except OSError:
            continue
        photos.append(Photo(name, str(path), file_sha256(path), licence, pixels))
    return tuple(photos)

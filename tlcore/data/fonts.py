"""Finding TrueType/OpenType fonts on this machine that can draw the digits 0-9.

Used by ``synth_digits``. Fonts come from the usual system font folders (Debian's font
packages, which ``scripts/setup.sh`` installs), never from a Python package's own folder. A font is kept when it loads, draws all
ten digits non-empty, draws no two digits identically (a font lacking digits draws the
same "tofu" box for each), and its family is not a known pictograph family.

Why the name list: URW's Dingbats maps the ASCII digit codes to pictures in its Unicode
table, so it passes every structural test. Matching glyphs against a consensus template
was tried and could not separate it from genuine handwriting fonts (dkg, Delphine), so
pictograph families are named explicitly instead.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, features

from tlcore.data.cache import file_sha256

FONT_SUFFIXES = (".ttf", ".otf")
PICTOGRAPH_FAMILIES = ("dingbat", "d050000l", "wingding", "webding", "emoji",
                       "awesome", "icons", "marlett", "opensymbol")

# Folder name fragment -> licence of the fonts found under it (from each Debian
# package's copyright file, or the upstream project).
_LICENCES = (
    ("dejavu", "DejaVu: Bitstream Vera licence (DejaVu changes public domain)"),
    ("liberation", "Liberation: GPL-2 with font exception (Red Hat)"),
    ("urw-base35", "URW base35: AGPL-3 with font exception"),
    ("fifthhorseman", "dkg-handwriting: GPL-3+ / OFL-1.1"),
    ("sjfonts", "SJFonts: GPL-2 with font exception"),
    ("noto", "Noto: SIL OFL 1.1"),
)


@dataclass(frozen=True)
class FontFile:
    path: str
    family: str
    style: str
    sha256: str
    licence: str

    def to_dict(self) -> dict:
        return {"path": self.path, "family": self.family, "style": self.style,
                "sha256": self.sha256, "licence": self.licence}


def font_dirs() -> list[Path]:
    """The system font folders. matplotlib's bundled folder is not one of them: matplotlib
    arrives as a dependency of a dependency (captum), and its 24 fonts appearing or not
    would change ``synth_digits`` itself, and with it the data ``lab_synth_digits`` was
    pretrained and scored on (its card lists the 78 system fonts it used)."""
    dirs = []
    if sys.platform == "darwin":
        dirs += [Path("/System/Library/Fonts"), Path("/Library/Fonts")]
    elif os.name == "nt":
        dirs.append(Path(os.environ.get("WINDIR", "C:/Windows")) / "Fonts")
    else:
        dirs += [Path("/usr/share/fonts"), Path("/usr/local/share/fonts")]
    return [d for d in dirs if d.is_dir()]


def candidate_font_files() -> list[Path]:
    """Every .ttf/.otf under the font folders, sorted, duplicates (by real path) dropped."""
    seen: dict[str, Path] = {}
    for d in font_dirs():
        for p in sorted(d.rglob("*")):
            if p.suffix.lower() in FONT_SUFFIXES and p.is_file():
                seen.setdefault(os.path.realpath(p), p)
    return sorted(seen.values(), key=str)


def freetype_available() -> bool:
    return bool(features.check("freetype2"))


def licence_for(path: Path) -> str:
    parts = str(path).lower()
    for fragment, licence in _LICENCES:
        if fragment in parts:
            return licence
    return "see the font file's own licence"


def _digit_bitmaps(font: ImageFont.FreeTypeFont) -> list[np.ndarray]:
    out = []
    for d in "0123456789":
        im = Image.new("L", (144, 144))
        ImageDraw.Draw(im).text((72, 72), d, font=font, fill=255, anchor="mm")
        box = im.getbbox()
        out.append(np.zeros((0, 0), np.uint8) if box is None else np.asarray(im.crop(box)))
    return out


def draws_digits(font: ImageFont.FreeTypeFont) -> bool:
    """All ten digits non-empty and pairwise different."""
    bitmaps = _digit_bitmaps(font)
    if any(b.size == 0 or b.max() == 0 for b in bitmaps):
        return False
    keys = {(b.shape, b.tobytes()) for b in bitmaps}
    return len(keys) == len(bitmaps)


@functools.cache
def digit_fonts() -> tuple[FontFile, ...]:
    """Fonts on this machine that draw the digits (see the module docstring), sorted by path."""
    kept = []
    for p in candidate_font_files():
        try:
            font = ImageFont.truetype(str(p), 48)
        except OSError:
            continue
        family, style = font.getname()
        family, style = family or p.stem, style or ""
        if any(bad in f"{family} {p.stem}".lower() for bad in PICTOGRAPH_FAMILIES):
            continue
        if draws_digits(font):
            kept.append(FontFile(str(p), family, style, file_sha256(p), licence_for(p)))
    return tuple(kept)

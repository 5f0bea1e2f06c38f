"""Synthetic printed digits: 0-9 drawn from every usable font on this machine.

A domain with MNIST's labels but typeset shapes, colour and clutter-free backgrounds
(in the spirit of SynDigits, Ganin et al. 2016). Each image draws a font, a digit height,
a rotation, a stroke weight, an offset and a foreground/background colour pair with a
minimum brightness contrast, all from one fixed seed. Rendering happens at 4x (112 px)
and is box-filtered down to 28x28 for anti-aliasing.

Speed: each (font, digit, stroke) glyph is rasterised once; every sample is then one
affine warp (scale + rotation + offset in a single resample) and a 4x reduce, and the
colouring is vectorised over all samples. 10,000 images take a few seconds, once: the
result is cached.

The set of fonts differs between machines, so the images do too; provenance lists every
font file with its sha256 and licence, and the cache key includes them.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tlcore.data.base import (
    DATASETS,
    Availability,
    DatasetSpec,
    DatasetUnavailable,
    ImageDataset,
    Provenance,
)
from tlcore.data.cache import file_digests
from tlcore.data.fonts import FontFile, candidate_font_files, digit_fonts, freetype_available
from tlcore.data.sources._common import DIGIT_CLASSES

# torch is imported inside the loader, not here: importing tlcore.data registers this source,
# and Home's first paint imports tlcore.data (for dataset names) without waiting for torch.

SEED = 0
PER_CLASS = 1000
SIZE = 28
SCALE = 4  # render at SIZE * SCALE, then reduce
GLYPH_PX = 96  # font size for the glyph atlas
STROKES = (0, 2, 4)  # extra outline width at GLYPH_PX, i.e. thin / normal / bold
HEIGHT_RANGE = (0.50, 0.85)  # digit height as a fraction of the canvas
MAX_ROTATION = 20.0  # degrees either way
MIN_CONTRAST = 90.0  # min |luma(fg) - luma(bg)| on 0-255
LICENCE = "generated here; fonts under their own licences (listed in provenance)"


def _glyph(font: ImageFont.FreeTypeFont, ch: str, stroke: int) -> Image.Image:
    side = 3 * GLYPH_PX
    im = Image.new("L", (side, side))
    ImageDraw.Draw(im).text((side // 2, side // 2), ch, font=font, fill=255, anchor="mm",
                            stroke_width=stroke, stroke_fill=255)
    return im.crop(im.getbbox())


def _atlas(fonts: tuple[FontFile, ...]) -> list[list[list[Image.Image]]]:
    """atlas[font][digit][stroke] -> tightly cropped glyph mask."""
    atlas = []
    for f in fonts:
        font = ImageFont.truetype(f.path, GLYPH_PX)
        atlas.append([[_glyph(font, str(d), s) for s in STROKES] for d in range(10)])
    return atlas


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114])


def _colours(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Foreground and background colours ``[n, 3]`` with a minimum luma contrast."""
    bg = rng.integers(0, 256, (n, 3)).astype(np.float64)
    fg = rng.integers(0, 256, (n, 3)).astype(np.float64)
    for _ in range(100):
        bad = np.abs(_luma(fg) - _luma(bg)) < MIN_CONTRAST
        if not bad.any():
            break
        fg[bad] = rng.integers(0, 256, (int(bad.sum()), 3))
    bad = np.abs(_luma(fg) - _luma(bg)) < MIN_CONTRAST
    fg[bad] = 255.0 - bg[bad]  # a few stubborn mid-grey backgrounds: use the complement
    return fg, bg


def render(n_per_class: int = PER_CLASS, seed: int = SEED,
           fonts: tuple[FontFile, ...] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """images uint8 ``[N, 3, 28, 28]``, labels int64 ``[N]``, font index per image ``[N]``."""
    fonts = digit_fonts() if fonts is None else fonts
    if not fonts:
        raise DatasetUnavailable("no font on this machine can draw digits; install e.g. "
                                 "`apt-get install fonts-dejavu fonts-liberation`")
    atlas = _atlas(fonts)
    rng = np.random.default_rng(seed)
    n = 10 * n_per_class
    labels = rng.permutation(np.repeat(np.arange(10), n_per_class))
    font_idx = rng.integers(0, len(fonts), n)
    stroke_idx = rng.integers(0, len(STROKES), n)
    height = rng.uniform(*HEIGHT_RANGE, n)
    theta = np.deg2rad(rng.uniform(-MAX_ROTATION, MAX_ROTATION, n))
    offset = rng.uniform(-1.0, 1.0, (n, 2))
    fg, bg = _colours(rng, n)

    canvas = SIZE * SCALE
    masks = np.empty((n, SIZE, SIZE), np.float32)
    for i in range(n):
        g = atlas[font_idx[i]][labels[i]][stroke_idx[i]]
        w, h = g.size
        s = height[i] * canvas / h
        s = min(s, 0.9 * canvas / w)
        c, sn = math.cos(theta[i]), math.sin(theta[i])
        ext_x = s * (abs(w * c) + abs(h * sn))
        ext_y = s * (abs(w * sn) + abs(h * c))
        dx = offset[i, 0] * max(0.0, (canvas - ext_x) / 2)
        dy = offset[i, 1] * max(0.0, (canvas - ext_y) / 2)
        # Inverse map output -> glyph: p_in = R(-theta) (p_out - centre - d) / s + glyph centre.
        a, b, d_, e = c / s, sn / s, -sn / s, c / s
        ox, oy = canvas / 2 + dx, canvas / 2 + dy
        cx, cy = w / 2, h / 2
        data = (a, b, cx - a * ox - b * oy, d_, e, cy - d_ * ox - e * oy)
        out = g.transform((canvas, canvas), Image.Transform.AFFINE, data,
                          resample=Image.Resampling.BILINEAR)
        masks[i] = np.asarray(out.reduce(SCALE), np.float32) / 255.0

    m = masks[:, None]  # [N, 1, H, W]
    rgb = bg[:, :, None, None] + (fg - bg)[:, :, None, None] * m
    images = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64), font_idx


def check() -> Availability:
    if not freetype_available():
        return Availability(False, "Pillow was built without FreeType; reinstall Pillow")
    if not candidate_font_files():
        return Availability(False, "no .ttf/.otf fonts found; install e.g. "
                                   "`apt-get install fonts-dejavu fonts-liberation`")
    return Availability(True)


def sources() -> tuple[tuple[str, str], ...]:
    return file_digests(candidate_font_files())


def load() -> ImageDataset:
    import torch

    fonts = digit_fonts()
    images, labels, font_idx = render(fonts=fonts)
    counts = np.bincount(font_idx, minlength=len(fonts)).tolist()
    licences = sorted({f.licence for f in fonts})
    return ImageDataset(
        name="synth_digits",
        images=torch.from_numpy(images),
        labels=torch.from_numpy(labels),
        class_names=DIGIT_CLASSES,
        provenance=Provenance(
            source=f"rendered here with Pillow from {len(fonts)} fonts (seed {SEED})",
            licence=LICENCE,
            files=tuple((f.path, f.sha256) for f in fonts),
            notes="font licences: " + "; ".join(licences),
        ),
        meta={
            "seed": SEED,
            "per_class": PER_CLASS,
            "fonts": [{**f.to_dict(), "images": k} for f, k in zip(fonts, counts, strict=True)],
            "skipped_fonts": sorted(
                str(p) for p in set(map(str, candidate_font_files())) - {f.path for f in fonts}
            ),
        },
    )


DATASETS.add(DatasetSpec(
    name="synth_digits",
    title="Synthetic digits (fonts)",
    description="10,000 digits typeset in this machine's fonts with random size, rotation, "
                "weight, position and colours, 28x28 RGB.",
    num_classes=10,
    shape=(3, SIZE, SIZE),
    load=load,
    check=check,
    source="rendered from installed fonts",
    licence=LICENCE,
    version="1",
    sources=sources,
))

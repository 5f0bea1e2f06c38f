"""Predicting with a trained run: someone's own picture in, the run's classes out.

A resize is not enough. A network trained on MNIST has only ever seen white strokes on
black, about 20 px tall inside 28, centred by their centre of mass; a pen drawing or a
phone photo of paper is dark on light, anywhere in the frame, at any size. Fed as is, a
good model answers nonsense: a ``lab_mnist`` feature-extraction run on MNIST (20 labels per
class) read 10% of 130 font digits photographed on paper after a plain resize and 98% after
fitting (``tests/test_predict.py`` checks 60 such photos). So ``prepare`` fits the picture
to the run's *training
images*, from statistics measured on them (``DomainLook``, a few hundred images of
``load_domain(config.dataset)``), never from dataset names:

- objects on a plain background (the border is one flat tone in >= 80% of the images, and
  the same tone across them): the picture is inverted when its polarity (object lighter or
  darker than its background) is the opposite of the one >= 90% of the training images
  share, cropped to its object, scaled to the training objects' median size and placed at
  their median centre of mass; grey ones also get their tones, and strokes thinner than
  90% of theirs are thickened to their median width (a fine pen shrunk to 20 px vanishes);
- anything else (photo-like: MNIST-M's photo patches, random colour tints, a folder of
  photos) is only centre-cropped to a square, as ``tlcore.data.folder`` made the training
  images, and the notes say why nothing more was done.

The fitted picture has the training images' own size and channels, so the run's
``Preprocess`` then resizes and normalises it exactly as it did the training images.
Every choice is written into ``Prepared.notes`` in plain words.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageFilter, ImageOps

from tlcore.data import folder
from tlcore.trained import TrainedModel

NOTES = "tlab_notes"  # Image.info key: what read_image did (prepare repeats it in its notes)
SAMPLE = 512  # training images measured per domain (evenly spaced, so deterministic)
WORK_SIDE = 512  # pictures are analysed at most this big (a 12 MP photo would take seconds)
PLAIN_SHARE = 0.8  # share of training images with a flat border for "objects on a plain background"
BG_SPREAD = 0.15  # ... whose border tones (10th-90th percentile) differ by at most this
POLARITY_SHARE = 0.9  # share of training objects on one side of their background for inverting
BLANK = 0.08  # a picture whose brightest 0.5% differ less than this from its border is blank


class BadImage(ValueError):
    """The bytes are not a usable picture; the message is one sentence for the user."""


# -- reading ------------------------------------------------------------------------------
def read_image(data: bytes, name: str = "") -> Image.Image:
    """Decode one uploaded file through the upload guards of ``tlcore.data.folder``
    (format allow-list, pixel limit before decoding, EXIF orientation, 16-bit scaling).

    Returns an ``L`` (grey) or ``RGB`` image. A transparent background is filled with
    black or white, whichever contrasts with the visible pixels (a white stroke on a
    transparent canvas stays visible); ``prepare`` then decides the polarity the model
    expects. Raises ``BadImage``."""
    label = name or "the file"
    if not data:
        raise BadImage(f"{label} is empty")
    if len(data) > folder.MAX_FILE_BYTES:
        raise BadImage(f"{label} is larger than {folder.MAX_FILE_BYTES // 2**20} MB")
    try:
        im = folder.open_image(data)
    except folder.ImageRejected as e:
        raise BadImage(_rejected(label, str(e), data)) from None
    except Exception as e:  # noqa: BLE001 Pillow's parsers raise many types on damaged bytes
        raise BadImage(f"{label} is damaged or truncated and cannot be read "
                       f"({type(e).__name__})") from None
    if im.width < 1 or im.height < 1:
        raise BadImage(f"{label} has no pixels ({im.width}x{im.height})")
    notes: tuple[str, ...] = ()
    grey = im.mode in ("1", "L", "LA", "La", "I", "F")
    if _has_alpha(im):
        im, notes = _fill_transparency(im.convert("RGBA"))
    out = im.convert("L" if grey else "RGB")
    out.info[NOTES] = notes
    return out


# how each allowed format's files begin: a file that begins like one but does not open is damaged
_MAGIC = {b"\x89PNG": "PNG", b"\xff\xd8": "JPEG", b"GIF8": "GIF", b"BM": "BMP", b"RIFF": "WebP",
          b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}


def _rejected(label: str, reason: str, data: bytes) -> str:
    """One sentence from ``folder``'s reason (``"unreadable: ..."``, ``"too many pixels: ..."``)."""
    if reason.startswith("too many pixels"):
        return f"{label} has too many pixels to decode safely ({reason.split(': ', 1)[1]})"
    kind = next((k for magic, k in _MAGIC.items() if data.startswith(magic)), None)
    if kind:
        return (f"{label} begins like a {kind} file but cannot be read: it is damaged or its "
                "header is invalid (for example a 0x0 size)")
    return f"{label} is {reason.split(': ', 1)[-1]}"


def _has_alpha(im: Image.Image) -> bool:
    return (im.mode in ("RGBA", "LA", "PA", "La", "RGBa")
            or (im.mode == "P" and "transparency" in im.info))


def _fill_transparency(rgba: Image.Image) -> tuple[Image.Image, tuple[str, ...]]:
    a = np.asarray(rgba, dtype=np.float32) / 255.0
    alpha = a[..., 3]
    if alpha.min() >= 1.0:
        return rgba.convert("RGB"), ()
    shown = alpha > 0.5
    luma = a[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    light = bool(shown.any()) and float(luma[shown].mean()) > 0.5
    tone, word = ((0, 0, 0, 255), "black") if light else ((255, 255, 255, 255), "white")
    filled = Image.alpha_composite(Image.new("RGBA", rgba.size, tone), rgba).convert("RGB")
    what = "light" if light else "dark"
    return filled, (f"transparent background filled with {word}, to contrast with the {what} "
                    "picture",)


# -- what the training images look like ---------------------------------------------------
@dataclass(frozen=True)
class DomainLook:
    """Measured on ``measured`` training images (grey levels in [0, 1], sizes as fractions
    of the image side)."""

    text: str
    height: int
    width: int
    channels: int
    measured: int
    plain: float  # share of images whose border is one flat tone
    spread: float  # 10th-90th percentile range of the border tone across images
    light: float  # share of objects lighter than their background
    background: float  # median border tone
    ink: float  # median object tone (the object's 90th-percentile distance from the border)
    extent: float  # median long side of an object's bounding box
    centre: tuple[float, float]  # median centre of mass (row, column)
    stroke: float  # median stroke width in px (2 x area / perimeter of the object)
    stroke_thin: float  # 10th percentile of the stroke width

    @property
    def objects(self) -> bool:
        """Centred objects on one plain background (MNIST, digits, Fashion-MNIST)."""
        return self.plain >= PLAIN_SHARE and self.spread <= BG_SPREAD

    @property
    def polarity(self) -> str | None:
        """"light" (objects lighter than the background), "dark", or None when mixed."""
        if not self.objects:
            return None
        if self.light >= POLARITY_SHARE:
            return "light"
        return "dark" if self.light <= 1 - POLARITY_SHARE else None


def training_domain(model: TrainedModel) -> str:
    """The domain the run's classifier learned from: the target for the target oracle."""
    from tlcore.strategies import STRATEGIES

    cfg = model.config
    on_target = STRATEGIES.get(cfg.strategy).train_on_target and cfg.target
    return cfg.target if on_target else cfg.dataset


@functools.lru_cache(maxsize=16)
def domain_look(text: str, seed: int = 0) -> DomainLook:
    """Measure ``load_domain(text, seed=seed)`` (see ``DomainLook``); cached per domain, so
    a folder dataset is measured once per process, as it was when first asked."""
    from tlcore.data import load_domain

    ds = load_domain(text, seed=seed)
    n = len(ds)
    idx = torch.linspace(0, n - 1, min(SAMPLE, n)).round().long()
    g = ds.images[idx].float().div(255.0).mean(1)  # [n, H, W] grey
    _, h, w = g.shape
    r = max(1, round(min(h, w) / 14))
    ring = torch.cat([g[:, :r].flatten(1), g[:, -r:].flatten(1),
                      g[:, r:-r, :r].flatten(1), g[:, r:-r, -r:].flatten(1)], 1)
    bg = ring.median(1).values
    mad = (ring - bg[:, None]).abs().median(1).values
    d = g - bg[:, None, None]
    q = d.abs().flatten(1).quantile(0.99, dim=1)
    has = q > BLANK
    if not bool(has.any()):
        raise ValueError(f"the training images of {text} all look blank")
    d, q, bg, mad = d[has], q[has], bg[has], mad[has]
    mask = d.abs() > 0.5 * q[:, None, None]
    rows, cols = mask.any(2), mask.any(1)
    span_r, span_c = _span(rows), _span(cols)
    stroke = _stroke_width(mask)
    mass = (d.abs() * mask).flatten(1)
    ys = torch.arange(h, dtype=torch.float32).repeat_interleave(w)
    xs = torch.arange(w, dtype=torch.float32).repeat(h)
    total = mass.sum(1).clamp(min=1e-6)
    ink = torch.stack([row[m].quantile(0.9) for row, m in zip(d.abs().flatten(1), mask.flatten(1),
                                                               strict=True)])
    return DomainLook(
        text=text, height=h, width=w, channels=int(ds.images.shape[1]), measured=int(len(idx)),
        plain=float((mad <= 0.1 * q).float().mean()),
        spread=float(bg.quantile(0.9) - bg.quantile(0.1)),
        light=float(((d * mask).flatten(1).sum(1) > 0).float().mean()),
        background=float(bg.median()),
        ink=float(ink.median()),
        extent=float(torch.maximum(span_r / h, span_c / w).median()),
        centre=(float(((mass @ ys) / total).median() / h),
                float(((mass @ xs) / total).median() / w)),
        stroke=float(stroke.median()), stroke_thin=float(stroke.quantile(0.1)),
    )


def _stroke_width(mask: torch.Tensor) -> torch.Tensor:
    """Mean stroke width of each ``[n, H, W]`` mask: 2 x area / perimeter (a w px wide
    line of length L has area wL and perimeter ~2L), in px."""
    m = torch.nn.functional.pad(mask.float(), (1, 1, 1, 1))
    edges = ((m[:, 1:] != m[:, :-1]).flatten(1).sum(1)
             + (m[:, :, 1:] != m[:, :, :-1]).flatten(1).sum(1))
    return 2 * mask.flatten(1).sum(1) / edges.clamp(min=1)


def _span(m: torch.Tensor) -> torch.Tensor:
    """Rows (or columns) from the first to the last True, per image: ``[n, L] -> [n]``."""
    n = m.shape[1]
    ar = torch.arange(n)
    first = torch.where(m, ar, n).min(1).values
    last = torch.where(m, ar, -1).max(1).values
    return (last - first + 1).clamp(min=0).float()


# -- fitting a picture --------------------------------------------------------------------
@dataclass(frozen=True)
class Prepared:
    """``images``: uint8 ``[1, C, H, W]`` at the training images' size and channels, for
    ``model.preprocess``; ``seen``: uint8 ``[S, S, 3]``, the network's input before
    normalisation; ``notes``: each choice made, in plain words."""

    images: torch.Tensor
    seen: np.ndarray
    notes: tuple[str, ...]


def prepare(model: TrainedModel, image: Image.Image) -> Prepared:
    """Fit ``image`` (from ``read_image``) to the run's training images, then to its network."""
    from tlcore.data import parse_domain
    from tlcore.data.base import DatasetUnavailable

    notes = list(image.info.get(NOTES, ()))
    if _has_alpha(image):  # handed over directly rather than through read_image
        image, more = _fill_transparency(image.convert("RGBA"))
        notes += more
    text = training_domain(model)
    size = model.preprocess.size
    try:  # the seed only changes a domain with shifts: one measurement serves every seed
        seed = model.config.seed if parse_domain(text).shifts else 0
        look: DomainLook | None = domain_look(text, seed)
    except (OSError, ValueError, DatasetUnavailable) as e:
        look = None
        notes.append(f"not inverted or centred: the training images ({text}) cannot be read here "
                     f"({e}), so the picture is only cropped to a square")
    h, w, c = (look.height, look.width, look.channels) if look else (size, size, 3)
    pic = image.convert("L" if c == 1 else "RGB")
    if look is not None and not look.objects:
        why = (f"only {look.plain:.0%} of {look.measured} have a plain border"
               if look.plain < PLAIN_SHARE else "their background tones differ from image to image")
        notes.append(f"not inverted or centred: the training images are photo-like ({why}), so the "
                     "picture is only cropped to a square like them")
    if look is not None and look.objects:
        fitted, more = _fit_object(_shrunk(pic), look, image.size)
        notes += more
    else:
        fitted = ImageOps.fit(pic, (w, h), method=Image.Resampling.BICUBIC)
    arr = np.asarray(fitted, dtype=np.uint8).reshape(h, w, c)
    images = torch.from_numpy(arr.transpose(2, 0, 1).copy()).unsqueeze(0)
    kind = "grey" if c == 1 else "colour"
    then = "" if (h, w) == (size, size) else f", then to the network's {size}x{size} input"
    notes.append((f"resized {image.width}x{image.height} -> {w}x{h} {kind}" if image.size != (w, h)
                  else f"kept at {w}x{h} {kind}") + f" (the training images' size){then}")
    return Prepared(images=images, seen=_seen(model, images), notes=tuple(notes))


def _shrunk(pic: Image.Image) -> Image.Image:
    if max(pic.size) <= WORK_SIDE:
        return pic
    s = WORK_SIDE / max(pic.size)
    return pic.resize((max(1, round(pic.width * s)), max(1, round(pic.height * s))),
                      Image.Resampling.BOX)


def _border(a: np.ndarray) -> np.ndarray:
    """The outer ring (3% of the short side, at least 1 px) of ``[H, W, ...]``, flattened."""
    r = max(1, round(min(a.shape[:2]) * 0.03))
    ring = [a[:r], a[-r:], a[r:-r, :r], a[r:-r, -r:]]
    return np.concatenate([x.reshape(-1, *a.shape[2:]) for x in ring])


def _fit_object(pic: Image.Image, look: DomainLook, original: tuple[int, int]
                ) -> tuple[Image.Image, list[str]]:
    """Invert, crop to the object, scale and place it, set contrast and strokes like ``look``.
    ``pic``: the picture at most ``WORK_SIDE`` big; ``original``: its size as uploaded."""
    notes: list[str] = []
    grey = np.asarray(pic.convert("L"), dtype=np.float32) / 255.0
    bg = float(np.median(_border(grey)))
    d = grey - bg
    q = float(np.quantile(np.abs(d), 0.995))
    if q < BLANK:
        notes.append("the picture looks blank (nothing stands out from its border), so it was only "
                     "resized")
        return ImageOps.fit(pic, (look.width, look.height), method=Image.Resampling.BICUBIC), notes
    mask = np.abs(d) > 0.5 * q
    light = float(d[mask].mean()) > 0
    want = look.polarity
    if want is not None and (want == "light") != light:
        pic, bg = ImageOps.invert(pic), 1.0 - bg
        them = "light on dark" if want == "light" else "dark on light"
        share = look.light if want == "light" else 1 - look.light
        notes.append(f"inverted: the training images are {them} ({share:.0%} of {look.measured}), "
                     f"this picture is {'light on dark' if light else 'dark on light'}")
    ys, xs = np.nonzero(mask)  # the object's box, ignoring its outermost 0.1% (specks)
    y0, y1 = (int(v) for v in np.quantile(ys, [0.001, 0.999]).round())
    x0, x1 = (int(v) for v in np.quantile(xs, [0.001, 0.999]).round())
    crop = pic.crop((x0, y0, x1 + 1, y1 + 1))
    fill = np.median(_border(np.asarray(pic)), axis=0)
    fill = int(round(float(fill))) if pic.mode == "L" else tuple(int(round(v)) for v in fill)
    side = max(look.height, look.width)
    long = max(1, round(look.extent * side))
    k = original[0] / pic.width
    notes.append(f"cropped to the object ({round((x1 - x0 + 1) * k)}x{round((y1 - y0 + 1) * k)} px "
                 f"of {original[0]}x{original[1]}) and centred like the training images (its long "
                 f"side {long} px of {side}, placed by its centre of mass)")
    if look.channels != 1 or want is None:
        return _place(crop, look, long, fill, bg)[0], notes
    # grey strokes of one polarity: thickened when thinner than 90% of the training strokes
    # (a fine pen shrunk to 20 px nearly vanishes), then tones set like theirs
    width = float(_stroke_width(torch.from_numpy(mask[y0:y1 + 1, x0:x1 + 1])[None])[0])
    now = width * long / max(crop.size)
    if now < look.stroke_thin and look.stroke < long:
        crop, grown = _thicken(crop, width, look.stroke, long, fill, want == "light")
        notes.append(f"strokes thickened from {now:.1f} to {grown:.1f} px: they were thinner than "
                     f"90% of the training images' strokes (median {look.stroke:.1f} px)")
    canvas, levels = _levels(_place(crop, look, long, fill, bg)[0], look)
    notes.append(levels)
    return canvas, notes


def _thicken(crop: Image.Image, width: float, target: float, long: int, fill, light: bool
             ) -> tuple[Image.Image, float]:
    """Dilate ``crop``'s strokes (``width`` px wide at its own scale) by k px on each side,
    so that once the grown crop is scaled to ``long`` px they are ``target`` px wide:
    ``(width + 2k) * long / (L + 2k) = target`` with ``L`` the crop's long side."""
    side = max(crop.size)
    k = (target * side / long - width) / (2 * (1 - target / long))
    k = int(min(max(1, round(k)), 30))
    padded = Image.new(crop.mode, (crop.width + 2 * k, crop.height + 2 * k), fill)
    padded.paste(crop, (k, k))
    grow = ImageFilter.MaxFilter(3) if light else ImageFilter.MinFilter(3)
    for _ in range(k):
        padded = padded.filter(grow)
    return padded, (width + 2 * k) * long / (side + 2 * k)


def _place(crop: Image.Image, look: DomainLook, long: int, fill, bg: float
           ) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """``crop`` scaled to ``long`` px on its long side, on a canvas of the training size
    filled with ``fill``, its centre of mass (distance from ``bg``) at the training
    objects'; returns the canvas and the pasted box (left, top, right, bottom)."""
    s = long / max(crop.size)
    cw = min(look.width, max(1, round(crop.width * s)))
    ch = min(look.height, max(1, round(crop.height * s)))
    crop = crop.resize((cw, ch), Image.Resampling.LANCZOS)
    canvas = Image.new(crop.mode, (look.width, look.height), fill)
    cy, cx = _centre_of_mass(np.abs(np.asarray(crop.convert("L"), dtype=np.float32) / 255.0 - bg))
    top = int(np.clip(round(look.centre[0] * look.height - cy), 0, look.height - ch))
    left = int(np.clip(round(look.centre[1] * look.width - cx), 0, look.width - cw))
    canvas.paste(crop, (left, top))
    return canvas, (left, top, left + cw, top + ch)


def _centre_of_mass(weights: np.ndarray) -> tuple[float, float]:
    total = float(weights.sum())
    if total <= 0:
        return (weights.shape[0] - 1) / 2, (weights.shape[1] - 1) / 2
    ys, xs = np.indices(weights.shape)
    return float((weights * ys).sum() / total), float((weights * xs).sum() / total)


def _levels(canvas: Image.Image, look: DomainLook) -> tuple[Image.Image, str]:
    """Grey: the background and object tones mapped to the training images' (a photo of
    paper is grey on grey; MNIST is 0 and 255)."""
    a = np.asarray(canvas, dtype=np.float32) / 255.0
    bg = float(np.median(_border(a)))
    sign = 1.0 if look.polarity == "light" else -1.0
    dist = np.clip(sign * (a - bg), 0, None)  # how far towards the object tone
    ink = float(np.quantile(dist[dist > 0.5 * dist.max()], 0.9)) if dist.max() > 0 else 0.0
    if ink > 0:
        a = np.clip(look.background + sign * np.clip(dist / ink, 0, 1) * look.ink, 0, 1)
    stroke = min(1.0, max(0.0, look.background + sign * look.ink))
    note = (f"contrast set like the training images: background {round(look.background * 255)}, "
            f"strokes {round(stroke * 255)}")
    return Image.fromarray((a * 255).round().astype(np.uint8), mode="L"), note


def _seen(model: TrainedModel, images: torch.Tensor) -> np.ndarray:
    """What the network is given, un-normalised: ``Preprocess`` itself does the resize."""
    p = model.preprocess
    x = p(images)[0]
    mean = torch.tensor(p.mean).view(-1, 1, 1)
    std = torch.tensor(p.std).view(-1, 1, 1)
    x = (x * std + mean).clamp(0, 1).mul(255).round().to(torch.uint8)
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    return x.permute(1, 2, 0).contiguous().numpy()


# -- answering ----------------------------------------------------------------------------
def predict(model: TrainedModel, prepared: Prepared, top: int = 3) -> list[tuple[str, float]]:
    """The ``top`` most probable classes, best first: ``[(class name, probability)]``."""
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    probs = model.probabilities(prepared.images)[0]
    p, i = probs.topk(min(top, len(probs)))
    return [(model.class_names[int(k)], float(v)) for v, k in zip(p, i, strict=True)]

"""Is a source -> target pair something adaptation can run on? Said before any training.

Domain adaptation assumes the two domains share one label space: the same classes, in
the same order, each with images. A user's two folders break that in ways that would
otherwise surface as a failed run after the queue (a class count that differs) or, worse,
as no error at all: two folders with nine classes each but one named differently would
train and score class ``wolf`` against class ``fox``. ``check_pair`` names each problem in
the user's terms, and ``check_config`` is what the trainer, the CLI and the Domain
adaptation page call, so all three refuse the same pairs with the same words.

Image modes are a note, not an error: MNIST (grey) -> MNIST-M (colour) is the classic
pair, and every image reaches the network as three channels. The note says that colour
is a cue the source never taught.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from tlcore.data.base import ImageDataset

MODE_SAMPLE = 500  # images looked at to call a domain grey or colour


@dataclass(frozen=True)
class PairCheck:
    errors: tuple[str, ...] = ()  # each stops the run
    notes: tuple[str, ...] = ()  # worth knowing, not stopping

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_first(self) -> None:
        """``ValueError`` with every error, for callers that stop on the first problem."""
        if self.errors:
            raise ValueError(" ".join(self.errors))


def _key(name: str) -> str:
    return unicodedata.normalize("NFC", name).strip().casefold()


def _listed(names: list[str], most: int = 6) -> str:
    shown = ", ".join(repr(n) for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def is_grey(ds: ImageDataset) -> bool:
    """One channel, or three equal ones in every sampled image (a folder of scans is
    decoded as RGB, but it is still grey)."""
    x = ds.images
    if x.shape[1] == 1 or len(x) == 0:
        return True
    step = max(1, len(x) // MODE_SAMPLE)
    s = x[::step]
    return bool((s[:, 0] == s[:, 1]).all() and (s[:, 1] == s[:, 2]).all())


def _class_errors(source: ImageDataset, target: ImageDataset, src: str, tgt: str) -> list[str]:
    s_names, t_names = list(source.class_names), list(target.class_names)
    if target.num_classes < 2:
        only = f" ({t_names[0]!r})" if t_names else ""
        return [f"The target {tgt} has one class{only}; the source {src} has {source.num_classes}. "
                "Adaptation needs target images of the source's classes: add the missing class "
                "folders to the target."]
    s_keys, t_keys = [_key(n) for n in s_names], [_key(n) for n in t_names]
    if s_keys == t_keys:
        return []
    src_only = [n for n, k in zip(s_names, s_keys, strict=True) if k not in set(t_keys)]
    tgt_only = [n for n, k in zip(t_names, t_keys, strict=True) if k not in set(s_keys)]
    if not src_only and not tgt_only:  # the same names in another order (registered data only)
        return [f"The source {src} and the target {tgt} name the same classes in another order, "
                "so their labels would not line up; pick domains whose classes come in one order."]
    parts = []
    if src_only:
        parts.append(f"only the source has {_listed(src_only)}")
    if tgt_only:
        parts.append(f"only the target has {_listed(tgt_only)}")
    return [f"The source {src} ({source.num_classes} classes) and the target {tgt} "
            f"({target.num_classes}) do not share their classes: {'; '.join(parts)}. Adaptation "
            "needs one set of classes in both: rename, add or remove class folders so they match."]


def _size_errors(target: ImageDataset, tgt: str, test_per_class: int) -> list[str]:
    counts = target.class_counts()
    small = [(n, int(c)) for n, c in zip(target.class_names, counts, strict=True) if c <= test_per_class]
    if not small:
        return []
    listed = ", ".join(f"{n!r} ({c})" for n, c in small[:6])
    return [f"The target {tgt} has too few images in {len(small)} class{'es' if len(small) > 1 else ''}: "
            f"{listed}. Each target class gives {test_per_class} test images and needs more to adapt "
            "on: add images, or lower the test images per class on the Data page (--test-per-class)."]


def check_pair(source: ImageDataset, target: ImageDataset, src: str, tgt: str,
               test_per_class: int) -> PairCheck:
    """Errors and notes for adapting from ``source`` to ``target`` (``src``/``tgt``: the
    domains as a person reads them)."""
    errors = _class_errors(source, target, src, tgt)
    if not errors:
        errors += _size_errors(target, tgt, test_per_class)
    notes = []
    grey = is_grey(source), is_grey(target)
    if grey[0] != grey[1]:
        s_mode, t_mode = ("grey", "colour") if grey[0] else ("colour", "grey")
        notes.append(f"The source {src} is {s_mode} and the target {tgt} is {t_mode}. Both reach "
                     "the network as three channels, so the run goes ahead, but "
                     + ("colour is a cue the source never taught: expect a larger gap."
                        if grey[0] else "the colour the source taught is missing on the target."))
    return PairCheck(tuple(errors), tuple(notes))


def check_config(cfg) -> PairCheck:
    """``check_pair`` for a run config's source and target (loads both; user folders are
    read from disk, registered datasets come from the process's cache). A target that
    cannot be loaded at all (no readable images after filtering, a missing file) is an
    error too, in the loader's words."""
    from tlcore.data.domains import load_domain
    from tlcore.names import domain_label

    if not cfg.target:
        return PairCheck()
    src, tgt = domain_label(cfg.dataset), domain_label(cfg.target)
    loaded = []
    for what, text, title in (("source", cfg.dataset, src), ("target", cfg.target, tgt)):
        try:
            loaded.append(load_domain(text, seed=cfg.seed))
        except (ValueError, OSError, KeyError) as e:
            return PairCheck((f"The {what} {title} cannot be used: {e}",))
    return check_pair(*loaded, src, tgt, cfg.test_per_class)


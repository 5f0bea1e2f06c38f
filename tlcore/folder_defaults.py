"""Defaults for adapting between a user's own folders, and the sentences that say them.

The lab's defaults are made for teaching: 10 labels per class shows what a pretrained
backbone buys with little data. A user who brings two folders of their own (a labelled
source, an unlabelled target) is asking another question: what works on my data? Their
labels are the data they have, so a 10-per-class cut of a 2,000-image folder throws away
nine tenths of it and makes every adaptation method look unstable. So when both domains
are user data and no budget was given, every labelled source image trains (after the
validation and test images per class are held out). The input size stays the backbone's
suggestion for a laptop CPU; the sentences say both, with the numbers, so nothing is a
silent choice.
"""

from __future__ import annotations

from dataclasses import dataclass

from tlcore.config import RunConfig


@dataclass(frozen=True)
class Chosen:
    cfg: RunConfig
    said: tuple[str, ...]  # one sentence per choice made for the user


def own_data(cfg: RunConfig) -> bool:
    """Whether source and target are both a user's folders or zips (not registered data)."""
    from tlcore.data import parse_domain

    return bool(cfg.target) and parse_domain(cfg.dataset).is_path and parse_domain(cfg.target).is_path


def size_sentence(cfg: RunConfig) -> str:
    from tlcore.models import BACKBONES

    spec = BACKBONES.get(cfg.backbone)
    if cfg.input_size is not None:
        return f"Input {cfg.input_size} px, as set ({spec.name}'s weights were trained at {spec.native_size} px)."
    native = ("" if spec.native_size == spec.default_size
              else f"; its weights were trained at {spec.native_size} px, about "
                   f"{(spec.native_size / spec.default_size) ** 2:.0f}x the compute per image")
    return f"Input {spec.default_size} px: {spec.name}'s size for a laptop CPU{native}."


def folder_defaults(cfg: RunConfig, *, budget_given: bool) -> Chosen:
    """``cfg`` with every labelled source image when both domains are user data and no
    budget was given; ``said`` explains each choice (empty for other data)."""
    if not own_data(cfg):
        return Chosen(cfg, ())
    said = []
    if not budget_given:
        from tlcore.preview import run_budget

        cfg = cfg.replace(labels_per_class=None)
        b = run_budget(cfg)
        if b.fits:
            said.append(f"Your own folders: all {b.train_images:,} labelled source images train (after "
                        f"{cfg.val_per_class} validation and {cfg.test_per_class} test images per class "
                        "are held out); set a label budget to use fewer.")
    said.append(size_sentence(cfg))
    return Chosen(cfg, tuple(said))

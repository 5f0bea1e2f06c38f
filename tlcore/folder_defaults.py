"""Defaults for adapting between a user's own folders, and the sentences that say them.

The lab's defaults are made for teaching: 10 labels per class shows what a pretrained
backbone buys with little data. A user who brings two folders of their own (a labelled
source, an unlabelled target) is asking another question: what works on my data? Their
labels are the data they have, so a 10-per-class cut of a 2,000-image folder throws away
nine tenths of it and makes every adaptation method look unstable. So when both domains
are user data and no budget was given, every labelled source image trains (after the
validation and test images per class are held out). The input size stays the backbone's
suggestion for a laptop CPU.

With every image, fine-tuning every group is what makes a run slow: auto trains 8
candidates, and on two 2,000-image folders with MobileNetV2 that took 20 minutes. So for
strategies that have the ``adapt_top`` setting, the top half of the backbone's body groups
adapts and the groups below stay as pretrained, computed once per image (the lowest
groups see edges and colours at full resolution and cost most per step). The sentences
say every choice, with the numbers, so nothing is a silent choice.
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


def top_half(backbone: str) -> int:
    """How many body groups adapt by default on a user's folders: the top half, rounded up."""
    from tlcore.models import group_names

    n_body = len(group_names(backbone)) - 1  # every group but the head
    return (n_body + 1) // 2


def top_sentence(cfg: RunConfig) -> str:
    from tlcore.models import group_names
    from tlcore.strategies.adaptation import ADAPT_TOP

    body = [g for g in group_names(cfg.backbone) if g != "head"]
    k = ADAPT_TOP.read(cfg)
    if k == 0 or k >= len(body):
        return "Every group trains (adapt_top=0); a setting of 1 or more trains only the top groups, faster."
    return (f"The top {k} of {len(body)} groups ({', '.join(body[-k:])}) adapt; {', '.join(body[:-k])} stay as "
            "pretrained and are computed once per image, which makes each step cheaper "
            "(set adapt_top=0 to train every group).")


def folder_defaults(cfg: RunConfig, *, budget_given: bool, top_given: bool = False) -> Chosen:
    """``cfg`` with every labelled source image when both domains are user data and no
    budget was given, and only the top half of the groups adapting when the strategy has
    ``adapt_top`` and it was not given; ``said`` explains each choice (empty for other data)."""
    from tlcore.strategies import STRATEGIES
    from tlcore.strategies.adaptation import ADAPT_TOP
    from tlcore.strategies.knobs import with_value

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
    if ADAPT_TOP in STRATEGIES.get(cfg.strategy).knobs:
        if not top_given:
            cfg = with_value(cfg, ADAPT_TOP, top_half(cfg.backbone))
        said.append(top_sentence(cfg))
    said.append(size_sentence(cfg))
    return Chosen(cfg, tuple(said))

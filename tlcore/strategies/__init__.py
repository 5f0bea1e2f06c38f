"""Strategy registry: one file per strategy, all run by the same trainer."""

from . import adaptation, bitfit, feature_extraction, finetune, gradual, lp_ft, scratch, transplant  # noqa: F401
from .base import STRATEGIES, Strategy, title

__all__ = ["STRATEGIES", "Strategy", "title"]

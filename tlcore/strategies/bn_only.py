from tlcore.freeze import Phase

from .base import STRATEGIES, Strategy


class BNOnly(Strategy):
    """Only BatchNorm scale/shift (and the head) train: re-normalise the pretrained
    features for the new data."""

    def phase(self, groups, cfg, epoch):
        return Phase(frozenset({"head"}), only="bn")


STRATEGIES.add(BNOnly("bn_only", "BatchNorm only", "Only BatchNorm parameters and the head train.", order=90))

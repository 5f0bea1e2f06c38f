from tlcore.freeze import Phase

from .base import STRATEGIES, Strategy


class FeatureExtraction(Strategy):
    """Linear probe: the whole backbone frozen, only a new head trained. With frozen
    BatchNorm the backbone's output is computed once per image (the fast path)."""

    def phase(self, groups, cfg, epoch):
        return Phase(frozenset({"head"}))


STRATEGIES.add(FeatureExtraction(
    "feature_extraction", "Feature extraction",
    "Frozen pretrained backbone, new linear head: fast, safe with few labels.", order=20))

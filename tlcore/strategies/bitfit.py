from tlcore.freeze import Phase

from .base import STRATEGIES, Strategy


class BitFit(Strategy):
    """Ben Zaken et al. 2022: only bias terms (and the head) train; a tiny number of
    parameters that still lets every layer shift its activations."""

    def phase(self, groups, cfg, epoch):
        return Phase(frozenset({"head"}), only="bias")


STRATEGIES.add(BitFit("bitfit", "BitFit (biases only)", "Only biases and the head train.", order=80))

"""Why a run errs: the test images behind a confusion-matrix cell, and its most confident mistakes.

Everything here reads the per-image answers a finished run stored with its artifacts
(``probs_<split>``, ``pred_<split>``, ``labels_<split>``, ``index_<split>`` for the splits
``test`` and ``target``; see ``tlcore.train._finish``), so looking at errors never runs a
model again and gives the same images on every rerun. ``index`` says where each test image
sits in its domain as ``load_domain(domain_text(cfg, split), seed=cfg.seed)`` loads it.

Runs stored before runs kept these answers have none: ``answers`` returns None for them and
``requeue`` trains the same config again, as ``tlcore run --rerun`` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from tlcore.config import RunConfig

SPLITS = ("test", "target")  # the artifact suffixes: source test images, target test images
OLD_RUN = ("This run was stored before runs kept their models and per-image answers, so its "
           "test images and mistakes cannot be shown. Re-run it (same config, same seed) to "
           "get them.")


@dataclass(frozen=True)
class Answers:
    """One split's stored answers; row ``i`` is one test image.

    ``probs``: float32 ``[N, K]`` (stored as float16: ties and zeros below ~6e-8 are possible);
    ``pred``: int64 ``[N]``, the argmax the run took from its float32 probabilities;
    ``labels``: int64 ``[N]``; ``index``: int64 ``[N]``, the image's row in its domain.
    """

    split: str
    probs: np.ndarray
    pred: np.ndarray
    labels: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def p_pred(self) -> np.ndarray:
        """``[N]``: the probability the run gave its own answer."""
        return self.probs[np.arange(len(self)), self.pred]

    @property
    def p_true(self) -> np.ndarray:
        """``[N]``: the probability the run gave the right class."""
        return self.probs[np.arange(len(self)), self.labels]

    @property
    def loss(self) -> np.ndarray:
        """``[N]``: cross-entropy of the true class, ``-log p_true`` (a stored 0 counts as the
        smallest float16 step, so the loss stays finite and ties break by ``p_pred``)."""
        return -np.log(np.maximum(self.p_true, 2.0 ** -24))

    def confusion(self, num_classes: int) -> np.ndarray:
        """int64 ``[K, K]``: rows true class, columns predicted, as the run's own matrix."""
        cm = np.zeros((num_classes, num_classes), dtype=np.int64)
        np.add.at(cm, (self.labels, self.pred), 1)
        return cm

    def cell(self, true: int, pred: int) -> np.ndarray:
        """Rows of the images of class ``true`` answered ``pred``. A mistake cell lists the most
        confident mistakes first (``p_pred`` falling); a diagonal cell the closest calls first
        (``p_pred`` rising), since a sure right answer teaches little. Ties keep row order."""
        rows = np.flatnonzero((self.labels == true) & (self.pred == pred))
        key = self.p_pred[rows] if true == pred else -self.p_pred[rows]
        return rows[np.argsort(key, kind="stable")]

    def mistakes(self, limit: int | None = None) -> np.ndarray:
        """Rows of the wrong answers, highest loss of the true class first (fastai's
        ``top_losses``, restricted to mistakes); ties by ``p_pred`` falling, then row."""
        rows = np.flatnonzero(self.pred != self.labels)
        order = np.lexsort((rows, -self.p_pred[rows], -self.loss[rows]))
        return rows[order][:limit]


def answers(artifacts: dict, split: str) -> Answers | None:
    """The stored answers of ``split`` ("test" or "target"), or None when the run has none
    (stored before runs kept them, or no target domain)."""
    keys = [f"{k}_{split}" for k in ("probs", "pred", "labels", "index")]
    if not all(k in artifacts for k in keys):
        return None
    probs, pred, labels, index = (torch.as_tensor(artifacts[k]) for k in keys)
    return Answers(split, probs.float().numpy(), pred.long().numpy(), labels.long().numpy(),
                   index.long().numpy())


def all_answers(artifacts: dict) -> dict[str, Answers]:
    """``{split: Answers}`` for every split the run stored answers for (empty for old runs)."""
    return {s: a for s in SPLITS if (a := answers(artifacts, s)) is not None}


def domain_text(cfg: RunConfig, split: str) -> str:
    """The domain a split's images come from: the source dataset for "test", the target for
    "target"."""
    text = cfg.target if split == "target" else cfg.dataset
    if not text:
        raise ValueError(f"run {cfg.run_id()} has no {split} domain")
    return text


def most_confused(cm: np.ndarray) -> tuple[int, int] | None:
    """The off-diagonal cell with the most images (the first such in row order on ties), or
    None when every answer was right."""
    off = np.array(cm, dtype=np.int64, copy=True)
    np.fill_diagonal(off, 0)
    if off.max(initial=0) == 0:
        return None
    t, p = np.unravel_index(int(np.argmax(off)), off.shape)
    return int(t), int(p)


def pictures_of(images: torch.Tensor, a: Answers, rows: np.ndarray) -> torch.Tensor:
    """uint8 ``[len(rows), C, H, W]``: the images behind ``rows`` of ``a``, taken from the
    domain's full ``images`` (uint8 ``[M, C, H, W]``). Raises ``ValueError`` when the stored
    rows do not fit the data on this machine (the dataset changed since the run)."""
    idx = a.index[rows]
    if len(idx) and (idx.min() < 0 or idx.max() >= len(images)):
        raise ValueError(f"the run's test images reach row {int(idx.max())}, but this dataset "
                         f"has {len(images)} images: it changed since the run; re-run it")
    return images[torch.from_numpy(idx)]


def caption(names: tuple[str, ...] | list[str], a: Answers, row: int) -> str:
    """One thumbnail's caption: true class, the answer and how sure the run was of each.
    No-break spaces keep each half whole, so a narrow caption wraps only before the arrow."""
    t, p = int(a.labels[row]), int(a.pred[row])
    if t == p:
        return _whole(f"{names[t]}: right, {a.p_pred[row]:.0%}")
    return (_whole(f"true {names[t]} ({a.p_true[row]:.0%})") + " "
            + _whole(f"→ {names[p]} ({a.p_pred[row]:.0%})"))


def _whole(text: str) -> str:
    return text.replace(" ", "\u00a0")


def requeue(store, cfg: RunConfig) -> str:
    """Queue ``cfg`` again even though it is done (``Store.submit`` reuses a done run): the
    stored run, its files and its history are deleted first, as ``tlcore run --rerun`` does.
    Returns the run id (the same: it is the config's hash)."""
    return store.submit(cfg, rerun=True)[0]


def model_size(rec) -> str:
    """What a run's model file costs on disk, for a history table: its size, "none" for a
    finished run stored before runs kept models, "" for a run that has not finished."""
    size = rec.provenance.get("model", {}).get("bytes")
    if size is not None:
        return human_bytes(size)
    return "none (old run)" if rec.status == "done" else ""


def human_bytes(n: float | None) -> str:
    """``1234567`` -> ``"1.2 MB"`` (decimal units, as file managers show); None -> ``""``."""
    if n is None or math.isnan(n):
        return ""
    if abs(n) < 1000:
        return f"{n:.0f} B"
    for unit in ("KB", "MB", "GB"):
        n /= 1000
        if abs(n) < 1000 or unit == "GB":
            break
    return f"{n:.1f} {unit}"

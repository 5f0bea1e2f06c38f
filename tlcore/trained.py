"""A finished run's model: what the store keeps of it, and the network rebuilt from it.

A run keeps only what training changed: the new head, every trained group's weights and
any BatchNorm statistics that moved. Frozen pretrained tensors are not copied again; a
rebuild takes them from the backbone's own sha256-checked weights, so a feature-extraction
run costs its head (a few KB) and a lab-net fine-tune about the net's 1.2 MB. A run from a
random init (scratch) keeps everything, since nothing else could give its tensors back.

The file (``runs/<id>/model.pt``, read with ``weights_only=True``) carries its config, class
names and the digests of the weights it sits on (nanoGPT's checkpoints carry their config
for the same reason): a model can always be rebuilt and explained, and a rebuild on top of
other base weights than the run used is refused instead of silently giving other answers.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from tlcore.config import RunConfig

MODEL_FILE = "model.pt"
FORMAT = 1  # bump when the file's layout changes


class NoStoredModel(LookupError):
    """The run has no model file (stored before models were kept, or not finished)."""


def pretrained_state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``net``'s tensors as loaded, to compare the trained ones against."""
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def changed_state(net: torch.nn.Module, init: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor]:
    """The tensors of ``net`` that differ from ``init`` (all of them when ``init`` is None,
    i.e. a random init), the head always. Shapes as in ``net.state_dict()``."""
    out = {}
    for k, v in net.state_dict().items():
        if init is None or k.startswith("head.") or k not in init or not torch.equal(v, init[k]):
            out[k] = v.detach().cpu().clone()
    return out


def model_payload(cfg: RunConfig, state: dict[str, torch.Tensor], class_names: list[str],
                  base_sha256: list[str]) -> dict:
    """What ``model.pt`` holds: only plain types and tensors, so ``weights_only`` loads it.
    ``base_sha256``: the digests of the weight files the run started from (none: random)."""
    return {"format": FORMAT, "run_id": cfg.run_id(), "config": cfg.to_dict(),
            "class_names": list(class_names), "base_sha256": sorted(base_sha256), "state": state}


def write_model(folder: Path, payload: dict) -> dict:
    """Write ``payload`` atomically to ``folder/model.pt``; returns ``{file, sha256, bytes}``
    for the run's provenance."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    blob = buf.getvalue()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{MODEL_FILE}.tmp{os.getpid()}"
    try:
        tmp.write_bytes(blob)
        os.replace(tmp, folder / MODEL_FILE)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not leave half a file behind
        raise
    return {"file": MODEL_FILE, "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}


@dataclass
class TrainedModel:
    """A stored run's network, ready to predict: eval mode, on the CPU."""

    run_id: str
    config: RunConfig
    net: torch.nn.Module
    preprocess: object  # tlcore.models.Preprocess of the run's backbone at the run's size
    class_names: tuple[str, ...]
    backbone_provenance: dict
    model_file: dict  # {file, sha256, bytes}

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``[N, C, H, W]`` (any size and channel count) -> ``[N, classes]``."""
        return self.net(self.preprocess(images)).softmax(1)


def load_trained(store, rid: str) -> TrainedModel:
    """Rebuild run ``rid``'s network from ``store``.

    Raises ``NoStoredModel`` (the message says to re-run) when the run kept no model, and
    ``ValueError`` when the base weights on this machine differ from the ones it used."""
    from tlcore.models import build_backbone
    from tlcore.strategies import STRATEGIES

    path = store.artifact_dir(rid) / MODEL_FILE
    rec = store.get(rid, history=False)
    if rec is None:
        raise NoStoredModel(f"no run {rid} in this store")
    if not path.is_file():
        why = ("it was stored before runs kept their models" if rec.status == "done"
               else f"it is {rec.status}, and only finished runs keep a model")
        raise NoStoredModel(f"run {rid} has no stored model: {why}. Re-run it to get one.")
    blob = path.read_bytes()
    payload = torch.load(io.BytesIO(blob), weights_only=True)
    if payload.get("format") != FORMAT:
        raise NoStoredModel(f"run {rid}'s model file has format {payload.get('format')}; "
                            f"this version reads {FORMAT}. Re-run it.")
    cfg = RunConfig.from_dict(payload["config"])
    strategy = STRATEGIES.get(cfg.strategy)
    bb = build_backbone(cfg.backbone, weights=strategy.weights(cfg), input_size=cfg.input_size)
    used = list(payload["base_sha256"])
    here = sorted(sha for _, sha in bb.provenance.files)
    if used != here:
        raise ValueError(f"run {rid} was trained on top of weights with sha256 "
                         f"{', '.join(s[:12] for s in used) or 'none'}; this machine has "
                         f"{', '.join(s[:12] for s in here) or 'none'}")
    net = bb.net
    class_names = tuple(payload["class_names"])
    net.reset_head(len(class_names))
    strategy.prepare_net(net, cfg)
    state = payload["state"]
    missing, unexpected = net.load_state_dict(state, strict=False)
    if unexpected or (not bb.weights.pretrained and missing):
        raise ValueError(f"run {rid}'s model does not fit {cfg.backbone}: "
                         f"unexpected {unexpected[:3]}, missing {missing[:3]}")
    net.eval()
    return TrainedModel(rid, cfg, net, bb.preprocess, class_names, bb.provenance.to_dict(),
                        {"file": MODEL_FILE, "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)})

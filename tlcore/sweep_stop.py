"""Early stopping of poor trials for ``tlcore sweep --early-stop median`` (off by default).

Optuna's ``MedianPruner`` decides: each trial's validation score is reported to it epoch
by epoch (read from the store, where every engine's epochs land), and a trial whose score
at an epoch is worse than the median of the earlier trials' scores at the same epoch is
asked to stop (``Store.request_stop``). It ends ``stopped``, its curve so far kept, not
``failed``. The first ``startup`` trials always run to the end, and no trial is judged
before ``warmup`` epochs (the command line: a third of the epochs). The rule compares a
trial's best score so far with the others' at the same epoch, so a good trial that starts
slowly is safe only after the warm-up: with the warm-up at one epoch, a learning rate as
good as the best three was stopped on a 50-image validation split's noise. A resumed sweep feeds its stored trials' curves in first, so it
judges the rest by the same rule, and keeps its stopped trials as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tlcore.runs import RunRecord, Store
from tlcore.sweep import metric

# the per-epoch history key each ranking metric is judged by
EPOCH_KEY = {"val_accuracy": "val_acc", "best_val_accuracy": "val_acc", "val_loss": "val_loss"}
RULES = ("none", "median")


@dataclass
class MedianStop:
    metric_name: str
    startup: int = 3
    warmup: int = 1
    _trials: dict = field(default_factory=dict)  # run id -> [optuna trial, epochs reported]

    def __post_init__(self) -> None:
        from tlcore.sweep_tpe import _optuna

        optuna = _optuna()
        self.key = EPOCH_KEY[self.metric_name]
        higher = metric(self.metric_name).higher
        self.study = optuna.create_study(
            direction="maximize" if higher else "minimize",
            pruner=optuna.pruners.MedianPruner(n_startup_trials=self.startup, n_warmup_steps=self.warmup))

    def _report(self, rid: str, history: list[dict]) -> bool:
        """Report epochs not reported yet; True when new ones came."""
        entry = self._trials.setdefault(rid, [self.study.ask(), 0])
        trial, seen = entry
        new = [h for h in history[seen:] if self.key in h]
        for h in new:
            trial.report(float(h[self.key]), int(h["epoch"]))
        entry[1] = len(history)
        return bool(new)

    def watch(self, store: Store, inflight: list[str]) -> list[str]:
        """The trials in flight that should stop now."""
        out = []
        for rid in inflight:
            rec = store.get(rid)
            if rec is not None and rec.status == "running" and self._report(rid, rec.history) \
                    and self._trials[rid][0].should_prune():
                out.append(rid)
        return out

    def ended(self, rid: str, record: RunRecord) -> None:
        """A trial finished (or came from the store): its whole curve is reported, then its
        end, so later trials are judged against it."""
        from tlcore.sweep_tpe import _optuna

        optuna = _optuna()
        self._report(rid, record.history)
        trial = self._trials.pop(rid)[0]
        if record.status == "done":
            self.study.tell(trial, metric(self.metric_name).read(record))
        elif record.status == "stopped":
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)

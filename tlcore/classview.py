"""The teacher's view of a shared workspace: everyone's results of the same lesson step,
side by side.

A *step* is a setup with its strategy and seed left out: the classic comparison a class
runs (scratch, feature extraction, fine-tuning on one dataset and backbone) is one step,
whatever seed each student picked. Within a step every finished run is one dot, placed by
strategy and accuracy, and labelled by who queued it (students are numbered in the order
they first queued a run, or by the name they typed in the sidebar). Runs are content-addressed,
so two students who ran the very same seed share one run and one dot: the first to queue
it is named.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tlcore.runs import RunRecord

VARIES = ("strategy", "seed")  # what students vary within one step


def step_key(rec: RunRecord) -> str:
    """The run's setup with the fields that vary within a step left out."""
    d = rec.config.to_dict()
    for f in VARIES:
        d.pop(f, None)
    return json.dumps(d, sort_keys=True)


@dataclass(frozen=True)
class Step:
    key: str
    runs: tuple[RunRecord, ...]  # oldest first

    @property
    def example(self) -> RunRecord:
        return self.runs[0]

    @property
    def finished(self) -> tuple[RunRecord, ...]:
        return tuple(r for r in self.runs if r.status == "done" and metric(r) is not None)

    @property
    def active(self) -> bool:
        return any(r.status in ("queued", "running") for r in self.runs)


def metric(rec: RunRecord) -> float | None:
    """What a dot shows: the target's accuracy for an adaptation step, else the test's."""
    m = rec.metrics
    return m.get("target_accuracy", m.get("test_accuracy"))


def steps(recs: Sequence[RunRecord]) -> list[Step]:
    """The workspace's steps, the one with the most students first (then the newest)."""
    groups: dict[str, list[RunRecord]] = {}
    for r in sorted(recs, key=lambda r: r.created):
        groups.setdefault(step_key(r), []).append(r)
    out = [Step(k, tuple(v)) for k, v in groups.items()]
    return sorted(out, key=lambda s: (-len(students(s.runs)), -max(r.created for r in s.runs)))


def students(recs: Sequence[RunRecord], named: Mapping[str, str] | None = None) -> dict[str, str]:
    """owner -> the name they gave (``named``: ``Store.names``), else "student N",
    numbered by each one's first run (a CLI or sweep owner keeps its kind: "command
    line", "sweep"). A browser keeps its owner across reloads (``ui.store.owner``), so a
    reload is not a new student."""
    named = named or {}
    names: dict[str, str] = {}
    n = 0
    for r in sorted(recs, key=lambda r: r.created):
        who = r.owner or "?"
        if who in names:
            continue
        if who in named:
            names[who] = named[who]
        elif who.startswith("cli-"):
            names[who] = "command line"
        elif who.startswith("sw-"):
            names[who] = "sweep"
        else:
            n += 1
            names[who] = f"student {n}"
    return names


def points(step: Step, named: Mapping[str, str] | None = None) -> list[dict]:
    """One dot per finished run: strategy, accuracy, seed and who (``students``)."""
    names = students(step.runs, named)
    return [{"strategy": r.config.strategy, "accuracy": metric(r), "seed": r.config.seed,
             "who": names[r.owner or "?"], "run_id": r.id} for r in step.finished]

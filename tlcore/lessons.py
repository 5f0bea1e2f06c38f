"""Guided lessons: short walk-throughs of the app's pages, written for students.

A lesson is one Markdown file in ``assets/lessons/`` (sorted by file name):

    # Title
    intro paragraphs
    ## Step title
    page: adapt                      (the app page the step happens on)
    setup: dataset=mnist&target=...  (optional: the setup to load, as URL parameters)
    what to do, and a "Look for:" line saying what to notice

Keeping the text in Markdown lets a teacher edit or add a lesson without touching code;
the setup line uses the same URL form as a shared link, so it is parsed and checked by
the same code (``tlcore.urlstate``), and a test checks every lesson's pages and setups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tlcore.paths import ASSETS

LESSONS_DIR = ASSETS / "lessons"
# page names a step may name -> the app's page files (app.py's navigation)
PAGES = {"home": "home", "data": "data", "model": "model", "train": "train", "compare": "compare",
         "embeddings": "embeddings", "adapt": "adapt", "advisor": "advisor", "experiments": "experiments"}


@dataclass(frozen=True)
class Step:
    title: str
    page: str
    text: str
    setup: str = ""  # URL query string, "" = keep the current setup


@dataclass(frozen=True)
class Lesson:
    slug: str
    title: str
    intro: str
    steps: tuple[Step, ...] = field(default_factory=tuple)


def parse(text: str, slug: str) -> Lesson:
    """One lesson from its Markdown; raises ValueError naming the problem."""
    title, intro, steps = "", [], []
    cur: dict | None = None
    for line in text.splitlines():
        if line.startswith("# ") and not title:
            title = line[2:].strip()
        elif line.startswith("## "):
            cur = {"title": line[3:].strip(), "page": "", "setup": "", "text": []}
            steps.append(cur)
        elif cur is not None and line.startswith("page:") and not cur["text"]:
            cur["page"] = line[5:].strip()
        elif cur is not None and line.startswith("setup:") and not cur["text"]:
            cur["setup"] = line[6:].strip()
        elif cur is None:
            intro.append(line)
        else:
            cur["text"].append(line)
    if not title or not steps:
        raise ValueError(f"lesson {slug}: needs a '# title' and at least one '## step'")
    out = []
    for s in steps:
        if s["page"] not in PAGES:
            raise ValueError(f"lesson {slug}, step {s['title']!r}: unknown page {s['page']!r} "
                             f"(one of {', '.join(PAGES)})")
        out.append(Step(s["title"], s["page"], "\n".join(s["text"]).strip(), s["setup"]))
    return Lesson(slug, title, "\n".join(intro).strip(), tuple(out))


def load_all(folder: Path = LESSONS_DIR) -> list[Lesson]:
    return [parse(p.read_text(encoding="utf-8"), p.stem) for p in sorted(folder.glob("*.md"))]


def setup_params(step: Step) -> dict[str, str]:
    """The step's setup as query parameters (``{}`` when it keeps the current one)."""
    from urllib.parse import parse_qsl

    return dict(parse_qsl(step.setup, keep_blank_values=False)) if step.setup else {}

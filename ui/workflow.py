"""The transfer-learning workflow as one clickable diagram (Home).

``workflow_svg`` is a pure function: the words of ``tlcore.workflow`` laid out as an
SVG in which every box is a link to the page that does that step, carrying the URL's
query parameters (the setup lives there, see ``ui.state``), so a click opens that page
with the same setup. Every piece of text is escaped: dataset names can be upload file
names. ``draw_workflow`` adds the one thing worth caching, the freeze plan (it builds a
network with random weights), keyed like the Model page's.

The SVG goes through ``st.markdown(unsafe_allow_html=True)`` rather than ``st.html``:
Markdown keeps the links' ``target="_self"`` (same tab). It is wrapped in a ``<div>`` and
has no blank line, so Markdown passes it through as one raw HTML block.

Importing this module imports torch and the models (through ``tlcore.estimate`` and
``tlcore.workflow``), seconds in a fresh server: Home imports it only after the rest of its
page is drawn (``app_pages/home.py``).
"""

from __future__ import annotations

import textwrap
from functools import lru_cache
from html import escape
from urllib.parse import urlencode

import streamlit as st

from tlcore.config import RunConfig
from tlcore.estimate import Plan, plan, timing_key
from tlcore.urlstate import config_to_params
from tlcore.workflow import STEPS, GroupState, Step, Workflow, workflow
from ui.store import get_store
from ui.workflow_frame import HEIGHT, PAD, WIDTH, heading

# step -> url path of the page that does it, as app.py's navigation serves it
PAGES: dict[str, str] = {
    "source": "model",
    "backbone": "model",
    "groups": "model",
    "head": "model",
    "data": "data",
    "model": "train",
    "use": "try_it",  # the Try it page: predictions and the model's export
    "compare": "compare",  # runs side by side, CSV / JSON / PNG export
}
CTA = {
    "source": "Model page",
    "backbone": "Model page",
    "head": "Model page",
    "data": "Data page",
    "model": "Train page",
    "use": "Try it",
}
NUMBER = {s: i + 1 for i, s in enumerate(STEPS)}
FONT = "'Source Sans Pro', 'Source Sans 3', 'Source Sans', 'Helvetica Neue', Arial, sans-serif"
INK, MUTED, LINK, WARN = "#1f2933", "#52606d", "#1c6fc2", "#c92a2a"
PAGE_INK = "currentColor"  # text outside the boxes takes the theme's colour (light or dark)
TONES = {"plain": ("#f8f9fb", "#6b7280"), "alert": ("#fdecec", WARN), "off": ("#f1f3f5", "#adb5bd")}
CHIPS = {
    "frozen": ("#e3ecf7", "#4a78b5"),
    "trains": ("#ffe3c4", "#e8590c"),
    "partly": ("#fff3d6", "#e8a33c"),
    "later": ("#fff3d6", "#e8590c"),
}
# average glyph width, in ems, of the app's font (Source Sans: 0.42-0.46 regular, 0.44-0.49
# bold, measured in Chromium), for fitting text to a box; bold text gets 6% more
CHAR_EM = 0.47
TITLE, BODY, SMALL, TINY = 16, 14, 13, 12  # font sizes in viewBox px (about 0.95 screen px at 1280)


def page_href(step: str, params: dict[str, str]) -> str:
    """The relative link for ``step``: the page's url path and the query. Relative, so it
    works under any ``server.baseUrlPath``."""
    query = urlencode(params)
    return PAGES[step] + (f"?{query}" if query else "")


def link_params(cfg: RunConfig, current: dict[str, str]) -> dict[str, str]:
    """The URL's parameters with the setup's own fields written from ``cfg``: parameters
    that are not config fields stay; config fields are exactly ``config_to_params``, so
    an invalid value a link brought in (already replaced by its default) is not passed on."""
    keep = {k: v for k, v in current.items() if k not in RunConfig.__dataclass_fields__}
    return {**keep, **config_to_params(cfg)}


def wrap(text: str, width: float, size: float, max_lines: int = 3) -> list[str]:
    """``text`` broken into lines of about ``width`` px at font ``size``; the last line
    ends with an ellipsis when more would not fit."""
    n = max(4, int(width / (size * CHAR_EM)))
    lines = textwrap.wrap(text, n, break_on_hyphens=False) or [""]  # a too-long word is split
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: n - 1].rstrip() + "…"
    return lines


def compact(n: int) -> str:
    """A parameter count short enough for a narrow chip: 696, 17.1k, 8.39M."""
    if n < 1000:
        return str(n)
    k = float(f"{n / 1000:.3g}")
    return f"{k:g}k" if k < 1000 else f"{float(f'{n / 1e6:.3g}'):g}M"


def _text(
    x: float,
    y: float,
    text: str,
    size: float = BODY,
    weight: str = "normal",
    fill: str = INK,
    anchor: str = "start",
) -> str:
    return (
        f'<text x="{x:g}" y="{y:g}" font-size="{size:g}" font-weight="{weight}" fill="{fill}" '
        f'text-anchor="{anchor}">{escape(text)}</text>'
    )


def _para(
    x: float, y: float, text: str, width: float, size: float = BODY, max_lines: int = 3, **kw
) -> tuple[str, float]:
    """Wrapped text from baseline ``y``; returns the SVG and the next free baseline."""
    step = size * 1.3
    lines = wrap(text, width, size, max_lines)
    svg = "".join(_text(x, y + i * step, ln, size, **kw) for i, ln in enumerate(lines))
    return svg, y + len(lines) * step


def _badge(x: float, y: float, n: int, color: str) -> str:
    return f'<circle cx="{x:g}" cy="{y:g}" r="10" fill="{color}"/>' + _text(
        x, y + 4.5, str(n), 12, "bold", "#fff", "middle"
    )


def _box(
    key: str, step: Step, x: float, y: float, w: float, h: float, href: str, max_lines: int = 3
) -> str:
    """A linked, numbered box: title, its lines (wrapped), and "<page> →" at the bottom."""
    fill, stroke = TONES["alert" if step.alert else "off" if step.off else "plain"]
    dash = ' stroke-dasharray="5 4"' if step.off else ""
    parts = [
        f'<a href="{escape(href)}" target="_self" data-step="{key}">',
        f"<title>{escape(step.title)}: open the {escape(CTA[key])}</title>",
        f'<rect class="tl-box" x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" rx="10" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"{dash}/>',
        _badge(x + 18, y + 19, NUMBER[key], stroke),
        _text(x + 34, y + 24.5, wrap(step.title, (w - 44) / 1.06, TITLE, 1)[0], TITLE, "bold"),
    ]
    cy, bottom = y + 47, y + h - 27  # last baseline that stays clear of the link line
    if step.alert:
        svg, cy = _para(x + 12, cy, step.alert, w - 24, BODY, 4, fill=WARN, weight="bold")
        parts.append(svg)
    for line in step.lines:
        if cy > bottom:
            break  # the least important lines come last
        room = max(1, min(max_lines, int((bottom - cy) / (BODY * 1.3)) + 1))
        svg, cy = _para(x + 12, cy, line, w - 24, BODY, room)
        parts.append(svg)
    parts.append(_text(x + w - 12, y + h - 10, f"{CTA[key]} →", SMALL, "bold", LINK, "end"))
    parts.append("</a>")
    return "".join(parts)


def _chips(groups: tuple[GroupState, ...], x: float, y: float, w: float, h: float) -> str:
    """The body groups left to right (input side first), coloured by what they do."""
    gap = 8
    cw = (w - gap * (len(groups) - 1)) / len(groups)
    out = []
    for i, g in enumerate(groups):
        cx = x + i * (cw + gap)
        fill, stroke = CHIPS[g.state]
        dash = ' stroke-dasharray="4 3"' if g.state in ("partly", "later") else ""
        out.append(
            f'<rect x="{cx:g}" y="{y:g}" width="{cw:g}" height="{h:g}" rx="6" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="1.5"{dash}>'
            f"<title>{escape(g.name)}: {escape(g.note)}, {g.params:,} parameters</title></rect>"
        )
        mid = cx + cw / 2
        out.append(
            _text(
                mid,
                y + 19,
                wrap(g.name, (cw - 8) / 1.06, BODY, 1)[0],
                BODY,
                "bold",
                anchor="middle",
            )
        )
        svg, _ = _para(mid, y + 36, g.note, cw - 8, SMALL, 2, anchor="middle")
        out.append(svg)
        out.append(
            _text(mid, y + h - 8, f"{compact(g.params)} params", TINY, fill=MUTED, anchor="middle")
        )
    return "".join(out)


def _legend(x: float, y: float) -> str:
    out = []
    for state, text in (
        ("frozen", "frozen: keeps pretrained values"),
        ("trains", "trains"),
        ("later", "trains later or in part"),
    ):
        fill, stroke = CHIPS[state]
        dash = ' stroke-dasharray="3 2"' if state == "later" else ""
        out.append(
            f'<rect x="{x:g}" y="{y - 10:g}" width="14" height="12" rx="3" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="1.5"{dash}/>'
            + _text(x + 19, y, text, TINY, fill=PAGE_INK)
        )
        x += 30 + len(text) * TINY * CHAR_EM
    return "".join(out)


def _groups(wf: Workflow, href: str, x: float, y: float, w: float, h: float) -> str:
    """Step 3, drawn over the backbone's box as a sibling link (links cannot nest)."""
    step = wf.steps["groups"]
    head = "Layer groups, input side first" + (f": {step.lines[0]}" if wf.groups else "")
    body = (
        _chips(wf.groups, x + 10, y + 30, w - 20, h - 40)
        if wf.groups
        else _para(x + 12, y + 50, step.alert, w - 24, BODY, 4, fill=WARN)[0]
    )
    return (
        f'<a href="{escape(href)}" target="_self" data-step="groups">'
        "<title>Layer groups: choose which train on the Model page</title>"
        f'<rect class="tl-box" x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" rx="8" fill="#fff" '
        f'stroke="#ced4da" stroke-width="1.5"/>'
        + _badge(x + 16, y + 16, NUMBER["groups"], "#868e96")
        + _text(x + 32, y + 21, wrap(head, (w - 44) / 1.06, SMALL, 1)[0], SMALL, "bold", MUTED)
        + body
        + "</a>"
    )


def _arrow(points: list[tuple[float, float]], dashed: bool = False, head: bool = True) -> str:
    path = " ".join(f"{px:g},{py:g}" for px, py in points)
    dash = ' stroke-dasharray="5 4"' if dashed else ""
    end = ' marker-end="url(#tl-arrow)"' if head else ""
    return f'<polyline points="{path}" fill="none" stroke="#868e96" stroke-width="2"{dash}{end}/>'


def workflow_svg(wf: Workflow, params: dict[str, str]) -> str:
    """The diagram as one ``<div><svg>…</svg></div>`` string without blank lines.

    Top row, left to right: source data -> pretrained backbone (its layer groups inside)
    -> new head. Bottom row: your data -> trained model (the backbone and head after
    training on your data) -> predictions & export.
    """
    s = wf.steps
    href = {k: page_href(k, params) for k in PAGES}
    top, h1, low, h2 = 8, 232, 282, 142
    sx, sw, bx, bw, hx, hw = 0, 160, 194, 462, 690, 170  # source, backbone, head columns
    dx, dw, mx, mw, ux, uw = 0, 340, 378, 232, 648, 212  # data, model, use columns
    mid = top + 100
    join = top + h1 + 20  # where the backbone and head meet on their way to the model
    svg = [
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="-{PAD} -{PAD} {WIDTH + 2 * PAD} {HEIGHT + 2 * PAD}" width="100%" '
        f'style="max-width:{WIDTH}px;font-family:{FONT}" role="img" '
        'aria-label="The transfer learning workflow for the current setup">',
        '<defs><marker id="tl-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#868e96"/>'
        "</marker></defs>",
        # Markdown underlines link text; inside the diagram the boxes are the links
        "<style>.tl-workflow a{text-decoration:none!important}"
        ".tl-workflow a:hover .tl-box{stroke:#1c6fc2;stroke-width:2.5}</style>",
        _box("source", s["source"], sx, top, sw, h1, href["source"], max_lines=5),
        _arrow([(sx + sw, mid), (bx - 2, mid)], dashed=s["source"].off),
        _box("backbone", s["backbone"], bx, top, bw, h1, href["backbone"], max_lines=1),
        _groups(wf, href["groups"], bx + 8, top + 92, bw - 16, 116),
        _arrow([(bx + bw, mid), (hx - 2, mid)]),
        _box("head", s["head"], hx, top, hw, h1, href["head"]),
        _arrow(
            [
                (bx + bw / 2, top + h1),
                (bx + bw / 2, join),
                (hx + hw / 2, join),
                (hx + hw / 2, top + h1),
            ],
            head=False,
        ),
        _arrow([(mx + mw / 2, join), (mx + mw / 2, low - 2)]),
        _legend(2, join + 4) if wf.groups else "",
        _box("data", s["data"], dx, low, dw, h2, href["data"], max_lines=2),
        _arrow([(dx + dw, low + 50), (mx - 2, low + 50)]),
        _text((dx + dw + mx) / 2, low + 42, "trains", TINY, fill=PAGE_INK, anchor="middle"),
        _box("model", s["model"], mx, low, mw, h2, href["model"], max_lines=2),
        _arrow([(mx + mw, low + 50), (ux - 2, low + 50)]),
        _box("use", s["use"], ux, low, uw, h2, href["use"]),
        f'<a href="{escape(href["compare"])}" target="_self" data-step="compare">'
        "<title>Compare runs side by side; export CSV / JSON / PNG</title>"
        + _text(ux + 12, low + h2 - 10, "Compare runs →", SMALL, "bold", LINK)
        + "</a>",
        "</svg>",
    ]
    return '<div class="tl-workflow">' + "".join(svg) + "</div>"


@lru_cache(maxsize=64)
def _plan(key: RunConfig) -> Plan:
    """Keyed by ``timing_key(cfg)`` like the Model page's: only what changes the groups.
    An ``lru_cache``, not ``st.cache_data``: a ``Plan`` is frozen, so every session can
    share the one object, and a hit costs microseconds instead of ~10 ms on
    each rerun of Home with ``st.cache_data``'s copy. Errors are not cached."""
    return plan(key)


def draw_workflow(cfg: RunConfig) -> None:
    """Draw the diagram for ``cfg``, the current setup; a plan that cannot be made (custom
    groups the backbone lacks, an upload that is gone) is shown in the groups box."""
    try:
        p, err = _plan(timing_key(cfg)), ""
    except (ValueError, KeyError, OSError, RuntimeError) as e:
        p, err = None, str(e)
    wf = workflow(cfg, p, err, trained=get_store().has_model(cfg.run_id()))
    heading()
    st.markdown(
        workflow_svg(wf, link_params(cfg, st.query_params.to_dict())), unsafe_allow_html=True
    )

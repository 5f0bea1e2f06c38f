"""Plotly figures from plain data (lists and dicts), so pages only place them."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import plotly.graph_objects as go

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]

METRIC_TITLES = {
    "val_acc": "validation accuracy", "train_acc": "training accuracy", "target_acc": "target accuracy",
    "train_loss": "training loss", "val_loss": "validation loss", "target_loss": "target loss",
    "domain_acc": "domain discriminator accuracy", "test_acc": "test accuracy", "a_distance": "proxy A-distance",
}


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def curves(series: Sequence[dict], metric: str, x_title: str = "epoch", height: int = 360,
           reference: tuple[float, str] | None = None) -> go.Figure:
    """Learning curves. Each series: ``label``, ``x``, ``mean`` and optional ``lo``/``hi`` band
    (drawn when ``n`` > 1), ``color`` and ``dash`` ("dash" for published reference numbers).
    ``reference`` = (y, text) draws a dashed horizontal line, e.g. chance level."""
    fig = go.Figure()
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        if s.get("lo") and s.get("hi") and s.get("n", 1) > 1:
            fig.add_trace(go.Scatter(x=list(s["x"]) + list(s["x"])[::-1], y=list(s["hi"]) + list(s["lo"])[::-1],
                                     fill="toself", fillcolor=_rgba(color, 0.15), line={"width": 0}, mode="lines",
                                     hoverinfo="skip", showlegend=False, name=f"{s['label']} band"))
        fig.add_trace(go.Scatter(x=s["x"], y=s["mean"], mode="lines+markers", name=s["label"],
                                 line={"color": s.get("color", color), "width": 2, "dash": s.get("dash", "solid")},
                                 marker={"size": 5}))
    title = METRIC_TITLES.get(metric, metric)
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10}, title=title,
                      xaxis_title=x_title, yaxis_title=title, legend={"orientation": "h", "y": -0.25},
                      hovermode="x unified")
    if "acc" in metric:
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    xs = [x for s in series for x in s["x"]]
    if x_title == "epoch" and xs and all(float(x).is_integer() for x in xs):  # no tick at epoch 1.5
        fig.update_xaxes(tickmode="linear", tick0=0, dtick=max(1, math.ceil(max(xs) / 10)))
    if reference is not None:
        fig.add_hline(y=reference[0], line_dash="dash", line_color="#7f7f7f", annotation_text=reference[1],
                      annotation_position="bottom right")
    return fig


def confusion(matrix: Sequence[Sequence[int]], class_names: Sequence[str], title: str = "confusion matrix") -> go.Figure:
    fig = go.Figure(go.Heatmap(z=matrix, x=list(class_names), y=list(class_names), colorscale="Blues",
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{z} images<extra></extra>",
                               texttemplate="%{z}"))
    fig.update_layout(title=title, xaxis_title="predicted", yaxis_title="true", height=420,
                      xaxis={"type": "category"}, yaxis={"autorange": "reversed", "type": "category"},
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def bars(labels: Sequence[str], values: Sequence[float], title: str, errors: Sequence[float] | None = None,
         percent: bool = True) -> go.Figure:
    fig = go.Figure(go.Bar(x=list(labels), y=list(values), marker_color=PALETTE[: len(labels)],
                           error_y={"type": "data", "array": list(errors)} if errors else None,
                           text=[f"{v:.1%}" if percent else f"{v:g}" for v in values], textposition="outside"))
    fig.update_layout(title=title, height=340, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    if percent:
        fig.update_yaxes(range=[0, 1.1], tickformat=".0%")
    return fig


def image_grid(image, row_labels: Sequence[str], cell: int, gap: int = 2, title: str = "",
               height: int | None = None) -> go.Figure:
    """A sample grid (uint8 ``[H, W, 3]``, one row per class) with class names on the rows."""
    rows = len(row_labels)
    fig = go.Figure(go.Image(z=image, hoverinfo="skip"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(tickvals=[gap + i * (cell + gap) + cell / 2 for i in range(rows)],
                     ticktext=list(row_labels), showgrid=False, zeroline=False, ticks="")
    fig.update_layout(title=title or None, height=height or max(200, 40 * rows + 60),
                      margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10})
    return fig


def class_counts(class_names: Sequence[str], counts: Sequence[int], needed: int | None = None,
                 title: str = "images per class", all_labels: bool = False) -> go.Figure:
    """Images per class; ``needed`` (what a split takes from each class) goes in the title
    and, where it would not vanish against the bars, as a dashed line."""
    fig = go.Figure(go.Bar(x=list(class_names), y=list(counts), marker_color=PALETTE[0],
                           hovertemplate="%{x}: %{y:,} images<extra></extra>"))
    if needed is not None:
        title += (f" · a run holds out {needed:,} of each and trains on the rest" if all_labels
                  else f" · a run takes {needed:,} of each")
        if counts and needed >= 0.03 * max(counts):
            fig.add_hline(y=needed, line_dash="dash", line_color=PALETTE[3])
    fig.update_layout(title=title, height=280, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      yaxis_title="images", xaxis={"type": "category"})
    return fig


def time_parts(parts: dict[str, float], title: str = "where the time goes") -> go.Figure:
    """One horizontal stacked bar of seconds per part of a run."""
    fig = go.Figure()
    for i, (name, seconds) in enumerate(parts.items()):
        fig.add_trace(go.Bar(y=[""], x=[seconds], name=name, orientation="h",
                             marker_color=PALETTE[i % len(PALETTE)],
                             hovertemplate=f"{name}: %{{x:.1f}} s<extra></extra>"))
    fig.update_layout(barmode="stack", title=title, height=160, xaxis={"ticksuffix": " s"},
                      margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"orientation": "h", "y": -0.35, "traceorder": "normal"})
    return fig


# -- embeddings ----------------------------------------------------------------------
DOMAIN_COLORS = {"source": PALETTE[0], "target": PALETTE[1]}
DOMAIN_SYMBOLS = {"source": "circle", "target": "diamond"}


def embedding(panels: Sequence[tuple[str, dict]], color_by: str = "domain", axis_prefix: str = "",
              height: int = 440) -> go.Figure:
    """Scatter panels side by side: one fitted map, several feature sets.

    Each panel is ``(title, points)`` with ``points`` the columns of
    ``tlcore.embed.EmbeddingMap.points``. ``color_by`` is ``"domain"`` (source blue,
    target orange) or ``"class"`` (a colour per class; source circles, target diamonds).
    Every point carries ``customdata = [domain, index, class name, stage]``, so a click
    can say which image it is. ``axis_prefix`` ("PC") labels axes that mean something.
    """
    from plotly.subplots import make_subplots

    # Each panel scales to its own points: in a joint map the stages occupy different
    # regions, so shared axes would leave each panel half empty.
    fig = make_subplots(rows=1, cols=max(1, len(panels)), subplot_titles=[t for t, _ in panels],
                        horizontal_spacing=0.06)
    seen: set[str] = set()
    classes = sorted({(lab, name) for _, p in panels for lab, name in zip(p["label"], p["class_name"], strict=True)})
    for col, (_, p) in enumerate(panels, start=1):
        n = len(p["x"])
        for dom in ("source", "target"):
            groups = [(dom, None)] if color_by == "domain" else [(dom, c) for c in classes]
            for d, cls in groups:
                rows = [i for i in range(n) if p["domain"][i] == d and (cls is None or p["label"][i] == cls[0])]
                if not rows:
                    continue
                name = d if cls is None else str(cls[1])
                color = DOMAIN_COLORS[d] if cls is None else PALETTE[cls[0] % len(PALETTE)]
                fig.add_trace(go.Scatter(
                    x=[p["x"][i] for i in rows], y=[p["y"][i] for i in rows], mode="markers", name=name,
                    legendgroup=name, showlegend=name not in seen,
                    marker={"color": color, "size": 6, "opacity": 0.75, "symbol": DOMAIN_SYMBOLS[d],
                            "line": {"width": 0}},
                    customdata=[[p["domain"][i], p["index"][i], p["class_name"][i], p["stage"][i]] for i in rows],
                    hovertemplate="class %{customdata[2]}<br>%{customdata[0]} image #%{customdata[1]}"
                                  "<extra>%{customdata[3]}</extra>"), row=1, col=col)
                seen.add(name)
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"title": "domain" if color_by == "domain" else "class", "itemsizing": "constant"},
                      dragmode="pan", clickmode="event+select")
    fig.update_xaxes(showticklabels=bool(axis_prefix), zeroline=False,
                     title_text=f"{axis_prefix} 1" if axis_prefix else None)
    fig.update_yaxes(showticklabels=bool(axis_prefix), zeroline=False)
    fig.update_yaxes(title_text=f"{axis_prefix} 2" if axis_prefix else None, row=1, col=1)
    return fig


def strategy_grid(x: float, y: float, x_split: float, y_split: float, cells: dict[tuple[int, int], str],
                  x_title: str, y_title: str, point_text: str = "your target", y_max: float = 2.0) -> go.Figure:
    """The size x similarity grid: four shaded cells with their advice and the user's point.

    ``x`` is drawn on a log axis (labelled images); ``cells[(col, row)]`` is the text of a
    cell (col 0 = small, row 0 = the lower half of ``y``)."""
    import math

    x_lo, x_hi = 1.0, max(x * 4, x_split * 30)
    fig = go.Figure()
    shades = ["rgba(31,119,180,0.10)", "rgba(255,127,14,0.10)", "rgba(44,160,44,0.10)", "rgba(148,103,189,0.10)"]
    for (col, row), text in cells.items():
        x0, x1 = (x_lo, x_split) if col == 0 else (x_split, x_hi)
        y0, y1 = (0.0, y_split) if row == 0 else (y_split, y_max)
        fig.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line={"width": 0},
                      fillcolor=shades[(col * 2 + row) % len(shades)], layer="below")
        fig.add_annotation(x=math.log10(math.sqrt(x0 * x1)), y=(y0 + y1) / 2, text=text, showarrow=False,
                           font={"size": 13, "color": "#444"})
    fig.add_trace(go.Scatter(x=[x], y=[min(max(y, 0.0), y_max)], mode="markers+text", text=[point_text],
                             textposition="top center", marker={"size": 16, "color": "#d62728", "symbol": "star"},
                             name=point_text, hovertemplate=f"{x_title}: %{{x:,.0f}}<br>{y_title}: {y:.2f}<extra></extra>"))
    fig.update_layout(height=380, margin={"l": 10, "r": 10, "t": 30, "b": 10}, showlegend=False,
                      xaxis={"type": "log", "title": x_title, "range": [0, math.log10(x_hi)]},
                      yaxis={"title": y_title, "range": [0, y_max]})
    return fig


def ranking(labels: Sequence[str], predicted: Sequence[int], actual: Sequence[int], title: str) -> go.Figure:
    """Predicted vs actual rank per item (1 = best) as a slope chart: crossing lines are
    where the prediction was wrong. Names sit outside the two columns of points."""
    fig = go.Figure()
    for i, (name, p, a) in enumerate(zip(labels, predicted, actual, strict=True)):
        color = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(x=[0, 1], y=[p, a], mode="lines+markers+text", name=name,
                                 text=[name, name], textposition=["middle left", "middle right"],
                                 textfont={"color": color}, line={"color": color, "width": 3}, marker={"size": 10},
                                 hovertemplate=f"{name}: predicted #{p}, actual #{a}<extra></extra>"))
    n = len(labels)
    fig.update_layout(title=title, height=max(240, 60 * n + 80), showlegend=False,
                      margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      xaxis={"range": [-1.1, 2.1], "tickvals": [0, 1], "ticktext": ["predicted", "actual"],
                             "showgrid": False, "zeroline": False},
                      yaxis={"autorange": "reversed", "tickvals": list(range(1, n + 1)), "title": "rank (1 = best)"})
    return fig


def predicted_accuracy(names: Sequence[str], accuracy: Sequence[float], low: Sequence[float],
                       high: Sequence[float], title: str, actual: Sequence[float | None] | None = None) -> go.Figure:
    """Predicted accuracy per item (best at the top) with its band as an error bar, and the
    real accuracy as a hollow marker where it is known."""
    y = list(names)
    fig = go.Figure(go.Scatter(
        x=list(accuracy), y=y, mode="markers", name="predicted", marker={"size": 11, "color": PALETTE[0]},
        error_x={"type": "data", "symmetric": False, "array": [h - a for h, a in zip(high, accuracy, strict=True)],
                 "arrayminus": [a - lo for a, lo in zip(accuracy, low, strict=True)], "thickness": 2},
        hovertemplate="%{y}: predicted %{x:.1%}<extra></extra>"))
    if actual is not None and any(a is not None for a in actual):
        fig.add_trace(go.Scatter(x=list(actual), y=y, mode="markers", name="real", hovertemplate="%{y}: real %{x:.1%}"
                                 "<extra></extra>", marker={"size": 12, "symbol": "circle-open", "color": PALETTE[1],
                                                             "line": {"width": 2}}))
    fig.update_layout(title=title, height=80 + 40 * len(y), margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"orientation": "h", "y": -0.15}, yaxis={"autorange": "reversed"},
                      xaxis={"tickformat": ".0%", "title": "test accuracy"})
    return fig


def budget(series: Sequence[dict], crossover: tuple[int, str] | None = None) -> go.Figure:
    """Test accuracy against labelled images per class (log axis), bands over seeds; a
    dotted line where one strategy overtakes another for good."""
    fig = curves(series, "test_acc", x_title="labelled images per class (k)")
    ks = sorted({k for s in series for k in s["x"]})
    fig.update_xaxes(type="log", tickvals=ks, ticktext=[str(k) for k in ks])
    fig.update_layout(title="test accuracy against the label budget", yaxis_title="test accuracy")
    if crossover is not None:
        fig.add_vline(x=crossover[0], line_dash="dot", line_color="#555", annotation_text=crossover[1],
                      annotation_position="top left")
    return fig


def distortion(series: Sequence[dict], height: int = 320) -> go.Figure:
    """Feature distortion (``tlcore.cka``): per layer group, the linear CKA between a run's
    pretrained and trained features, one line per run. Each series: ``label``, ``groups``
    (chain order, lowest first) and ``values`` in [0, 1]; 1 = unmoved."""
    fig = go.Figure()
    for i, s in enumerate(series):
        fig.add_trace(go.Scatter(x=list(s["groups"]), y=list(s["values"]), mode="lines+markers", name=s["label"],
                                 line={"color": PALETTE[i % len(PALETTE)], "width": 2}, marker={"size": 7},
                                 hovertemplate="%{x}: CKA %{y:.3f}<extra>%{fullData.name}</extra>"))
    fig.update_layout(title="feature similarity to the pretrained network (linear CKA)", height=height,
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, xaxis_title="layer group (input side first)",
                      yaxis_title="CKA", legend={"orientation": "h", "y": -0.3},
                      xaxis={"type": "category"})
    fig.update_yaxes(range=[0, 1.05])
    return fig


def yosinski(series: Sequence[dict], paper: Sequence[dict]) -> go.Figure:
    """Our four arms against depth (share of copyable layers copied), beside the paper's
    points (hollow markers, on the same depth axis but their own accuracy scale)."""
    fig = curves(series, "test_acc", x_title="copied layers, as a share of the network's depth (n / total)")
    fig.update_layout(title="copy n layers, then freeze (AnB, BnB) or fine-tune (AnB+, BnB+)",
                      yaxis_title="test accuracy on B")
    for p in paper:
        fig.add_trace(go.Scatter(x=p["x"], y=p["y"], mode="markers+lines" if len(p["x"]) > 1 else "markers",
                                 name=p["label"], line={"dash": "dash", "color": p.get("color", "#7f7f7f")},
                                 marker={"symbol": "circle-open", "size": 11, "color": p.get("color", "#7f7f7f")}))
    fig.update_yaxes(range=None, autorange=True, tickformat=".0%")
    # seven legend entries wrap to two rows: keep them clear of the x-axis title
    fig.update_layout(height=460, legend={"orientation": "h", "y": -0.32}, margin={"b": 40})
    return fig


def parallel(axes: Sequence[dict], scores: Sequence[float], score_title: str) -> go.Figure:
    """Trials as lines across their settings (a parallel-coordinates plot), coloured by
    ``scores``. Each axis: ``label`` and ``values`` (numbers or names; a numeric axis whose
    values span 10x or more is drawn on log10 with its own tick labels)."""
    import math

    dims = []
    for a in axes:
        vals = list(a["values"])
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            pos = [v for v in vals if v > 0]
            if pos and len(pos) == len(vals) and max(pos) / min(pos) >= 10:
                ticks = sorted(set(vals))
                dims.append({"label": f"{a['label']} (log)", "values": [math.log10(v) for v in vals],
                             "tickvals": [math.log10(v) for v in ticks], "ticktext": [f"{v:g}" for v in ticks]})
            else:
                dims.append({"label": a["label"], "values": vals})
        else:
            names = sorted({str(v) for v in vals})
            dims.append({"label": a["label"], "values": [names.index(str(v)) for v in vals],
                         "tickvals": list(range(len(names))), "ticktext": names})
    dims.append({"label": score_title, "values": list(scores)})
    fig = go.Figure(go.Parcoords(line={"color": list(scores), "colorscale": "Viridis", "showscale": True,
                                       "colorbar": {"title": score_title}}, dimensions=dims))
    fig.update_layout(height=400, margin={"l": 60, "r": 40, "t": 100, "b": 20},
                      title={"text": "each line is a trial; drag along an axis to pick a range", "y": 0.97})
    return fig


# -- export ----------------------------------------------------------------------------
CHART_CONFIG = {"displaylogo": False, "displayModeBar": True,  # the camera button saves a PNG
                "modeBarButtonsToRemove": ["zoomIn2d", "zoomOut2d", "autoScale2d", "lasso2d", "select2d"],
                "toImageButtonOptions": {"format": "png", "scale": 2, "filename": "transfer-lab"}}


def png_export_available() -> bool:
    """Server-side PNG needs kaleido (1.x) and a Chrome/Chromium on the machine; kaleido
    can download one, but never here: an offline machine would hang on it."""
    import importlib.util
    import shutil

    if importlib.util.find_spec("kaleido") is None:
        return False
    return any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome", "chrome"))


def png_zip(figures: dict[str, go.Figure], width: int = 1100, height: int = 500) -> bytes:
    """Every figure as a PNG in one zip, rendered in one headless-browser session (~5 s)."""
    import io
    import tempfile
    import zipfile
    from pathlib import Path

    import plotly.io as pio

    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / f"{name}.png" for name in figures]
        pio.write_images(list(figures.values()), paths, width=width, height=height, scale=2)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for p in paths:
                z.write(p, p.name)
    return buf.getvalue()


def add_cell_targets(fig: go.Figure, names: tuple[str, ...] | list[str], counts) -> dict:
    """A confusion heatmap, as a plotly figure dict, with an invisible marker on every cell.

    Streamlit reports no clicks on heatmap cells (plotly has no point selection for
    heatmaps), but it does for scatter points: clicking a cell selects its marker, whose
    ``customdata`` is ``[true, predicted, count]`` (class indices). The markers also carry
    the hover text, since they sit on top of the heatmap. A dict, not a ``go.Figure``:
    building (and validating) a second Figure costs ~15 ms per chart on every rerun, and
    ``st.plotly_chart`` validates the dict once anyway. ``fig`` itself is left unchanged."""
    k = len(names)
    cells = [(t, p) for t in range(k) for p in range(k)]
    out = fig.to_dict()
    invisible = {"marker": {"opacity": 0}}
    out["data"].append({
        "type": "scatter", "mode": "markers", "name": "cells", "showlegend": False,
        "x": [names[p] for _, p in cells], "y": [names[t] for t, _ in cells],
        "marker": {"size": max(8, min(60, 360 // max(k, 1))), "symbol": "square", "opacity": 0},
        "selected": invisible, "unselected": invisible,
        "customdata": [[t, p, int(counts[t][p])] for t, p in cells],
        "hovertemplate": "true %{y}<br>predicted %{x}<br>%{customdata[2]} images"
                         "<br>click to see them<extra></extra>"})
    layout = out.setdefault("layout", {})
    layout.update(clickmode="event+select", dragmode=False)
    # the markers would widen the autorange past the cells: pin both axes to the heatmap
    layout["xaxis"] = {**layout.get("xaxis", {}), "range": [-0.5, k - 0.5]}
    layout["yaxis"] = {**layout.get("yaxis", {}), "range": [k - 0.5, -0.5], "autorange": False}
    return out


def class_dots(points: Sequence[dict], strategy_titles: dict[str, str], y_title: str) -> go.Figure:
    """The teacher view: one dot per student's run, a column per strategy, with the
    column's mean as a bar behind; hover says who and which seed."""
    order = list(dict.fromkeys(p["strategy"] for p in points))
    fig = go.Figure()
    for i, s in enumerate(order):
        mine = [p for p in points if p["strategy"] == s]
        name = strategy_titles.get(s, s)
        mean = sum(p["accuracy"] for p in mine) / len(mine)
        fig.add_trace(go.Bar(x=[name], y=[mean], marker_color=_rgba(PALETTE[i % len(PALETTE)], 0.25),
                             name=f"{name} mean", showlegend=False, hovertemplate=f"{name}: mean %{{y:.1%}}"
                             f" of {len(mine)}<extra></extra>"))
        # a box trace with its box hidden: its points spread sideways (jitter), so equal
        # accuracies stay visible as separate dots
        fig.add_trace(go.Box(
            x=[name] * len(mine), y=[p["accuracy"] for p in mine], name=name, boxpoints="all", jitter=0.6,
            pointpos=0, fillcolor="rgba(0,0,0,0)", line={"color": "rgba(0,0,0,0)"}, hoveron="points",
            marker={"size": 12, "color": PALETTE[i % len(PALETTE)], "line": {"width": 1, "color": "white"}},
            # names are typed by people: escaped, as plotly reads tags in hover text
            text=[f"{html.escape(p['who'])}, seed {p['seed']}" for p in mine], showlegend=False,
            hovertemplate="%{text}: %{y:.1%}<extra></extra>"))
    fig.update_layout(height=360, margin={"l": 10, "r": 10, "t": 30, "b": 10}, bargap=0.5,
                      yaxis={"title": y_title, "tickformat": ".0%"})
    return fig

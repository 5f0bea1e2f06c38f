"""Plotly figures from plain data (lists and dicts), so pages only place them."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]

METRIC_TITLES = {
    "val_acc": "validation accuracy", "train_acc": "training accuracy", "target_acc": "target accuracy",
    "train_loss": "training loss", "val_loss": "validation loss", "target_loss": "target loss",
    "domain_acc": "domain discriminator accuracy",
}


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def curves(series: Sequence[dict], metric: str, x_title: str = "epoch", height: int = 360) -> go.Figure:
    """Learning curves. Each series: ``label``, ``x``, ``mean`` and optional ``lo``/``hi`` band."""
    fig = go.Figure()
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        if s.get("lo") and s.get("hi") and s.get("n", 1) > 1:
            fig.add_trace(go.Scatter(x=list(s["x"]) + list(s["x"])[::-1], y=list(s["hi"]) + list(s["lo"])[::-1],
                                     fill="toself", fillcolor=_rgba(color, 0.15), line={"width": 0},
                                     hoverinfo="skip", showlegend=False, name=f"{s['label']} band"))
        fig.add_trace(go.Scatter(x=s["x"], y=s["mean"], mode="lines+markers", name=s["label"],
                                 line={"color": color, "width": 2}, marker={"size": 5}))
    title = METRIC_TITLES.get(metric, metric)
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10}, title=title,
                      xaxis_title=x_title, yaxis_title=title, legend={"orientation": "h", "y": -0.25},
                      hovermode="x unified")
    if "acc" in metric:
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return fig


def confusion(matrix: Sequence[Sequence[int]], class_names: Sequence[str], title: str = "confusion matrix") -> go.Figure:
    fig = go.Figure(go.Heatmap(z=matrix, x=list(class_names), y=list(class_names), colorscale="Blues",
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{z} images<extra></extra>",
                               texttemplate="%{z}"))
    fig.update_layout(title=title, xaxis_title="predicted", yaxis_title="true", height=420,
                      yaxis={"autorange": "reversed"}, margin={"l": 10, "r": 10, "t": 40, "b": 10})
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
                 title: str = "images per class") -> go.Figure:
    """Images per class, with a dashed line at what the split takes from each class."""
    fig = go.Figure(go.Bar(x=list(class_names), y=list(counts), marker_color=PALETTE[0],
                           hovertemplate="%{x}: %{y:,} images<extra></extra>"))
    if needed is not None:
        fig.add_hline(y=needed, line_dash="dash", line_color=PALETTE[3],
                      annotation_text=f"the split takes {needed:,} per class",
                      annotation_position="top left")
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
    fig.update_layout(barmode="stack", title=title, height=150, xaxis_title="seconds",
                      margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"orientation": "h", "y": -0.6})
    return fig

"""Plotly figures as pure functions of a frame and the labels to show (tested without Streamlit).

Plotly reads a subset of HTML (<b>, <a href>, <br>, entities) in every label, tick, hover text and title,
and LaTeX between $ signs: each string that comes from the data goes through `text` first.
"""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboards.formats import (
    ISOLATE,
    MISSING,
    fmt_rank_change,
    fmt_rate,
    fmt_score,
    fmt_score_change,
    is_missing,
    isolated,
)

LEAD = "#2e7d32"  # first place
BOTTOM = "#c62828"  # 末位
NEUTRAL = "#5b7db1"
UNRANKED = "#b0b0b0"
UP, DOWN = "#2e7d32", "#c62828"
FONT = "Noto Sans CJK SC, WenQuanYi Micro Hei, Microsoft YaHei, sans-serif"


def text(value) -> str:
    """A data string as Plotly shows it literally: markup escaped (&, <, > and $ as entities), bidirectional
    controls (an RTL override) isolated so they cannot reorder the rest of a hover line; missing as —."""
    if is_missing(value):
        return MISSING
    return isolated(html.escape(str(value), quote=False).replace("$", "&#36;"))


def data_of(label: str) -> str:
    """The data string behind a label made by `text` (a clicked category comes back as drawn)."""
    if label.startswith(ISOLATE[0]) and label.endswith(ISOLATE[1]):
        label = label[1:-1]
    return html.unescape(label)


def _texts(values) -> list[str]:
    return [text(v) for v in values]


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(
        title=text(title),
        height=height,
        font_family=FONT,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        plot_bgcolor="white",
    )
    return fig


def ranking_bar(
    frame: pd.DataFrame,
    *,
    label: str,
    value: str,
    title: str,
    rank: str = "rank",
    bottom: str = "is_bottom",
    value_label: str = "",
) -> go.Figure:
    """Horizontal bars, first place on top; first green, 末位 red, unranked grey, scores with one decimal."""
    frame = frame.sort_values([rank, value], ascending=[True, False], na_position="last")
    colors = [
        UNRANKED if pd.isna(r) else BOTTOM if b else LEAD if r == 1 else NEUTRAL
        for r, b in zip(frame[rank], frame[bottom].fillna(False), strict=False)
    ]
    fig = go.Figure(
        go.Bar(
            x=frame[value],
            y=_texts(frame[label]),
            orientation="h",
            marker_color=colors,
            text=[fmt_score(v) for v in frame[value]],
            textposition="outside",
            hovertemplate=f"%{{y}}<br>{value_label}%{{x:.1f}}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    low = frame[value].min()
    fig.update_xaxes(range=[max(0, (low if pd.notna(low) else 0) - 10), 102], showgrid=True, gridcolor="#eee")
    return _layout(fig, title, height=max(300, 26 * len(frame) + 90))


def change_bar(
    frame: pd.DataFrame, *, label: str, title: str, rank_change_label: str, score_change_label: str
) -> go.Figure:
    """Rank change (places, up is positive) beside score change: a rank can move while the score stands."""
    frame = frame.sort_values("rank", na_position="last")
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        subplot_titles=(rank_change_label, score_change_label),
        horizontal_spacing=0.04,
    )
    for col, column in ((1, "rank_change"), (2, "score_change")):
        values = frame[column]
        fig.add_trace(
            go.Bar(
                x=values,
                y=_texts(frame[label]),
                orientation="h",
                name=rank_change_label if col == 1 else score_change_label,
                marker_color=[UP if v > 0 else DOWN if v < 0 else UNRANKED for v in values.fillna(0)],
                text=[fmt_rank_change(v) if col == 1 else fmt_score_change(v) for v in values],
                textposition="outside",
                cliponaxis=False,
                showlegend=False,
            ),
            row=1,
            col=col,
        )
        # Room for the outside labels on both sides of zero.
        reach = float(values.abs().max()) if values.notna().any() else 1.0
        fig.update_xaxes(range=[-reach * 1.3 - 0.5, reach * 1.3 + 0.5], row=1, col=col)
    fig.update_yaxes(autorange="reversed", type="category")
    return _layout(fig, title, height=max(300, 26 * len(frame) + 110))


def heatmap(
    frame: pd.DataFrame,
    *,
    x: str,
    y: str,
    z: str,
    title: str,
    z_label: str,
    x_order: list | None = None,
    y_order: list | None = None,
) -> go.Figure:
    """Score rates as a region × duty grid, red where points were lost; each cell shows its percentage."""
    grid = frame.pivot_table(index=y, columns=x, values=z, aggfunc="mean")
    if x_order is not None:
        grid = grid.reindex(columns=[c for c in x_order if c in grid.columns])
    if y_order is not None:
        grid = grid.reindex(index=[r for r in y_order if r in grid.index])
    cells = grid.map(lambda v: "" if pd.isna(v) else f"{v * 100:.0f}%")
    fig = go.Figure(
        go.Heatmap(
            z=grid.values,
            x=_texts(grid.columns),
            y=_texts(grid.index),
            text=cells.values,
            texttemplate="%{text}",
            colorscale="RdYlGn",
            zmin=max(0.0, float(pd.Series(grid.values.ravel()).min()) if grid.size else 0.0),
            zmax=1.0,
            colorbar={"title": z_label, "tickformat": ".0%"},
            hovertemplate=f"%{{x}}<br>%{{y}}<br>{z_label} %{{z:.1%}}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", tickangle=-45)
    return _layout(fig, title, height=max(320, 40 * len(grid.index) + 160))


def met_matrix(
    frame: pd.DataFrame,
    *,
    row: str,
    col: str,
    met: str,
    text: str,
    title: str,
    met_label: str,
    not_met_label: str,
    col_order: list | None = None,
) -> go.Figure:
    """Units × periods: green where the requirement was met, red where not, each cell showing actual/required."""
    values = frame.assign(_met=frame[met].astype(float))
    grid = values.pivot_table(index=row, columns=col, values="_met", aggfunc="min")
    labels = values.pivot_table(index=row, columns=col, values=text, aggfunc="first")
    if col_order is not None:
        keep = [c for c in col_order if c in grid.columns]
        grid, labels = grid.reindex(columns=keep), labels.reindex(columns=keep)
    labels = labels.reindex(index=grid.index)
    fig = go.Figure(
        go.Heatmap(
            z=grid.values,
            x=_texts(grid.columns),
            y=_texts(grid.index),
            text=labels.fillna("").values,
            texttemplate="%{text}",
            zmin=0,
            zmax=1,
            showscale=False,
            colorscale=[[0, "#ef9a9a"], [0.5, "#ef9a9a"], [0.5, "#a5d6a7"], [1, "#a5d6a7"]],
            hovertemplate="%{y}<br>%{x}: %{text}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", side="top")
    fig.add_annotation(
        text=f"<span style='color:#2e7d32'>■</span> {met_label}　"
        f"<span style='color:#c62828'>■</span> {not_met_label}",
        xref="paper",
        yref="paper",
        x=1,
        y=1.08,
        showarrow=False,
    )
    return _layout(fig, title, height=max(300, 24 * len(grid.index) + 140))


def rates_bar(frame: pd.DataFrame, *, label: str, rates: dict[str, str], title: str) -> go.Figure:
    """Grouped bars of rates (filing, on time …) per report type or unit, as percentages."""
    fig = go.Figure()
    for column, name in rates.items():
        fig.add_trace(
            go.Bar(
                x=_texts(frame[label]),
                y=frame[column],
                name=name,
                text=[fmt_rate(v) for v in frame[column]],
                textposition="outside",
            )
        )
    fig.update_yaxes(tickformat=".0%", range=[0, 1.12])
    fig.update_layout(barmode="group", legend={"orientation": "h", "y": -0.2})
    return _layout(fig, title, height=380)


def history(frame: pd.DataFrame, *, title: str, score_label: str, rank_label: str) -> go.Figure:
    """A unit over the years: score (left axis) and rank (right axis, first place on top)."""
    frame = frame.sort_values("year")
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Scatter(
            x=frame["year"],
            y=frame["score"],
            name=score_label,
            mode="lines+markers+text",
            text=[fmt_score(v) for v in frame["score"]],
            textposition="top center",
            line_color=NEUTRAL,
        ),
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(
            x=frame["year"],
            y=frame["rank"],
            name=rank_label,
            mode="lines+markers",
            line={"color": "#ef6c00", "dash": "dot"},
        ),
        secondary_y=True,
    )
    fig.update_yaxes(title_text=score_label, secondary_y=False)
    fig.update_yaxes(title_text=rank_label, autorange="reversed", secondary_y=True)
    fig.update_xaxes(type="category")
    return _layout(fig, title, height=340)


def count_bar(
    frame: pd.DataFrame,
    *,
    label: str,
    value: str,
    title: str,
    color: str | None = None,
    colors: dict[str, str] | None = None,
) -> go.Figure:
    """Counts per category (issues by code, files by status), largest first."""
    frame = frame.sort_values(value, ascending=True)
    marker = [colors.get(c, NEUTRAL) for c in frame[color]] if color and colors else NEUTRAL
    fig = go.Figure(
        go.Bar(
            x=frame[value],
            y=_texts(frame[label]),
            orientation="h",
            marker_color=marker,
            text=frame[value],
            textposition="outside",
        )
    )
    fig.update_yaxes(type="category")
    return _layout(fig, title, height=max(260, 26 * len(frame) + 90))

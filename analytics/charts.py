"""How engagement numbers are shown on dashboards: small-count masking, the table rows,
and the Plotly figure (built server-side, drawn in the browser by static/js/dashboard.js).

Counts from 1 to 10 are never shown: the table says "<11" and the chart leaves the bar
out. A rate is shown only when neither its count nor the sent count is masked, since a
rate and a denominator would give the hidden count back.
"""

from __future__ import annotations

import json

import plotly.graph_objects as go

MASK_BELOW = 11
MASKED = "<11"
SERIES = (
    ("sent", "Sent", "#0b6e6e"),
    ("unique_opens", "Unique opens", "#4c9fd6"),
    ("clicks", "Clicks", "#e69f00"),
    ("conversions", "Conversions", "#7a4fa0"),
)
RATE_OF = {"unique_opens": "open_rate", "clicks": "click_rate", "conversions": "conversion_rate"}


def is_masked(count: int) -> bool:
    return 0 < count < MASK_BELOW


def plotted(count: int) -> int | None:
    """The value to plot: None (no bar) for a masked count."""
    return None if is_masked(count) else count


def display_count(count: int) -> str:
    return MASKED if is_masked(count) else f"{count:,}"


def display_rate(row: dict, metric: str) -> str:
    if is_masked(row[metric]) or is_masked(row["sent"]) or not row["sent"]:
        return "—"
    return f"{row[RATE_OF[metric]] * 100:.1f}%"


def table_row(row: dict, label: str) -> dict:
    """Display strings for one segment (or the totals) in the dashboard table."""
    cells = {"label": label, "sent": display_count(row["sent"])}
    for metric in RATE_OF:
        cells[metric] = display_count(row[metric])
        cells[RATE_OF[metric]] = display_rate(row, metric)
    cells["machine_opens"] = display_count(row["machine_opens"])
    cells["scanner_clicks"] = display_count(row["scanner_clicks"])
    return cells


def figure(summary: dict) -> go.Figure:
    """Grouped bars per segment: sent, unique opens, clicks, conversions (masked left out)."""
    names = [row["segment"] for row in summary["segments"]]
    fig = go.Figure()
    for key, label, colour in SERIES:
        values = [plotted(row[key]) for row in summary["segments"]]
        fig.add_trace(
            go.Bar(
                name=label, x=names, y=values, marker_color=colour,
                hovertemplate=f"%{{x}}<br>{label}: %{{y:,}}<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="group", template="plotly_white", margin={"t": 40, "r": 20, "b": 60, "l": 60},
        title={"text": "Engagement by segment"}, yaxis={"title": {"text": "Messages"}},
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def figure_data(summary: dict) -> dict:
    """The figure as plain JSON data, ready for a `<script type="application/json">` tag."""
    return json.loads(figure(summary).to_json())

"""Staff pages of analytics: the engagement dashboard at `/`."""

from __future__ import annotations

from flask import Blueprint, render_template

from analytics import charts, service
from auth.permissions import ALL_STAFF, allow
from core.db import get_session

bp = Blueprint("analytics", __name__)


@bp.get("/")
def dashboard():
    """Grouped bar chart and table per segment; counts from 1 to 10 masked."""
    summary = service.summary(get_session())
    rows = [charts.table_row(row, row["segment"]) for row in summary["segments"]]
    return render_template(
        "analytics/dashboard.html",
        summary=summary,
        rows=rows,
        totals=charts.table_row(summary["totals"], "All segments"),
        figure=charts.figure_data(summary) if summary["totals"]["sent"] else None,
    )


allow("analytics.dashboard", ALL_STAFF)

"""`flask analytics summary [--json] [--as-of DATE]`: engagement per segment."""

from __future__ import annotations

import json
from datetime import datetime

import click
from flask.cli import AppGroup

from analytics import service
from core.db import new_session

analytics_cli = AppGroup("analytics", help="Engagement analytics.")

COLUMNS = (
    ("segment", "Segment"), ("sent", "Sent"), ("unique_opens", "Opens"),
    ("clicks", "Clicks"), ("conversions", "Conversions"),
    ("machine_opens", "Machine opens"), ("scanner_clicks", "Scanner clicks"),
)


@analytics_cli.command("summary")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
    help="Count up to the end of this day (organisation's time zone).",
)
def summary_command(as_json: bool, as_of: datetime | None) -> None:
    """Sent, unique opens, clicks and conversions per segment (exact counts)."""
    with new_session() as session:
        result = service.summary(session, as_of.date() if as_of else None)
    click.echo(json.dumps(result) if as_json else _table(result))


def _table(result: dict) -> str:
    rows = [*result["segments"], {"segment": "All segments", **result["totals"]}]
    cells = [[label for _, label in COLUMNS]]
    cells += [[str(row[key]) for key, _ in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(_pad(line, widths)) for line in cells]
    lines.append(f"(as of {result['as_of']}; conversions within "
                 f"{result['conversion_window_days']} days of a human click)")
    return "\n".join(lines)


def _pad(line: list[str], widths: list[int]) -> list[str]:
    """Segment name left-aligned, numbers right-aligned."""
    numbers = zip(line[1:], widths[1:], strict=True)
    return [line[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in numbers]

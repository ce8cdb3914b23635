"""`flask analytics summary [--json] [--as-of DATE]`: engagement per segment;
`flask analytics export-events [--since TS] [--out FILE]`: engagement back to the CDP."""

from __future__ import annotations

import json
from datetime import datetime

import click
from flask.cli import AppGroup

from analytics import feedback, service
from core import audit
from core.clock import parse_instant
from core.db import new_session
from core.errors import SendwellError
from core.files import open_private

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


@analytics_cli.command("export-events")
@click.option("--since", default=None, help="Only events at or after this instant (ISO 8601).")
@click.option("--out", default=None, help="Write NDJSON here (mode 0600) instead of stdout.")
def export_events_command(since: str | None, out: str | None) -> None:
    """Engagement as Segment-spec `track` events keyed by the CDP patient id (NDJSON)."""
    try:
        start = parse_instant(since) if since else None
    except ValueError as exc:
        raise click.UsageError("--since must be an ISO 8601 date or instant") from exc
    with new_session() as session:
        lines = [json.dumps(event) for event in feedback.track_events(session, start)]
        _write_private(out, lines)
        audit.record(session, "cli", "analytics.export_events", events=len(lines),
                     destination="file" if out else "stdout")
        session.commit()
    click.echo(f"exported {len(lines)} event(s)", err=True)


def _write_private(out: str | None, lines: list[str]) -> None:
    if out is None:
        for line in lines:
            click.echo(line)
        return
    try:
        stream = open_private(out)
    except SendwellError as exc:
        raise click.ClickException(str(exc)) from exc
    with stream:
        stream.writelines(line + "\n" for line in lines)

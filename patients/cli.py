"""`flask patients …` commands."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from core import audit
from core.clock import as_of_instant, local_date
from core.db import get_session
from core.errors import SendwellError
from core.files import open_private
from patients.export import export_lines

patients_cli = AppGroup("patients", help="Patient profiles.")


def _private_output(out: str | None):
    """stdout, or a new file readable by its owner only (it holds PHI)."""
    if out is None:
        return click.open_file("-", "w", encoding="utf-8")
    try:
        return open_private(out)
    except SendwellError as exc:
        raise click.ClickException(str(exc)) from exc


@patients_cli.command("export")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write NDJSON to this file instead of stdout.")
@click.option("--as-of", default=None, help="Compute ages as of this date (YYYY-MM-DD).")
def export_command(out, as_of) -> None:
    """Export every patient as NDJSON (PHI: audited)."""
    session = get_session()
    tz = current_app.config["ORG_TIMEZONE"]
    day = local_date(as_of_instant(as_of, tz), tz)
    count = 0
    with _private_output(out) as stream:
        for line in export_lines(session, day):
            stream.write(line + "\n")
            count += 1
    audit.record(session, "cli", "patients.export", patients=count,
                 destination="file" if out else "stdout")
    session.commit()
    click.echo(f"exported {count} patient(s)", err=True)

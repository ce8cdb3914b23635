"""Infrastructure commands: `flask db upgrade`, `flask audit verify`."""

from __future__ import annotations

import json

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from core import audit, migrate
from core.db import new_session

db_cli = AppGroup("db", help="Database schema.")
audit_cli = AppGroup("audit", help="The audit trail.")


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    migrate.upgrade_database(current_app)
    click.echo("database is at the latest revision", err=True)


@audit_cli.command("verify")
@click.option("--json", "as_json", is_flag=True)
def audit_verify(as_json: bool) -> None:
    """Check the audit chain; exit 1 if an event was altered or removed."""
    with new_session() as session:
        intact, checked, broken = audit.verify(session)
    if as_json:
        click.echo(json.dumps({"intact": intact, "events": checked, "first_broken": broken}))
    else:
        click.echo(f"{checked} events, chain {'intact' if intact else f'broken at {broken}'}")
    raise SystemExit(0 if intact else 1)


def init_app(app: Flask) -> None:
    app.cli.add_command(db_cli)
    app.cli.add_command(audit_cli)

"""Infrastructure commands: `flask db upgrade`, `flask audit verify`, `flask keys …`,
`flask backup create|restore` (the work itself lives in core.keys and core.backup)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from core import audit, backup, keys, migrate
from core.clock import utcnow
from core.crypto import forget_key_ring, load_master_key
from core.db import engine, new_session
from core.errors import SendwellError

db_cli = AppGroup("db", help="Database schema.")
audit_cli = AppGroup("audit", help="The audit trail.")
keys_cli = AppGroup("keys", help="Master key and data key rotation.")
backup_cli = AppGroup("backup", help="Encrypted backups and restores.")


def _emit(summary: dict, as_json: bool, line: str) -> None:
    click.echo(json.dumps(summary) if as_json else line)


def _fail(error: SendwellError, as_json: bool = False) -> None:
    if as_json:
        click.echo(json.dumps({"status": "failed", "error": str(error)}))
    click.echo(f"error: {error}", err=True)
    raise SystemExit(1)


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


@keys_cli.command("rotate-master")
@click.option("--new-key-file", type=click.Path(dir_okay=False, path_type=Path),
              help="The new master key (read if it exists, generated there if not).")
@click.option("--json", "as_json", is_flag=True)
def keys_rotate_master(new_key_file: Path | None, as_json: bool) -> None:
    """Re-wrap every data key under a new master key, in one transaction."""
    path = new_key_file or Path(current_app.instance_path) / (
        f"master-{utcnow():%Y%m%dT%H%M%SZ}.key")
    try:
        new_master, created = keys.new_master_key(path)
        with new_session() as session:
            count = keys.rotate_master(session, load_master_key(current_app.config), new_master)
            session.commit()
    except SendwellError as error:
        _fail(error, as_json)
    forget_key_ring(current_app)
    click.echo(f"new master key {'written to' if created else 'read from'} {path}; set "
               "SENDWELL_MASTER_KEY_FILE to it and restart every process", err=True)
    _emit({"status": "completed", "key_versions": count, "key_file": str(path)}, as_json,
          f"{count} keys re-wrapped under the master key in {path}")


@keys_cli.command("rotate-data")
@click.option("--batch-size", type=click.IntRange(min=1), default=keys.DEFAULT_BATCH,
              envvar="SENDWELL_ROTATE_BATCH_SIZE", show_default=True)
@click.option("--batch-delay", type=click.FloatRange(min=0), default=0.0,
              envvar="SENDWELL_ROTATE_BATCH_DELAY", help="Seconds to pause between batches.")
@click.option("--json", "as_json", is_flag=True)
def keys_rotate_data(batch_size: int, batch_delay: float, as_json: bool) -> None:
    """New data and blind-index keys; re-encrypt and re-index everything (resumable)."""
    master = load_master_key(current_app.config)
    try:
        summary = keys.rotate_data(new_session, master, batch_size, batch_delay,
                                   progress=lambda line: click.echo(line, err=True))
    except SendwellError as error:
        _fail(error, as_json)
    forget_key_ring(current_app)
    _emit(summary, as_json, f"rotation complete: data key v{summary['data_version']}, "
          f"index key v{summary['index_version']}, {summary['rows_changed']} rows")


@keys_cli.command("status")
@click.option("--json", "as_json", is_flag=True)
def keys_status(as_json: bool) -> None:
    """Key versions, their status, and a rotation in progress."""
    with new_session() as session:
        status = keys.key_status(session)
    lines = [f"{k['purpose']} v{k['version']}: {k['status']}" for k in status["keys"]]
    if status["rotation"]:
        lines.append(f"rotation running: {status['rotation']}")
    _emit(status, as_json, "\n".join(lines))


@backup_cli.command("create")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def backup_create(out: Path, as_json: bool) -> None:
    """Write an encrypted backup of every table to a new file."""
    if out.exists():
        _fail(backup.BackupError(f"{out} exists; choose a new file"), as_json)
    counts = backup.create_backup(engine(), load_master_key(current_app.config), out)
    with new_session() as session:
        audit.record(session, "cli", "backup.create", tables=len(counts), rows=sum(counts.values()))
        session.commit()
    _emit({"status": "completed", "file": str(out), "rows": counts}, as_json,
          f"backup of {sum(counts.values())} rows written to {out}")


@backup_cli.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def backup_restore(path: Path, as_json: bool) -> None:
    """Restore a backup into this database, which must be migrated and empty."""
    try:
        counts = backup.restore_backup(engine(), load_master_key(current_app.config), path)
    except SendwellError as error:
        _fail(error, as_json)
    forget_key_ring(current_app)
    with new_session() as session:
        audit.record(session, "cli", "backup.restore", rows=sum(counts.values()))
        session.commit()
    _emit({"status": "completed", "rows": counts}, as_json,
          f"restored {sum(counts.values())} rows; run `flask audit verify`")


def init_app(app: Flask) -> None:
    for group in (db_cli, audit_cli, keys_cli, backup_cli):
        app.cli.add_command(group)

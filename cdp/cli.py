"""`flask import-cdp PATH…`: one import session, committed only when it completes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from cdp.service import import_paths
from cdp.sources import FORMATS
from core import audit
from core.db import get_session


def _summary(report: dict) -> str:
    counts = ", ".join(f"{k}={v}" for k, v in report.items() if isinstance(v, int))
    return f"import {report['status']}: {counts}, errors={len(report['errors'])}"


@click.command("import-cdp")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True)
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON mapping file for flat files (columns, date formats).")
@click.option("--encoding", default=None,
              help="Encoding of flat and event files: utf-8, utf-16 or cp1252.")
@click.option("--dry-run", is_flag=True, help="Validate and count; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option("--as-of", default=None, help="Derive facets as of this date (YYYY-MM-DD).")
@with_appcontext
def import_cdp(paths, fmt, mapping, encoding, dry_run, as_json, as_of) -> None:
    """Import CDP exports (Synthea folders, FHIR Bulk NDJSON, flat profile files in CSV,
    TSV, JSON or NDJSON, Segment event NDJSON)."""
    session = get_session()
    click.echo(f"importing {len(paths)} path(s)…", err=True)
    report = import_paths(session, list(paths), fmt=fmt, dry_run=dry_run, as_of=as_of,
                          mapping=mapping, encoding=encoding)
    if report["status"] == "completed":
        audit.record(session, "cli", "cdp.import", **{
            k: v for k, v in report.items() if isinstance(v, int)
        })
        session.commit()
    else:
        session.rollback()
    click.echo(_summary(report), err=True)
    if report["ignored_columns"]:
        click.echo("ignored (never stored): " + ", ".join(report["ignored_columns"]), err=True)
    if as_json:
        click.echo(json.dumps(report))
    else:
        for error in report["errors"]:
            click.echo(f"{error['file']} row {error['row']} {error['field']}: "
                       f"{error['message']}")
    if report["status"] == "failed":
        sys.exit(1)

"""Commands: `flask workflows list|simulate|launch`, `flask sender`, `flask sender run-once`."""

from __future__ import annotations

import json
import logging
import time

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from campaigns import service
from campaigns.sending import send_due
from campaigns.simulate import simulate
from core.clock import as_of_instant, utcnow
from core.db import new_session
from core.errors import SendwellError
from core.mail_transport import SmtpTransport

workflows_cli = AppGroup("workflows", help="Drip workflows.")
log = logging.getLogger(__name__)


@click.group("sender", cls=AppGroup, invoke_without_command=True)
@click.option("--interval", type=click.IntRange(1), default=30, show_default=True,
              help="Seconds between two passes over the outbox.")
@click.pass_context
@with_appcontext
def sender_cli(ctx: click.Context, interval: int) -> None:
    """Send due outbox messages every INTERVAL seconds until stopped (or a subcommand)."""
    if ctx.invoked_subcommand is None:
        _sender_loop(interval)


def _sender_loop(interval: int) -> None:
    config = current_app.config
    click.echo(f"sender: sending due messages every {interval}s; Ctrl-C to stop", err=True)
    try:
        while True:
            try:
                counts = send_due(new_session, utcnow(), SmtpTransport.from_config(config),
                                  config["BASE_URL"])
                if any(counts.values()):
                    click.echo(json.dumps(counts), err=True)
            except SendwellError as exc:  # relay refused or unreachable: retried next tick
                log.error("sender: %s", exc)
            time.sleep(interval)
    except KeyboardInterrupt:
        click.echo("sender: stopped", err=True)


@workflows_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print {\"workflows\": [...]}.")
def list_command(as_json: bool) -> None:
    """Every workflow with its steps, status and outbox counts."""
    with new_session() as session:
        workflows = service.list_workflows(session)
    if as_json:
        click.echo(json.dumps({"workflows": workflows}))
        return
    for w in workflows:
        outbox = ", ".join(f"{k} {v}" for k, v in sorted(w["outbox"].items())) or "empty outbox"
        click.echo(f"{w['name']}  [{w['status']}]  segment {w['segment']}  "
                   f"{w['steps']} steps  ({outbox})")


@workflows_cli.command("simulate")
@click.argument("name")
@click.option("--days", type=click.IntRange(1), required=True,
              help="Plan the steps due within this many calendar days.")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Launch at the end of this day (organisation time); default now.")
@click.option("--json", "as_json", is_flag=True)
def simulate_command(name: str, days: int, as_of, as_json: bool) -> None:
    """Dry run: who workflow NAME would mail, which step and when, and who it would skip."""
    instant = as_of_instant(as_of.date() if as_of else None,
                            current_app.config["ORG_TIMEZONE"])
    with new_session() as session:
        try:
            report = simulate(session, service.get_workflow(session, name), instant, days)
        except SendwellError as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            session.rollback()  # a dry run writes nothing
    if as_json:
        click.echo(json.dumps(report))
        return
    totals = report["totals"]
    click.echo(f"{report['workflow']} as of {report['as_of']} over {days} days: "
               f"{totals['sends']} sends to {totals['patients']} patients, "
               f"{totals['skipped']} skipped")
    for skip in report["skipped"]:
        click.echo(f"  skip {skip['patient']}: {skip['reason']}")


@workflows_cli.command("launch")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def launch_command(name: str, as_json: bool) -> None:
    """Activate workflow NAME and enrol its segment's current members."""
    with new_session() as session:
        try:
            workflow = service.get_workflow(session, name)
            enrolled = service.launch_workflow(session, workflow, utcnow(), actor="cli")
        except SendwellError as exc:
            raise click.ClickException(str(exc)) from exc
        session.commit()
        result = {"workflow": workflow.name, "status": workflow.status, "enrolled": enrolled}
    click.echo(json.dumps(result) if as_json else
               f"{result['workflow']} is {result['status']}; {enrolled} patients enrolled")


@sender_cli.command("run-once")
@click.option("--json", "as_json", is_flag=True)
def run_once_command(as_json: bool) -> None:
    """Send every due message once, then exit."""
    config = current_app.config
    try:
        counts = send_due(new_session, utcnow(), SmtpTransport.from_config(config),
                          config["BASE_URL"])
    except SendwellError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(counts) if as_json else
               ", ".join(f"{k} {v}" for k, v in counts.items()))


"""Commands: `flask workflows list|launch`, `flask sender` and `flask sender run-once`."""

from __future__ import annotations

import json
import logging
import time

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from campaigns import service
from campaigns.sending import send_due
from core.clock import utcnow
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


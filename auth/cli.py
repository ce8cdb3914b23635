"""`flask users create-admin EMAIL`, `flask users invite EMAIL --role ROLE` and
`flask users deactivate EMAIL`.

The first two print a one-time enrolment link (valid 24 hours) on stdout; there is no
other way to give a staff user access. Deactivating revokes every session of the user at
once (their very next request is signed out) and is audited.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from auth.models import Role
from auth.service import deactivate_user, enrollment_link_for
from core.db import new_session
from core.errors import SendwellError

users_cli = AppGroup("users", help="Staff users.")


def _enrollment_link(email: str, role: Role) -> str:
    try:
        return enrollment_link_for(current_app._get_current_object(), email, role)
    except SendwellError as exc:
        raise click.ClickException(str(exc)) from exc


@users_cli.command("create-admin")
@click.argument("email")
def create_admin(email: str) -> None:
    """Create (or reuse) an admin and print a one-time passkey enrolment link."""
    click.echo(_enrollment_link(email, Role.ADMIN))
    click.echo("Open the link within 24 hours to register a passkey; it works once.", err=True)


@users_cli.command("invite")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
def invite(email: str, role: str) -> None:
    """Create (or reuse) a staff user with ROLE and print a one-time enrolment link."""
    click.echo(_enrollment_link(email, Role(role)))
    click.echo("Open the link within 24 hours to register a passkey; it works once.", err=True)


@users_cli.command("deactivate")
@click.argument("email")
def deactivate(email: str) -> None:
    """Disable a staff user and end all their sessions now."""
    with new_session() as session:
        try:
            revoked = deactivate_user(session, email)
        except SendwellError as exc:
            raise click.ClickException(str(exc)) from exc
        session.commit()
    click.echo(f"deactivated; {revoked} session(s) revoked")

"""`flask users create-admin` and `flask users invite`: one-time enrolment links."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select, update

from auth.models import EnrollmentLink, User
from auth.service import admin_enrollment_link
from core.clock import utcnow
from tests.auth.ceremony import invite


def test_create_admin_prints_enrolment_link(app, runner, session):
    result = runner.invoke(args=["users", "create-admin", " Admin@Example.org "])
    assert result.exit_code == 0
    link = result.stdout.strip()
    prefix = "http://localhost:5000/auth/enroll/"
    assert link.startswith(prefix)
    token = link[len(prefix):]
    assert len(token) == 43  # 256 bits, base64url
    row = session.scalars(select(EnrollmentLink)).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in row.token_hash
    assert timedelta(hours=23, minutes=59) < row.expires_at - utcnow() <= timedelta(hours=24)
    assert row.used_at is None
    user = session.get(User, row.user_id)
    assert (user.email, user.role, user.active) == ("admin@example.org", "admin", True)


def test_create_admin_reuses_user_and_revokes_older_link(runner, session, client):
    first = invite(runner)
    second = invite(runner, "ADMIN@example.org")
    assert first != second
    assert len(session.scalars(select(User)).all()) == 1
    assert len(session.scalars(select(EnrollmentLink)).all()) == 1
    assert client.get(f"/auth/enroll/{first}").status_code == 404
    assert client.get(f"/auth/enroll/{second}").status_code == 200


def test_invite_with_role(runner, session):
    invite(runner, "marketer@example.org", role="marketer")
    user = session.scalars(select(User)).one()
    assert (user.email, user.role) == ("marketer@example.org", "marketer")


def test_invite_then_create_admin_promotes_and_audits(runner, session):
    invite(runner, "lead@example.org", role="manager")
    invite(runner, "lead@example.org")
    assert session.scalars(select(User.role)).one() == "admin"


def test_invite_refuses_unknown_role(runner, session):
    result = runner.invoke(args=["users", "invite", "x@example.org", "--role", "root"])
    assert result.exit_code == 2
    assert session.scalars(select(User)).all() == []


def test_create_admin_refuses_bad_email(runner, session):
    result = runner.invoke(args=["users", "create-admin", "not-an-email"])
    assert result.exit_code == 1
    assert "not a valid email address" in result.output
    assert session.scalars(select(User)).all() == []


def test_expired_enrolment_link_is_refused(runner, session, client):
    token = invite(runner)
    session.execute(update(EnrollmentLink).values(expires_at=utcnow() - timedelta(minutes=1)))
    session.commit()
    assert client.get(f"/auth/enroll/{token}").status_code == 404


def test_unknown_enrolment_link_is_refused(client):
    page = client.get("/auth/enroll/" + "A" * 43)
    assert page.status_code == 404
    assert "Enrolment link not valid" in page.get_data(as_text=True)


def test_admin_enrollment_link_for_the_demo(app, session, client):
    link = admin_enrollment_link(app, "demo-admin@example.org")
    assert link.startswith("http://localhost:5000/auth/enroll/")
    assert session.scalars(select(User.role)).one() == "admin"
    assert client.get(link.removeprefix("http://localhost:5000")).status_code == 200

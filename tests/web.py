"""Signing a test client in as a staff member without a passkey ceremony.

A test-only route calls the real `auth.sessions.start_session`, so the session carries
exactly what a passkey sign-in leaves (Flask-Login's id, its "strong" protection marker
and the time-out stamps). Register it before the app's first request.
"""

from __future__ import annotations

from auth import permissions
from auth.models import Role
from auth.service import ensure_user, get_user
from auth.sessions import start_session
from core.db import get_session


def allow_test_sign_in(app, monkeypatch) -> None:
    def sign_in(user_id: str) -> str:
        start_session(get_user(get_session(), user_id))
        return "ok"

    app.add_url_rule("/_test/sign-in/<user_id>", "test_sign_in", sign_in)
    monkeypatch.setitem(permissions.ROUTE_PERMISSIONS, "test_sign_in", permissions.PUBLIC)


def sign_in_as(client, session, role: Role):
    user = ensure_user(session, f"{role.value}@staff.example.org", role)
    session.commit()
    assert client.get(f"/_test/sign-in/{user.id}").status_code == 200
    return user

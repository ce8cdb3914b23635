"""Signing staff in through the test client, for the segment page and API tests."""

from __future__ import annotations

import re

from flask import render_template_string

from auth import permissions
from auth.models import Role
from auth.service import ensure_user, get_user
from auth.sessions import start_session
from core.db import get_session

NAV = {"analytics.dashboard": "/", "campaigns.index": "/campaigns/", "demo.mailbox": "/dev/m"}
STAND_IN = '{% extends "base.html" %}{% block content %}stand-in{% endblock %}'
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def add_test_routes(app, monkeypatch) -> None:
    """Stand-ins for sibling pages still missing, and a sign-in route for tests."""
    for endpoint, path in NAV.items():
        if endpoint not in app.view_functions:
            app.add_url_rule(path, endpoint, lambda: render_template_string(STAND_IN))
            monkeypatch.setitem(permissions.ROUTE_PERMISSIONS, endpoint, permissions.SIGNED_IN)

    def sign_in(user_id):
        start_session(get_user(get_session(), user_id))
        return "ok"

    app.add_url_rule("/_test/sign-in/<user_id>", "test_sign_in", sign_in)
    monkeypatch.setitem(permissions.ROUTE_PERMISSIONS, "test_sign_in", permissions.PUBLIC)


def signed_in(client, session, role: Role):
    user = ensure_user(session, f"{role.value}@staff.example.org", role)
    session.commit()
    assert client.get(f"/_test/sign-in/{user.id}").status_code == 200
    return client


def csrf_token(client, path: str = "/segments/") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return CSRF_META.search(page.get_data(as_text=True)).group(1)

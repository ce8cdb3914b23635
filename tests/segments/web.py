"""Signing staff in through the test client, for the segment page and API tests."""

from __future__ import annotations

import re

from auth.models import Role
from tests.web import allow_test_sign_in, sign_in_as

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def add_test_routes(app, monkeypatch) -> None:
    """The test-only sign-in route (every page the navigation links to exists now)."""
    allow_test_sign_in(app, monkeypatch)


def signed_in(client, session, role: Role):
    sign_in_as(client, session, role)
    return client


def csrf_token(client, path: str = "/segments/") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return CSRF_META.search(page.get_data(as_text=True)).group(1)

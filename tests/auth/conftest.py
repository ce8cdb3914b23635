"""Fixtures for the passkey tests: an enrolled admin and its software authenticator."""

from __future__ import annotations

import pytest

from core.db import new_session
from tests.auth.authenticator import SoftAuthenticator
from tests.auth.ceremony import forget_cookies, invite, register


@pytest.fixture
def session(app):
    """A database session used outside any app context.

    The shared fixture keeps an app context pushed, and Flask then reuses it (and `g`)
    for every test request, so Flask-Login's user and Flask-WTF's token would leak from
    one test client to another. Reads here see each request's commits (no snapshot is
    held by SQLite's driver or PostgreSQL's read-committed level).
    """
    with app.app_context():
        db = new_session()
    yield db
    db.close()


@pytest.fixture
def authenticator(app):
    return SoftAuthenticator(origin=app.config["RP_ORIGIN"], rp_id=app.config["RP_ID"])


@pytest.fixture
def enrolled(app, client, runner, authenticator):
    """An admin who registered `authenticator` and then signed out (fresh client)."""
    token = invite(runner)
    response = register(client, token, authenticator)
    assert response.status_code == 200, response.get_data(as_text=True)
    forget_cookies(client)
    return authenticator

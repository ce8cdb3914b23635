"""Production-shape fixtures: a private PostgreSQL schema and the dev SMTP server.

These tests start real OS processes and need PostgreSQL (several senders only make sense
there); without `SENDWELL_TEST_DATABASE_URL` they are skipped and say why.
"""

from __future__ import annotations

import pytest

from tests.conftest import fresh_database

from .harness import make_app


@pytest.fixture
def pg_url(tmp_path):
    """A URL whose connections use a schema of this test's own (dropped afterwards)."""
    with fresh_database("postgresql", tmp_path) as url:
        yield url


@pytest.fixture
def instance(tmp_path):
    return tmp_path / "instance"


@pytest.fixture
def production_app(pg_url, instance):
    """`production_app(**settings)`: the test's app on its schema (engine disposed after)."""
    apps = []

    def build(**settings):
        apps.append(make_app(pg_url, instance, **settings))
        return apps[-1]

    yield build
    for app in apps:
        app.extensions["sendwell.engine"].dispose()


@pytest.fixture
def started():
    """Children started by a test; any still running at the end are stopped."""
    children = []
    yield children
    for child in children:
        child.stop()


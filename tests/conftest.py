"""Fixtures: a fresh database per test, on SQLite and (when configured) on PostgreSQL.

`SENDWELL_TEST_DATABASE_URL` points at a PostgreSQL server; each test then gets its own
schema there (dropped afterwards), so tests never see each other's rows.
"""

from __future__ import annotations

import base64
import os
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from core.db import get_session

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample"
CASES = Path(__file__).resolve().parent / "cases"
PG_URL = os.environ.get("SENDWELL_TEST_DATABASE_URL", "")
TEST_MASTER_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()


@contextmanager
def fresh_database(kind: str, folder: Path):
    """A new, empty database URL: a SQLite file in `folder`, or a PostgreSQL schema of
    its own (dropped afterwards); skips the test when PostgreSQL is not configured."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'{uuid.uuid4().hex[:8]}.db'}"
        return
    if not PG_URL:
        pytest.skip("PostgreSQL variant: set SENDWELL_TEST_DATABASE_URL to run it")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def app_config(database_url, tmp_path):
    """Settings for a test app; tests may adjust them before asking for `app`."""
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": database_url,
        "MASTER_KEY": TEST_MASTER_KEY,
        "SECRET_KEY": "test-secret",
        "BASE_URL": "http://localhost:5000",
    }


@pytest.fixture
def app(app_config):
    app = create_app(app_config)
    yield app
    app.extensions["sendwell.engine"].dispose()


@pytest.fixture
def session(app):
    with app.app_context():
        yield get_session()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()

"""Liveness and readiness probes for process managers and load balancers.

`/healthz` answers while the process serves requests; `/readyz` also checks that the
database answers, the schema is at the latest migration and the key ring opens.
"""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from core.crypto import key_ring
from core.db import engine
from core.errors import SendwellError
from core.migrate import alembic_config

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def live():
    return jsonify(status="ok")


@bp.get("/readyz")
def ready():
    checks = {"database": _database_at_head(), "keys": _keys_open()}
    ok = all(value == "ok" for value in checks.values())
    return jsonify(status="ok" if ok else "unavailable", checks=checks), 200 if ok else 503


def _database_at_head() -> str:
    try:
        with engine().connect() as connection:
            current = MigrationContext.configure(connection).get_current_heads()
    except SQLAlchemyError:
        return "unreachable"
    script = ScriptDirectory.from_config(alembic_config(current_app.config["DATABASE_URL"]))
    return "ok" if set(current) == set(script.get_heads()) else "migrations pending"


def _keys_open() -> str:
    try:
        key_ring()
    except SendwellError:
        return "key ring does not open"
    return "ok"


def init_app(app) -> None:
    app.register_blueprint(bp)

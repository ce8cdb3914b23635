"""Alembic environment: the metadata of every package's models; the URL comes from the
caller (`core.migrate`) or `SENDWELL_DATABASE_URL`."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import engine_from_config, pool

import analytics.models  # noqa: F401  (registers tables)
import auth.models  # noqa: F401
import campaigns.models  # noqa: F401
import core.models  # noqa: F401
import patients.models  # noqa: F401
import segments.models  # noqa: F401
from core.db import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or os.environ["SENDWELL_DATABASE_URL"]


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = engine_from_config({"sqlalchemy.url": _url()}, poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

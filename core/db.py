"""Database engine, declarative base, session per app context, and portable column types.

The session's lifecycle belongs to whoever starts a unit of work (a route, a command, a
job): services receive a `Session` and never commit on their own account.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from flask import Flask, current_app, g
from sqlalchemy import BigInteger, DateTime, LargeBinary, MetaData, String, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every engine.

    SQLite has no datetime type; there the value is stored as integer microseconds since
    the epoch, which sorts and compares like the instant and writes no date text into the
    database file (a plaintext date would be indistinguishable from a birth date).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        if dialect.name == "sqlite":
            return (value - EPOCH) // timedelta(microseconds=1)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "sqlite":
            return EPOCH + timedelta(microseconds=value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def new_id() -> str:
    """A random internal id (128 bits, hex): the only id linking tables carry."""
    return uuid.uuid4().hex


def utc_now_plain() -> datetime:
    return datetime.now(UTC)


RowId = Annotated[str, mapped_column(String(32), primary_key=True, default=new_id)]
Ciphertext = Annotated[bytes, mapped_column(LargeBinary)]
BlindIndex = Annotated[str, mapped_column(String(64))]
Instant = Annotated[datetime, mapped_column(UTCDateTime())]


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["sendwell.engine"] = engine
    app.extensions["sendwell.sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    return current_app.extensions["sendwell.engine"]


def new_session() -> Session:
    """A session not tied to the app context (threads, long jobs); the caller closes it."""
    return current_app.extensions["sendwell.sessionmaker"]()


def get_session() -> Session:
    """The session of the current app context, closed when the context ends."""
    if "db_session" not in g:
        g.db_session = new_session()
    return g.db_session


def _close_session(_exc) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()

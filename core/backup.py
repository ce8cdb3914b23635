"""Encrypted, portable backups of every table, and their restore into an empty database.

File layout: `SWBK1\\n`, one JSON header line (format, schema revision, salt, creation
time: nothing about patients), then frames `length (4) | nonce (12) | AES-256-GCM`.
The backup key is HKDF-SHA256 of the master key with the header's random salt; each
frame's associated data binds the header, the frame's number and whether it is the last,
so a reordered, spliced or truncated file fails to open. A frame holds zlib-compressed
JSON: `{"table", "columns", "rows"}`, the last one `{"end": true, "counts": {...}}`.

Stored values go in as they are — ciphertext stays ciphertext, data keys stay wrapped by
the master key — and are written by column type (bytes as base64, instants as ISO 8601),
so a SQLite backup restores into PostgreSQL and back. A backup opens only with the master
key that was current when it was made: escrow every master key as long as its backups.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import zlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import DateTime, Integer, LargeBinary, Table, func, insert, select, text
from sqlalchemy.engine import Connection, Engine

from core.clock import isoz, utcnow
from core.db import Base, UTCDateTime
from core.errors import SendwellError

MAGIC = b"SWBK1\n"
FORMAT = "sendwell-backup/1"
ROWS_PER_FRAME = 2000
LENGTH = struct.Struct(">I")


class BackupError(SendwellError):
    """A backup that cannot be written, opened or restored (never names a value)."""


def backup_key(master: bytes, salt: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt, b"sendwell backup v1").derive(master)


def _frame_aad(header: bytes, number: int, last: bool) -> bytes:
    return header + struct.pack(">Q?", number, last)


# --- values by column type ----------------------------------------------------------------


def encode_value(column, value):
    if value is None:
        return None
    if isinstance(column.type, LargeBinary):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def decode_value(column, value):
    if value is None:
        return None
    if isinstance(column.type, LargeBinary):
        return base64.b64decode(value)
    if isinstance(column.type, UTCDateTime | DateTime):
        return datetime.fromisoformat(value)
    return value


def tables() -> list[Table]:
    """Every table, parents before children (the order rows are written and restored)."""
    return list(Base.metadata.sorted_tables)


def schema_revision(connection: Connection) -> str:
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar() or ""


# --- create ------------------------------------------------------------------------------


def table_frames(connection: Connection) -> Iterator[dict]:
    """Each table's rows in frames of ROWS_PER_FRAME, then the closing frame with counts."""
    counts: dict[str, int] = {}
    for table in tables():
        columns = list(table.columns)
        query = select(table).order_by(*table.primary_key.columns)
        result = connection.execution_options(yield_per=ROWS_PER_FRAME).execute(query)
        counts[table.name] = 0
        for chunk in result.partitions():
            rows = [[encode_value(c, v) for c, v in zip(columns, row, strict=True)]
                    for row in chunk]
            counts[table.name] += len(rows)
            yield {"table": table.name, "columns": [c.name for c in columns], "rows": rows}
    yield {"end": True, "counts": counts}


def create_backup(engine: Engine, master: bytes, out: Path) -> dict:
    """Write every table to `out` (created new, mode 0600); the row counts."""
    salt = os.urandom(16)
    tmp = out.with_name(out.name + ".partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh, engine.connect() as connection:
            _snapshot(connection)
            header = _header(connection, salt)
            fh.write(MAGIC + header + b"\n")
            counts = _write_frames(fh, header, AESGCM(backup_key(master, salt)), connection)
            connection.rollback()
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return counts


def _snapshot(connection: Connection) -> None:
    """One consistent view of every table while the backup reads them."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
    else:
        connection.exec_driver_sql("BEGIN")


def _header(connection: Connection, salt: bytes) -> bytes:
    return json.dumps({
        "format": FORMAT, "schema": schema_revision(connection),
        "salt": base64.b64encode(salt).decode(), "created_at": isoz(utcnow()),
    }, sort_keys=True).encode()


def _write_frames(fh, header: bytes, aead: AESGCM, connection: Connection) -> dict:
    counts: dict[str, int] = {}
    for number, frame in enumerate(table_frames(connection)):
        last = bool(frame.get("end"))
        counts = frame["counts"] if last else counts
        body = zlib.compress(json.dumps(frame, separators=(",", ":")).encode())
        nonce = os.urandom(12)
        sealed = aead.encrypt(nonce, body, _frame_aad(header, number, last))
        fh.write(LENGTH.pack(len(sealed)) + nonce + sealed)
    return counts


# --- read --------------------------------------------------------------------------------


def read_header(fh) -> tuple[bytes, dict]:
    if fh.read(len(MAGIC)) != MAGIC:
        raise BackupError("not a Sendwell backup file")
    header = fh.readline().rstrip(b"\n")
    try:
        meta = json.loads(header)
    except ValueError as exc:
        raise BackupError("the backup header is damaged") from exc
    if meta.get("format") != FORMAT:
        raise BackupError("unsupported backup format")
    return header, meta


def read_frames(path: Path, master: bytes) -> Iterator[tuple[dict, dict]]:
    """(header, frame) for each frame in order; fails unless the closing frame is reached."""
    with open(path, "rb") as fh:
        header, meta = read_header(fh)
        aead = AESGCM(backup_key(master, base64.b64decode(meta["salt"])))
        number = 0
        while prefix := fh.read(LENGTH.size):
            frame, last = _open_frame(fh, aead, header, number, LENGTH.unpack(prefix)[0])
            yield meta, frame
            if last:
                return
            number += 1
    raise BackupError("the backup is truncated (its closing frame is missing)")


def _open_frame(fh, aead: AESGCM, header: bytes, number: int, size: int) -> tuple[dict, bool]:
    nonce, sealed = fh.read(12), fh.read(size)
    for last in (False, True):
        try:
            body = aead.decrypt(nonce, sealed, _frame_aad(header, number, last))
        except InvalidTag:
            continue
        return json.loads(zlib.decompress(body)), last
    raise BackupError(
        "the backup does not open: damaged, or made under another master key"
    )


# --- restore -----------------------------------------------------------------------------


def non_empty_tables(connection: Connection) -> list[str]:
    return [t.name for t in tables()
            if connection.execute(select(func.count()).select_from(t)).scalar()]


def restore_backup(engine: Engine, master: bytes, path: Path) -> dict:
    """Insert every row of the backup into this (migrated, empty) database, in one
    transaction; the row counts. Refuses a non-empty database or another schema."""
    by_name = {t.name: t for t in tables()}
    with engine.begin() as connection:
        occupied = non_empty_tables(connection)
        if occupied:
            raise BackupError(
                f"refusing to restore into a database that is not empty "
                f"({len(occupied)} tables have rows, e.g. {occupied[0]}); "
                "restore into a new, empty database"
            )
        counts = _insert_frames(connection, by_name, path, master)
        _reset_sequences(connection)
    return counts


def _insert_frames(connection: Connection, by_name: dict, path: Path, master: bytes) -> dict:
    revision = schema_revision(connection)
    for meta, frame in read_frames(path, master):
        if meta["schema"] != revision:
            raise BackupError(f"the backup is of schema {meta['schema']!r}, "
                              f"this database is at {revision!r}")
        if frame.get("end"):
            return frame["counts"]
        table = by_name.get(frame["table"])
        if table is None:
            raise BackupError(f"the backup holds an unknown table {frame['table']!r}")
        columns = [table.c[name] for name in frame["columns"]]
        rows = [{c.name: decode_value(c, v) for c, v in zip(columns, row, strict=True)}
                for row in frame["rows"]]
        connection.execute(insert(table), rows)
    raise BackupError("the backup is truncated (its closing frame is missing)")


def _reset_sequences(connection: Connection) -> None:
    """PostgreSQL serial columns continue after the restored ids."""
    if connection.dialect.name != "postgresql":
        return
    for table in tables():
        for column in table.primary_key.columns:
            if isinstance(column.type, Integer) and column.autoincrement in (True, "auto"):
                connection.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                    f"COALESCE(MAX({column.name}), 1), MAX({column.name}) IS NOT NULL) "
                    f'FROM "{table.name}"'
                ))

